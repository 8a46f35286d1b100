"""RecordSet: the unit the orchestrator plans, diffs and hands to Pulumi (one resource each)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from orchestrator.domain.names import canonical_value, normalise_name


@dataclass(frozen=True, order=True)
class RecordSet:
    """All records of one (zone, name, type), in canonical form.

    Construction canonicalises (names lower case without trailing dot, type upper case,
    values canonical, sorted and unique), so two record sets that mean the same compare
    equal whether they came from the topology, a live zone, the stack's state or the policy
    pack's view of a preview. TXT values are the exact TXT text without the surrounding DNS
    quoting. `ttl` is None only where the source does not say (a preview's unknown value);
    `urn` is the Pulumi resource it came from, when it came from one (not compared).
    """

    zone: str
    name: str
    type: str
    ttl: int | None
    values: tuple[str, ...]
    urn: str | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        rtype = self.type.upper()
        object.__setattr__(self, "zone", normalise_name(self.zone))
        object.__setattr__(self, "name", normalise_name(self.name))
        object.__setattr__(self, "type", rtype)
        object.__setattr__(self, "ttl", None if self.ttl is None else int(self.ttl))
        object.__setattr__(self, "values", canonical_values(rtype, self.values))

    @property
    def key(self) -> str:
        """`zone/name/type`: stable across runs; the Pulumi resource name of this record set."""
        return record_key(self.zone, self.name, self.type)


def record_key(zone: str, name: str, rtype: str) -> str:
    """The one spelling of a record set's identity (state, plans, policies, live reads)."""
    return f"{zone}/{name}/{rtype.upper()}"


def canonical_values(rtype: str, values: Iterable[str]) -> tuple[str, ...]:
    if isinstance(values, str):  # a lone string would otherwise become its characters
        values = (values,)
    return tuple(sorted({canonical_value(rtype, v) for v in values}))
