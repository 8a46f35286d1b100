"""Plain Python values <-> the provider SDK's PropertyValue (numbers are floats on the wire)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pulumi.provider.experimental.property_value import Computed, PropertyValue


class Unknown:
    """A value not known yet (a preview): compares equal to nothing but itself."""

    def __repr__(self) -> str:
        return "<unknown>"


UNKNOWN = Unknown()
# Keys the previous version's dynamic providers kept in every resource's state.
DYNAMIC_KEYS = ("__provider",)


def plain(value: PropertyValue) -> Any:
    raw = value.value
    if isinstance(raw, Computed):
        return UNKNOWN
    if isinstance(raw, Mapping):
        return {k: plain(v) for k, v in raw.items()}
    if isinstance(raw, tuple | list):
        return [plain(v) for v in raw]
    return raw


def plain_map(values: Mapping[str, PropertyValue]) -> dict[str, Any]:
    return {k: plain(v) for k, v in values.items() if k not in DYNAMIC_KEYS}


def wire(value: Any) -> PropertyValue:
    if value is UNKNOWN:
        return PropertyValue.computed()
    if value is None or isinstance(value, bool | str):
        return PropertyValue(value)
    if isinstance(value, int | float):
        return PropertyValue(float(value))
    if isinstance(value, Mapping):
        return PropertyValue({str(k): wire(v) for k, v in value.items()})
    if isinstance(value, list | tuple):
        return PropertyValue([wire(v) for v in value])
    raise TypeError(f"cannot send a {type(value).__name__} to the engine")


def wire_map(values: Mapping[str, Any]) -> dict[str, PropertyValue]:
    return {k: wire(v) for k, v in values.items()}
