"""Reading what the DNS servers serve now (not what Pulumi state says).

Candidates are every record set the topology could publish (every group's hostnames,
every group's registry names, each zone's active-groups TXT): a stale record left by
any group is found, not only the ones the current plan expects.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from orchestrator.adapters.dns.registry import LOCAL_PROVIDERS, client_for
from orchestrator.domain.desired import candidates
from orchestrator.domain.records import RecordSet
from orchestrator.domain.topology import Topology

READ_PARALLELISM = 8
# What a server serves is the domain's one record-set type (the name reads better here).
LiveRecord = RecordSet


def read_live(topology: Topology) -> dict[str, LiveRecord]:
    """key -> what the zone's authoritative server serves (absent keys are not served)."""
    zones = {z.name: z for z in topology.zones}
    wanted = [rs for rs in candidates(topology) if zones[rs.zone].provider in LOCAL_PROVIDERS]
    clients = {
        z.name: client_for(z.provider, z.name, z.settings)
        for z in zones.values()
        if z.provider in LOCAL_PROVIDERS
    }

    def read(rs: RecordSet) -> LiveRecord | None:
        got = clients[rs.zone].get_rrset(rs.zone, rs.name, rs.type)
        if got is None:
            return None
        ttl, values = got
        return LiveRecord(rs.zone, rs.name, rs.type, ttl, tuple(values))

    with ThreadPoolExecutor(max_workers=READ_PARALLELISM) as pool:
        found = [r for r in pool.map(read, wanted) if r is not None]
    return {r.key: r for r in found}
