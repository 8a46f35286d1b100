"""`orchestrator status`: the live zones compared with the stack, drift never hidden.

Per hostname: the targets each authoritative server serves, the group that owns each
target according to the live registry, what the stack wants, and (for the local
environment) what a client behind the caching resolver sees.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from orchestrator.domain.desired import candidates, desired_state
from orchestrator.domain.kuadrant import (
    FormatError,
    active_groups_key,
    read_active_groups,
    registry_entries,
)
from orchestrator.domain.publish import publications
from orchestrator.domain.records import RecordSet
from orchestrator.domain.topology import Topology
from orchestrator.services.deploy import load
from orchestrator.services.parts import Parts, installed

TARGET_TYPES = ("A", "AAAA", "CNAME")
RESOLVER_TIMEOUT = 3.0  # seconds; as `dig` would wait


def build_status(
    topology: Topology,
    active: tuple[str, ...],
    stack: str,
    left_at: Mapping[str, float] | None = None,
    now: float | None = None,
    parts: Parts | None = None,
) -> dict[str, Any]:
    parts = parts or installed()
    live = parts.live_zone(topology)
    desired = desired_state(topology, active).by_key()
    dev_zones = {z.name for z in topology.zones if (z.settings or {}).get("server") == "dev"}
    resolver = parts.resolver()  # the local environment's Unbound, when it runs

    registry_live: dict[str, Any] = {}
    owners: dict[tuple[str, str, str], dict[str, str]] = {}  # (zone, host, type) -> target -> group
    problems: list[str] = []
    for rec, entry in registry_entries(live.values()):
        if isinstance(entry, FormatError):
            problems.append(f"registry record {rec.name} is unreadable: {entry}")
            continue
        registry_live[rec.key] = entry
        for target in entry.targets:
            owners.setdefault((rec.zone, entry.host, entry.type), {})[target] = entry.group or "?"

    hostnames = []
    for rs in candidates(topology):
        if rs.type not in TARGET_TYPES:
            continue
        want = desired.get(rs.key)
        got: RecordSet | None = live.get(rs.key)
        served = list(got.values) if got else []
        expected = list(want.values) if want else []
        row: dict[str, Any] = {
            "zone": rs.zone,
            "name": rs.name,
            "type": rs.type,
            "expected": expected,
            "served": served,
            "owners": {t: owners.get((rs.zone, rs.name, rs.type), {}).get(t) for t in served},
            "resolver": None,
        }
        # Only names the servers publish: asking a resolver for a name that does not exist yet
        # makes it cache the NXDOMAIN (SOA minimum), which clients would then see after a create.
        if resolver and got and rs.zone in dev_zones:
            rcode, values = parts.dns_query(*resolver, rs.name, rs.type, True, RESOLVER_TIMEOUT)
            row["resolver"] = {"rcode": rcode, "values": sorted(values)}
        drift = []
        if sorted(served) != sorted(expected):
            drift.append(f"serves {served or 'nothing'}, the stack wants {expected or 'nothing'}")
        unowned = [t for t, g in row["owners"].items() if g is None]
        if unowned:
            drift.append(f"no registry entry owns {', '.join(unowned)}")
        wrong = [t for t, g in row["owners"].items() if g is not None and g not in active]
        if wrong:
            drift.append(f"registry says {', '.join(wrong)} belong to inactive group(s)")
        row["drift"] = drift
        if want or got:
            hostnames.append(row)

    stale = sorted(k for k in registry_live if k not in desired or live[k].values != desired[k].values)
    zones = []
    for zone in topology.zones:
        key = active_groups_key(zone.name)
        rec = live.get(key)
        try:
            live_groups = list(read_active_groups(rec)) if rec else []
        except FormatError as exc:
            live_groups = []
            problems.append(f"{key}: {exc}")
        zones.append({"zone": zone.name, "provider": zone.provider, "active_groups": live_groups})
        if live_groups != sorted(active):
            problems.append(
                f"zone {zone.name} publishes active groups {live_groups or 'none'}, "
                f"the stack says {sorted(active)}"
            )
    served_groups = {g for h in hostnames for g in h["owners"].values() if g} | {
        g for z in zones for g in z["active_groups"]
    }
    groups = publications(topology, served_groups, left_at or {}, time.time() if now is None else now)
    problems += [f"stale registry entry {k}" for k in stale]
    problems += [f"{h['name']} {h['type']}: {d}" for h in hostnames for d in h["drift"]]
    return {
        "stack": stack,
        "active_groups": sorted(active),
        "zones": zones,
        "hostnames": hostnames,
        "stale_registry": stale,
        "groups": [g.to_dict() for g in groups],
        "problems": problems,
        "in_sync": not problems,
    }


def print_status(report: dict[str, Any], echo: Callable[[str], None]) -> None:
    echo(f"Stack '{report['stack']}': active groups {', '.join(report['active_groups'])}")
    for z in report["zones"]:
        echo(
            f"  zone {z['zone']} ({z['provider']}): "
            f"publishes active groups {', '.join(z['active_groups']) or '-'}"
        )
    rows = report["hostnames"]
    if rows:
        width = max(len(r["name"]) for r in rows)
        echo(f"\n{'HOSTNAME':<{width}} {'TYPE':<5} {'SERVED (owner group)':<44} {'RESOLVER':<24} STATE")
        for r in rows:
            served = ", ".join(f"{t} ({r['owners'].get(t) or '?'})" for t in r["served"]) or "-"
            res = r["resolver"]
            resolved = "-" if res is None else (",".join(res["values"]) or res["rcode"])
            state = "in sync" if not r["drift"] else "DRIFT: " + "; ".join(r["drift"])
            echo(f"{r['name']:<{width}} {r['type']:<5} {served:<44} {resolved:<24} {state}")
    if report["stale_registry"]:
        echo("\nStale registry entries: " + ", ".join(report["stale_registry"]))
    unpublished = [g for g in report.get("groups", []) if not g["published"]]
    if unpublished:
        echo("\nGroups not published:")
        for g in unpublished:
            echo(f"  {g['summary']}")
    echo(
        "\nIn sync with the stack."
        if report["in_sync"]
        else f"\nDRIFT: {len(report['problems'])} problem(s):"
    )
    for p in report["problems"]:
        echo(f"  - {p}")


def status_for_stack(
    root: Path, stack: str, left_at: Mapping[str, float] | None = None, parts: Parts | None = None
) -> dict[str, Any]:
    parts = parts or installed()
    topology, active = load(root, stack, parts)
    report = build_status(topology, active, stack, left_at, parts=parts)
    # The last post-switchover health (orchestrator.services.health): True/False/Unknown and one line.
    report["last_switchover_healthy"] = parts.health_store.condition_for(root, stack).to_dict()
    return report
