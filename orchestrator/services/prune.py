"""`orchestrator prune`: remove what the stack no longer owns from its zones (docs/team.md).

After lost or moved state, a redeploy adopts the record sets the stack wants, but the
registry entries (and record sets) of groups that are no longer active stay behind: no
state names them, so no update ever deletes them. `status` reports them; prune removes
them — Kuadrant's `remove-owner`/`prune-legacy-txt-records` for this tool:

- a stale registry entry: a live registry TXT record of the stack's hostnames that the
  stack does not want (a group that is not active);
- an orphaned record set: a live A/AAAA/CNAME record set of the stack's hostnames that the
  stack wants empty (no active group publishes that hostname).

Record sets the stack wants with other values are not pruned: `up` rewrites them. Removal
runs under the switch lease (a switch in progress owns the zones), checks the lease before
each delete, and audits each removed record set.
"""

from __future__ import annotations

import getpass
import os
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from orchestrator.domain.desired import desired_state
from orchestrator.domain.errors import ConflictError
from orchestrator.domain.records import record_key
from orchestrator.domain.topology import Topology
from orchestrator.services.deploy import load
from orchestrator.services.parts import Parts, installed
from orchestrator.services.status import build_status


class ZoneClient(Protocol):
    def delete_rrset(self, zone: str, name: str, rtype: str) -> None: ...


class Lease(Protocol):
    def acquire(self, holder: str, *args: Any, **kwargs: Any) -> Any: ...

    def check(self, record: Any, *, margin: float = 0.0) -> None: ...

    def release(self, record: Any) -> None: ...


class Audit(Protocol):
    def append(self, event_type: str, *, switch_id: str | None = None, **fields: Any) -> dict[str, Any]: ...


ClientFor = Callable[[str, str, Mapping[str, Any]], ZoneClient]


@dataclass(frozen=True)
class Leftover:
    zone: str
    name: str
    type: str
    values: tuple[str, ...]
    why: str

    @property
    def key(self) -> str:
        return record_key(self.zone, self.name, self.type)


@dataclass
class PrunePlan:
    stack: str
    active_groups: list[str]
    leftovers: list[Leftover] = field(default_factory=list)
    left_to_up: list[str] = field(default_factory=list)  # drift that `up` repairs, not prune

    def to_dict(self) -> dict[str, Any]:
        return {
            "stack": self.stack,
            "active_groups": self.active_groups,
            "leftovers": [{**lo.__dict__, "values": list(lo.values), "key": lo.key} for lo in self.leftovers],
            "left_to_up": self.left_to_up,
        }


def plan_prune(topology: Topology, active: tuple[str, ...], stack: str) -> PrunePlan:
    """What prune would remove, from a fresh read of the live zones (changes nothing)."""
    report = build_status(topology, active, stack)
    wanted = set(desired_state(topology, active).by_key())
    plan = PrunePlan(stack=stack, active_groups=sorted(active))
    for key in report["stale_registry"]:
        if key in wanted:  # wanted with other values: `up` rewrites it
            plan.left_to_up.append(key)
            continue
        zone, name, rtype = key.split("/")
        plan.leftovers.append(Leftover(zone, name, rtype, (), "registry entry of a group that is not active"))
    for row in report["hostnames"]:
        key = record_key(row["zone"], row["name"], row["type"])
        if row["served"] and not row["expected"]:
            plan.leftovers.append(
                Leftover(
                    row["zone"],
                    row["name"],
                    row["type"],
                    tuple(row["served"]),
                    "no active group publishes it",
                )
            )
        elif row["drift"] and row["expected"]:
            plan.left_to_up.append(key)
    return plan


def prune(
    root: Path,
    stack: str,
    *,
    lease: Lease,
    audit: Audit,
    client_for: ClientFor,
    unfinished_switch: str | None,
    echo: Callable[[str], None],
) -> PrunePlan:
    """Plan again under the lease, then delete each leftover (the lease checked before each)."""
    if unfinished_switch:
        raise ConflictError(
            f"switch {unfinished_switch} on stack '{stack}' is unfinished",
            "its cleanup step deletes the old group's records itself; pruning now would race it",
            "finish it first (`orchestrator switch --resume` or `--rollback`), then prune",
        )
    holder = f"{os.environ.get('ORCHESTRATOR_USER') or _login()}@{socket.gethostname()}:{os.getpid()}/prune"
    held = lease.acquire(holder)
    try:
        topology, active = load(root, stack)
        plan = plan_prune(topology, active, stack)
        zones = {z.name: z for z in topology.zones}
        for lo in plan.leftovers:
            lease.check(held)
            zone = zones[lo.zone]
            client_for(zone.provider, zone.name, zone.settings or {}).delete_rrset(lo.zone, lo.name, lo.type)
            audit.append(
                "records.pruned",
                stack=stack,
                zone=lo.zone,
                name=lo.name,
                record_type=lo.type,  # `type` is the envelope's event type
                values=list(lo.values),
                why=lo.why,
                holder=holder,
            )
            echo(f"removed {lo.key} ({lo.why})")
    finally:
        lease.release(held)
    return plan


def _login() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid{os.getuid()}"


def adopted(
    root: Path, stack: str, changes: list[Mapping[str, Any]], parts: Parts | None = None
) -> list[str]:
    """The record sets `up` is about to create that already exist live: `up` adopts them."""
    creates = [c for c in changes if c.get("action") == "CREATE" and c.get("zone")]
    if not creates:
        return []
    topology, _ = load(root, stack)
    # The authoritative servers only (not the status report): a caching resolver asked about
    # the names `up` is about to create would serve their NXDOMAIN after the create.
    live = (parts or installed()).live_zone(topology)
    out = []
    for c in creates:
        key = record_key(c["zone"], str(c.get("name")), str(c.get("type")))
        if found := live.get(key):
            out.append(f"{key} (serves {', '.join(found.values)})")
    return out
