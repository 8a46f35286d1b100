"""What the console shows, read from the same sources as the CLI (plain dicts, JSON-ready).

Each part of the overview is read on its own: a DNS server, a database or the lease servers
being down shows as that part's error, and the rest of the page still answers.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from orchestrator.adapters.files.audit import audit_for, parse_ts
from orchestrator.adapters.files.journal import SwitchRecord
from orchestrator.domain.errors import OrchestratorError

log = logging.getLogger(__name__)

# The stack key of the lease settings (docs/lease.md); the switch service reads the same key.
LEASE_KEY = "orchestrator:lease"
PROBE_TIMEOUT = 2.0


def guarded(part: str, read: Callable[[], Any]) -> Any:
    """`read()`, or {"error": what, "why": ..., "fix": ...} when it fails (never a traceback)."""
    try:
        return read()
    except OrchestratorError as err:
        return {"error": err.what, "why": err.why, "fix": err.fix}
    except Exception as exc:  # noqa: BLE001 — one part failing must not take the page down
        log.warning("reading %s failed", part, exc_info=True)
        return {"error": f"reading {part} failed", "why": type(exc).__name__, "fix": "see the server's log"}


def record_summary(record: SwitchRecord) -> dict[str, Any]:
    """A journal record with its durations: steps as recorded, and the recovery time (start to end)."""
    data = record.to_dict()
    data.pop("format", None)
    steps_total = sum(s.duration_s or 0.0 for s in record.steps)
    data["steps_seconds"] = round(steps_total, 3)
    elapsed = None
    if record.status != "running":
        try:
            elapsed = (parse_ts(record.updated_at) - parse_ts(record.created_at)).total_seconds()
        except ValueError:
            elapsed = None
    data["recovery_seconds"] = None if elapsed is None else round(elapsed, 3)
    return data


def group_health(topology: Any, active: tuple[str, ...]) -> list[dict[str, Any]]:
    """One GET per health URL of every group (the same probe the health checks use)."""
    from orchestrator.adapters.probes.http_dns import default_http_get
    from orchestrator.domain.health import health_targets
    from orchestrator.services.health.sampling import measure

    groups = []
    for name in topology.group_names:
        targets = health_targets(topology, (name,))
        found = measure(targets, samples=1, timeout=PROBE_TIMEOUT, get=default_http_get)
        endpoints = [
            {
                "url": t.url,
                "target": t.target,
                "hostnames": list(t.hostnames),
                "healthy": found[t.url].healthy,
                "code": found[t.url].codes[-1] if found[t.url].codes else None,
                "problem": None if found[t.url].healthy else found[t.url].problem(),
            }
            for t in targets
        ]
        healthy = sum(1 for e in endpoints if e["healthy"])
        groups.append(
            {
                "group": name,
                "active": name in active,
                "endpoints": endpoints,
                "healthy": healthy,
                "total": len(endpoints),
            }
        )
    return groups


def databases(topology: Any) -> list[dict[str, Any]]:
    from orchestrator.adapters.postgres.measure import measure

    pairs = tuple(getattr(topology, "databases", None) or ())
    if not pairs:
        return []
    reading = measure(pairs)
    out = []
    for pair in reading.pairs:
        out.append(
            {
                "pair": pair.pair,
                "primaries": list(pair.primaries),
                "clusters": [
                    {
                        "group": c.group,
                        "role": c.role,
                        "lag_bytes": c.lag_bytes,
                        "lag_seconds": c.lag_seconds,
                        "receiver_up": c.receiver_up,
                        "error": c.error,
                    }
                    for c in pair.clusters
                ],
            }
        )
    return out


def lease(root: Path, stack: str) -> dict[str, Any]:
    from orchestrator.adapters.lease.factory import lease_from_config
    from orchestrator.adapters.pulumi.stackconfig import stack_config

    cfg = stack_config(root, stack).get(LEASE_KEY)
    if not isinstance(cfg, dict):
        return {"configured": False}
    record = lease_from_config(cfg).read()
    now = time.time()
    if record is None:
        return {"configured": True, "holder": None, "epoch": None, "expires_at": None, "live": False}
    return {
        "configured": True,
        "holder": record.holder or None,
        "epoch": record.epoch,
        "expires_at": record.expires_at,
        "live": record.is_live(now),
    }


def failover_readiness(root: Path, stack: str) -> list[dict[str, Any]]:
    """Each failover path's last dry-run by `orchestrator watch` (its `failover.readiness-changed`
    events): ready or not, its blockers, and since when. Empty when no watch has checked."""
    from orchestrator.ports.audit import FAILOVER_READINESS

    latest: dict[str, dict[str, Any]] = {}
    for e in audit_for(root).read():
        if e.get("type") == FAILOVER_READINESS and e.get("stack") == stack:
            to = list(e.get("to_groups") or [])
            latest[",".join(to)] = {
                "to_groups": to,
                "ready": bool(e.get("ready")),
                "blockers": list(e.get("blockers") or []),
                "since": e.get("ts"),
            }
    return sorted(latest.values(), key=lambda p: p["to_groups"])


def overview(root: Path, stack: str, journal_list: Callable[[], list[SwitchRecord]]) -> dict[str, Any]:
    from orchestrator.services.deploy import load
    from orchestrator.services.status import status_for_stack

    status = guarded("the live zones", lambda: status_for_stack(root, stack))
    loaded = guarded("the stack", lambda: load(root, stack))
    topology, active = loaded if isinstance(loaded, tuple) else (None, ())
    records = guarded("the journal", journal_list)
    switches = [record_summary(r) for r in records[:10]] if isinstance(records, list) else records
    return {
        "stack": stack,
        "active_groups": list(active),
        "status": status,
        "groups": guarded("group health", lambda: group_health(topology, active)) if topology else loaded,
        "databases": guarded("the database pairs", lambda: databases(topology)) if topology else loaded,
        "lease": guarded("the lease", lambda: lease(root, stack)),
        "switches": switches,
        "failover_readiness": guarded("the audit log", lambda: failover_readiness(root, stack)),
    }


def history(root: Path, stack: str, records: list[SwitchRecord], limit: int) -> list[dict[str, Any]]:
    """`orchestrator history`'s rows, each with its switch's audit events (and the confirmation)."""
    from orchestrator.adapters.state.history import stack_updates
    from orchestrator.services.history import join_history

    # The same updates as `orchestrator history`, with real version numbers.
    rows = join_history(stack_updates(root, stack, limit), records)[:limit]
    events = audit_for(root).read()
    by_switch: dict[str, list[dict[str, Any]]] = {}
    confirmed: dict[str, list[dict[str, Any]]] = {}
    for e in events:
        if e.get("switch_id"):
            by_switch.setdefault(e["switch_id"], []).append(e)
        elif e.get("type") == "switchover.confirmed" and e.get("stack") == stack:
            confirmed.setdefault(str(e.get("fingerprint")), []).append(e)
    out = []
    for row in rows:
        row = {k: (list(v) if isinstance(v, tuple) else v) for k, v in row.items()}
        sid = row.get("switch_id")
        evs = list(by_switch.get(sid, [])) if sid else []
        if sid and evs:
            # The console's confirmation (with the reason) precedes the switch it started.
            first = evs[0]["ts"]
            evs = [e for e in confirmed.get(str(row.get("fingerprint")), []) if e["ts"] <= first][-1:] + evs
        row["events"] = evs
        out.append(row)
    return out
