"""The Pulumi program's body: topology config -> one resource per record set.

Kept apart from programs/__main__.py so that it can be imported by tests; the program
itself stays a few lines. Nothing here talks to a server: resources do that.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections import deque
from collections.abc import Iterator
from typing import Any

import pulumi

from orchestrator.adapters.dns.registry import LOCAL_PROVIDERS
from orchestrator.adapters.pulumi import sdk_speed
from orchestrator.adapters.pulumi.database import MODE_ENV as DB_MODE_ENV
from orchestrator.adapters.pulumi.database import RESOURCE_PREFIX as DB_PREFIX
from orchestrator.adapters.pulumi.database import resource_name
from orchestrator.adapters.pulumi.provider.resources import Primary, RecordSet
from orchestrator.adapters.pulumi.stackconfig import NAMESPACE
from orchestrator.domain.databases import DatabaseCluster, DatabasePair, primary_group
from orchestrator.domain.desired import desired_state
from orchestrator.domain.topology import Topology, load_topology, parse_active_groups

# How many resources the program declares ahead of the engine's answers. The engine generates
# steps one resource at a time; a few hundred queued keep it busy, and the program (and the
# engine's queue of registrations) no longer hold every resource of the stack at once.
AHEAD = 256


async def build_interleaved(topology: Topology, active: tuple[str, ...]) -> list[str]:
    """Declares the resources, yielding to the event loop after each; their keys.

    Why: a resource's constructor only schedules its registration; the registrations run on
    the event loop, which a synchronous program body holds until it has declared every
    resource (about 3 s at 3,000 record sets). Yielding lets the engine work on the first
    record sets while the program declares the rest. At most AHEAD are declared and not yet
    answered: each answered resource can be freed, as nothing here keeps it.
    """
    keys: list[str] = []
    waiting: deque[pulumi.Output[str]] = deque()
    for key, resource in declare(topology, active):
        keys.append(key)
        waiting.append(resource.urn)
        if len(waiting) >= AHEAD:
            with contextlib.suppress(Exception):  # a failed registration is the SDK's to report
                await waiting.popleft().future()
        await asyncio.sleep(0)
    return keys


def declare(topology: Topology, active: tuple[str, ...]) -> Iterator[tuple[str, Any]]:
    """Declares the resources one at a time, with the key each is known by."""
    state = desired_state(topology, active)
    zones = {z.name: z for z in topology.zones}
    for rs in state.all():
        zone = zones[rs.zone]
        if zone.provider in LOCAL_PROVIDERS:
            yield (
                rs.key,
                RecordSet(
                    rs.key,
                    backend=zone.provider,
                    zone=rs.zone,
                    name=rs.name,
                    type=rs.type,
                    ttl=rs.ttl,
                    values=list(rs.values),
                    settings=dict(zone.settings),
                ),
            )
        else:
            from orchestrator.adapters.pulumi.cloud_dns import cloud_record_resources

            for res in cloud_record_resources(zone, rs):
                yield res._name, res  # noqa: SLF001 (pulumi keeps the logical name there)
    yield from database_resources(topology, active).items()


def database_resources(topology: Topology, active: tuple[str, ...]) -> dict[str, Any]:
    """Each pair's primary flag per cluster. The promoted side's input takes the demoted
    sides' tokens, so Pulumi orders the promotion after the demotions it depends on."""
    out: dict[str, Any] = {}
    k8s_providers: dict[str, Any] = {}  # one per kube context, shared by every CNPG pair
    for pair in topology.databases:
        primary = primary_group(pair, active)
        if primary is None:
            continue  # cannot happen: an active set always covers a pair (validated)
        if pair.clusters[0].kind == "cnpg":
            from orchestrator.adapters.pulumi.cnpg import cnpg_primary_resources

            # Failover (the old side is lost) is known from the switch's environment.
            out.update(
                cnpg_primary_resources(
                    pair, primary, os.environ.get(DB_MODE_ENV, "planned"), providers=k8s_providers
                )
            )
            continue
        out.update(local_pair_resources(pair, primary))
    return out


def local_pair_resources(pair: DatabasePair, primary: str) -> dict[str, Primary]:
    """One Primary per cluster; the primary's takes every other side's token."""

    def side(c: DatabaseCluster, tokens: list[Any], depends_on: list[Any]) -> Primary:
        return Primary(
            resource_name(pair.name, c.group),
            pair=pair.name,
            group=c.group,
            primary=c.group == primary,
            primary_group=primary,
            promotion_tokens=tokens,
            settings={"kind": c.kind, **c.settings},
            opts=pulumi.ResourceOptions(depends_on=depends_on),
        )

    replicas = [side(c, [], []) for c in pair.clusters if c.group != primary]
    promoted = side(pair.cluster(primary), [r.demotionToken for r in replicas], replicas)
    return {r._name: r for r in [*replicas, promoted]}  # noqa: SLF001 (pulumi keeps the logical name there)


def main() -> None:
    sdk_speed.apply()  # before any resource: the SDK's per-resource costs we do without
    config = pulumi.Config(NAMESPACE)
    raw_active = config.get_object("activeGroups")
    topology = load_topology(config.require_object("topology"), active=raw_active)
    active = parse_active_groups(raw_active)

    async def program() -> dict[str, Any]:
        keys = await build_interleaved(topology, active)
        return {
            "activeGroups": list(active),
            "recordSets": sorted(k for k in keys if not k.startswith(DB_PREFIX)),
        }

    pulumi.run(program)
