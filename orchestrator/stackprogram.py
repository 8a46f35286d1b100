"""The Pulumi program's body: topology config -> one resource per record set.

Kept apart from programs/__main__.py so that it can be imported by tests; the program
itself stays a few lines. Nothing here talks to a server: resources do that.
"""

from __future__ import annotations

from typing import Any

import pulumi

from orchestrator.planning.desired import desired_state
from orchestrator.providers.connections import LOCAL_PROVIDERS
from orchestrator.providers.dynamic import DnsRecordSet
from orchestrator.stackconfig import NAMESPACE
from orchestrator.topology import Topology, load_topology, parse_active_groups


def build(topology: Topology, active: tuple[str, ...]) -> dict[str, Any]:
    """Declares the resources; returns them by record-set key."""
    state = desired_state(topology, active)
    zones = {z.name: z for z in topology.zones}
    resources: dict[str, Any] = {}
    for rs in state.all():
        zone = zones[rs.zone]
        if zone.provider in LOCAL_PROVIDERS:
            resources[rs.key] = DnsRecordSet(
                rs.key,
                backend=zone.provider,
                zone=rs.zone,
                name=rs.name,
                type=rs.type,
                ttl=rs.ttl,
                values=list(rs.values),
                settings=dict(zone.settings),
            )
        else:
            from orchestrator.cloud_dns import cloud_record_resources

            for res in cloud_record_resources(zone, rs):
                resources[res._name] = res  # noqa: SLF001 (pulumi keeps the logical name there)
    return resources


def main() -> None:
    config = pulumi.Config(NAMESPACE)
    raw_active = config.get_object("activeGroups")
    topology = load_topology(config.require_object("topology"), active=raw_active)
    active = parse_active_groups(raw_active)
    resources = build(topology, active)
    pulumi.export("activeGroups", list(active))
    pulumi.export("recordSets", sorted(resources))
