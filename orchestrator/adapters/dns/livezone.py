"""Reading what the DNS servers serve now (not what Pulumi state says).

Each local zone is read whole, in one request (a PowerDNS GET of the zone, or one AXFR
signed with the TSIG key): every record set is seen, including ones the topology does not
know, such as another controller's or a removed group's leftover registry entries.
Candidates are every record set the topology could publish (every group's hostnames,
every group's registry names, each zone's active-groups TXT).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from orchestrator.adapters.dns.registry import LOCAL_PROVIDERS, client_for
from orchestrator.domain.records import RecordSet
from orchestrator.domain.topology import Topology

READ_PARALLELISM = 8
# What a server serves is the domain's one record-set type (the name reads better here).
LiveRecord = RecordSet


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
