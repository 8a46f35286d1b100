"""Reading what the DNS servers serve now (not what Pulumi state says).

Each local zone is read whole, in one request (a PowerDNS GET of the zone, or one AXFR
signed with the TSIG key): every record set is seen, including ones the topology does not
know, such as another controller's or a removed group's leftover registry entries.
Candidates are every record set the topology could publish (every group's hostnames,
every group's registry names, each zone's active-groups TXT).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from orchestrator.adapters.dns.registry import LOCAL_PROVIDERS, client_for
from orchestrator.domain.desired import desired_state
from orchestrator.domain.kuadrant import (
    ACTIVE_GROUPS_LABEL,
    REGISTRY_PREFIX,
    FormatError,
    RegistryEntry,
    parse_registry_txt,
)
from orchestrator.domain.records import RecordSet
from orchestrator.domain.topology import Topology

READ_PARALLELISM = 8


@dataclass(frozen=True)
class LiveRecord:
    zone: str
    name: str
    type: str
    ttl: int
    values: tuple[str, ...]

    @property
    def key(self) -> str:
        return f"{self.zone}/{self.name}/{self.type}"


def candidates(topology: Topology) -> list[RecordSet]:
    """Every record set any combination of groups could publish (all groups active)."""
    everything = desired_state(topology, topology.group_names)
    return list(everything.all())


def read_live(topology: Topology) -> dict[str, LiveRecord]:
    """key -> what the zone's authoritative server serves (absent keys are not served)."""
    local = [z for z in topology.zones if z.provider in LOCAL_PROVIDERS]
    clients = {z.name: client_for(z.provider, z.name, z.settings) for z in local}

    def read(zone: str) -> list[LiveRecord]:
        content = clients[zone].read_zone(zone)
        return [
            LiveRecord(zone, name, rtype, ttl, tuple(values))
            for (name, rtype), (ttl, values) in content.items()
        ]

    with ThreadPoolExecutor(max_workers=READ_PARALLELISM) as pool:
        found = [r for records in pool.map(read, list(clients)) for r in records]
    return {r.key: r for r in found}


def registry_entries(
    live: Mapping[str, LiveRecord],
) -> Iterator[tuple[LiveRecord, RegistryEntry | FormatError]]:
    """The live registry TXT records (not the active-groups ones), each parsed, or why it is not."""
    for rec in live.values():
        if (
            rec.type != "TXT"
            or not rec.name.startswith(REGISTRY_PREFIX)
            or rec.name.startswith(ACTIVE_GROUPS_LABEL)
        ):
            continue
        try:
            parsed: RegistryEntry | FormatError = parse_registry_txt(
                rec.name, rec.values[0] if rec.values else ""
            )
        except FormatError as exc:
            parsed = exc
        yield rec, parsed
