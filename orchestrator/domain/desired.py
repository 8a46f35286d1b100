"""Topology + active groups -> the record sets that should exist. Pure: no I/O.

The rules (DESIGN.md, "Domain and formats"):
- one record set per (zone, name, type), valued with the union of the targets that the
  ACTIVE groups have for that name; a name that only inactive groups publish is absent;
- one active-groups TXT per zone, `kuadrant-active-groups.<zone>`;
- one registry TXT per (owner, type, host) of an active group, naming that group as the
  owner of exactly those targets; inactive groups own nothing that is published.

TTL of a record set: the smallest TTL that any group (active or not) gives the name. It
does not depend on the active set, so a switch changes values and nothing else, and the
shortest TTL any group asked for is honoured whichever group serves.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from orchestrator.domain.kuadrant import (
    RegistryEntry,
    active_groups_record,
    parse_registry_txt,
    registry_record,
)
from orchestrator.domain.records import RecordSet
from orchestrator.domain.topology import Topology, check_active_groups


@dataclass(frozen=True)
class DesiredState:
    """Everything the stack should publish for one active set; each part sorted by key."""

    active_groups: tuple[str, ...]
    record_sets: tuple[RecordSet, ...]
    active_groups_txt: tuple[RecordSet, ...]
    registry: tuple[RecordSet, ...]

    def all(self) -> tuple[RecordSet, ...]:
        """Every record set, sorted by key (the order resources are declared and diffed in)."""
        return tuple(
            sorted((*self.record_sets, *self.active_groups_txt, *self.registry), key=lambda r: r.key)
        )

    def by_key(self) -> dict[str, RecordSet]:
        return {r.key: r for r in self.all()}

    def registry_entries(self) -> tuple[RegistryEntry, ...]:
        """The registry records read back as a Kuadrant controller would read them."""
        return tuple(parse_registry_txt(r.name, r.values[0]) for r in self.registry)


def desired_state(topology: Topology, active_groups: Iterable[str] | str) -> DesiredState:
    """The desired state for `active_groups` (validated; TopologyError when it cannot be published)."""
    active = check_active_groups(
        topology, list(active_groups) if not isinstance(active_groups, str) else active_groups
    )
    active_set = set(active)

    ttl: dict[tuple[str, str, str], int] = {}
    values: dict[tuple[str, str, str], set[str]] = defaultdict(set)
    for group in topology.groups:
        for ep in group.endpoints:
            for rtype, targets in ep.records():
                k = (ep.zone, ep.hostname, rtype)
                ttl[k] = min(ttl.get(k, ep.ttl), ep.ttl)
                if group.name in active_set:
                    values[k].update(targets)

    record_sets = tuple(
        sorted(
            (
                RecordSet(zone, name, rtype, ttl[(zone, name, rtype)], tuple(vals))
                for (zone, name, rtype), vals in values.items()
            ),
            key=lambda r: r.key,
        )
    )

    registry = []
    for group in topology.groups:
        if group.name not in active_set:
            continue
        for ep in group.endpoints:
            for rtype, targets in ep.records():
                entry = RegistryEntry.build(
                    owner=group.owner, group=group.name, rtype=rtype, host=ep.hostname, targets=targets
                )
                registry.append(registry_record(ep.zone, entry, ttl[(ep.zone, ep.hostname, rtype)]))

    active_txt = tuple(
        sorted(
            (active_groups_record(z.name, active, topology.ttl) for z in topology.zones), key=lambda r: r.key
        )
    )
    return DesiredState(
        active_groups=active,
        record_sets=record_sets,
        active_groups_txt=active_txt,
        registry=tuple(sorted(registry, key=lambda r: r.key)),
    )


def candidates(topology: Topology) -> list[RecordSet]:
    """Every record set any combination of groups could publish (all groups active): what a
    reader of the live zones looks for, so that a stale record left by any group is found."""
    return list(desired_state(topology, topology.group_names).all())
