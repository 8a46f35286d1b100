"""Plain Python values <-> the provider SDK's PropertyValue (numbers are floats on the wire)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from google.protobuf import struct_pb2
from pulumi.provider.experimental.property_value import Computed, PropertyValue


class Unknown:
    """A value not known yet (a preview): compares equal to nothing but itself."""

    def __repr__(self) -> str:
        return "<unknown>"


UNKNOWN = Unknown()
# Keys the previous version's dynamic providers kept in every resource's state.
DYNAMIC_KEYS = ("__provider",)
# How the engine marks a secret (an object with this key) and an unknown (this string) on the
# wire (sdk/go/common/resource/plugin/rpc.go).
SIG_KEY = "4dabf18193072939515e22adb298388d"
UNKNOWN_WIRE = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"


class _Special(Exception):
    """A secret, an unknown or a resource reference: the fast path hands over to the SDK's."""


def _from_struct_value(value: Any) -> Any:
    if isinstance(value, struct_pb2.Struct):
        if SIG_KEY in value.fields:
            raise _Special
        return {k: _from_struct_value(v) for k, v in value.items()}
    if isinstance(value, struct_pb2.ListValue):
        return [_from_struct_value(v) for v in value]
    if value == UNKNOWN_WIRE:
        raise _Special
    return value


def struct_plain(struct: struct_pb2.Struct) -> dict[str, Any] | None:
    """The plain values of a wire property map, straight from protobuf; None when it holds
    anything but plain values (then PropertyValue, the SDK's full model, must read it).

    Why: a refresh and a preview of 3,000 record sets make ~12,000 Check/Diff/Read calls, and
    the SDK's PropertyValue round trip was most of the plugin's CPU, on the engine's serial
    step generation path.
    """
    try:
        plain_values = {k: _from_struct_value(v) for k, v in struct.items()}
    except _Special:
        return None
    if any(k in plain_values for k in DYNAMIC_KEYS):
        return None
    return plain_values


def to_struct(values: Mapping[str, Any]) -> struct_pb2.Struct:
    """A wire property map of plain values (numbers become floats, as on the wire)."""
    out = struct_pb2.Struct()
    out.update(values)
    return out


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
