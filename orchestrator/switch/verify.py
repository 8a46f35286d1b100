"""The `verify` step until the health checks land: every hostname answers at its
authoritative server with at least one target of the new active groups.

Polls with a deadline (servers apply updates immediately; a short grace covers
asynchronous backends). Issue 6 replaces this with the full HealthReport.
"""

from __future__ import annotations

import time

from orchestrator.planning.desired import desired_state
from orchestrator.providers.connections import LOCAL_PROVIDERS, client_for
from orchestrator.topology import Topology

TARGET_TYPES = ("A", "AAAA", "CNAME")


def dns_converged(topology: Topology, groups: tuple[str, ...], *, timeout: float = 15.0) -> list[str]:
    """Problems left after `timeout` seconds (empty when every hostname serves the new groups)."""
    want = [rs for rs in desired_state(topology, groups).record_sets if rs.type in TARGET_TYPES]
    zones = {z.name: z for z in topology.zones}
    deadline = time.monotonic() + timeout
    while True:
        problems = []
        for rs in want:
            zone = zones[rs.zone]
            if zone.provider not in LOCAL_PROVIDERS:
                continue
            got = client_for(zone.provider, zone.name, zone.settings).get_rrset(rs.zone, rs.name, rs.type)
            served = set(got[1]) if got else set()
            if not served & set(rs.values):
                problems.append(
                    f"{rs.name} {rs.type} serves {sorted(served) or 'nothing'}, want one of {list(rs.values)}"
                )
        if not problems or time.monotonic() > deadline:
            return problems
        time.sleep(0.2)
