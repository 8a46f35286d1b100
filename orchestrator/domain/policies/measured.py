"""The measured policies: what the stack cannot show, measured just before the preview.

target-group-healthy (HTTP health of the groups being activated), single-primary and
replica-caught-up (database pairs). A missing measurement is a violation, never a pass.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from orchestrator.domain.names import normalise_name
from orchestrator.domain.policies.view import (
    HOW_TO_MEASURE,
    DatabaseCluster,
    Finding,
    StackView,
    active_after,
    listed,
    registry,
)


def missing_measurement(what: str) -> list[Finding]:
    return [Finding(f"no {what}: a missing measurement is a violation, never a pass; " + HOW_TO_MEASURE)]


def _measured_at(text: Any) -> datetime | None:
    try:
        moment = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _check_ok(check: Mapping[str, Any]) -> bool:
    status = check.get("status")
    return isinstance(status, int | float) and 200 <= int(status) < 300


def target_group_healthy(
    view: StackView, config: Mapping[str, Any], now: datetime | None = None
) -> list[Finding]:
    """The group being activated has at least N healthy endpoints, as measured just before."""
    after = active_after(view.records)
    before = config.get("activeBefore")
    activating = sorted(after - {str(g) for g in before}) if before is not None else sorted(after)
    if not activating:
        return []
    why_all = (
        ""
        if before is not None
        else " (the active groups before the update were not given, so every active group counts)"
    )
    measurement = config.get("measurement")
    if not isinstance(measurement, Mapping):
        return missing_measurement(f"health measurement of {', '.join(activating)}{why_all}")
    out: list[Finding] = []
    measured_at = _measured_at(measurement.get("measuredAt"))
    max_age = float(config.get("maxMeasurementAgeSeconds", 300))
    now = now or datetime.now(UTC)
    if measured_at is None:
        return [
            Finding(
                f"the health measurement has no readable time (measuredAt={measurement.get('measuredAt')!r})"
            )
        ]
    if (now - measured_at).total_seconds() > max_age:
        return [
            Finding(
                f"the health measurement is from {measured_at.isoformat()}, older than {max_age:g}s: "
                "measure again just before the preview"
            )
        ]
    need = int(config.get("minHealthyEndpoints", 1))
    published: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for e in registry(view.records)[0]:
        if e.group:
            published[e.group][e.host].update(e.targets)
    groups = measurement.get("groups") or {}
    for group in activating:
        measured = groups.get(group)
        if not isinstance(measured, Mapping):
            out.append(Finding(f"group {group} is being activated but was not measured{why_all}"))
            continue
        checks = {
            (normalise_name(str(c.get("hostname", ""))), str(c.get("target", ""))): c
            for c in measured.get("checks") or []
            if isinstance(c, Mapping)
        }
        healthy, sick = [], []
        for host, targets in sorted(published.get(group, {}).items()):
            problems = []
            for target in sorted(targets):
                check = checks.get((host, target))
                if check is None:
                    problems.append(f"{target} not measured (no health URL)")
                elif not _check_ok(check):
                    status = check.get("status")
                    if isinstance(status, float) and status.is_integer():
                        status = int(status)  # JSON numbers arrive as floats
                    answer = check.get("error") or f"answered {status}"
                    problems.append(f"{target} {check.get('url', '')} {answer}".replace("  ", " "))
            if problems:
                sick.append(f"{host}: {', '.join(problems)}")
            else:
                healthy.append(host)
        total = len(published.get(group, {}))
        if len(healthy) < need:
            detail = f": {listed(sick, 5)}" if sick else ""
            out.append(
                Finding(
                    f"group {group} is being activated with {len(healthy)} healthy endpoint(s) of {total}; "
                    f"at least {need} required{detail}"
                )
            )
    return out


def single_primary(view: StackView, config: Mapping[str, Any]) -> list[Finding]:
    """Each database pair has exactly one primary after the update, in an active group."""
    if not view.databases:
        return []
    active = active_after(view.records)
    pairs: dict[str, list[DatabaseCluster]] = defaultdict(list)
    for db in view.databases:
        pairs[db.pair].append(db)
    out = []
    for pair, clusters in sorted(pairs.items()):
        primaries = [c for c in clusters if c.primary]
        if len(primaries) != 1:
            where = ", ".join(sorted(c.group for c in primaries)) or "none"
            out.append(
                Finding(
                    f"database pair {pair} would have {len(primaries)} primaries (groups: {where}); "
                    "exactly one is required"
                )
            )
        elif primaries[0].group not in active:
            out.append(
                Finding(
                    f"database pair {pair}: its primary would be in group {primaries[0].group}, which is not "
                    f"active ({', '.join(sorted(active)) or 'no group'}): writes would go where no "
                    "traffic is",
                    primaries[0].urn,
                )
            )
    return out


def replica_caught_up(
    view: StackView, config: Mapping[str, Any], now: datetime | None = None
) -> list[Finding]:
    """A standby becomes the primary only when it has what the old primary committed (lag below
    the thresholds, WAL receiver streaming), as measured just before the preview."""
    if str(config.get("mode", "planned")) == "failover":
        return []  # the operator accepted the loss of what was not shipped; the dry-run warns
    promoted = sorted((db for db in view.databases if db.primary), key=lambda d: d.pair)
    if not promoted:
        return []
    replication = config.get("replication")
    if not isinstance(replication, Mapping):
        return missing_measurement(
            f"replication measurement of database pair(s) {', '.join(d.pair for d in promoted)}"
        )
    measured_at = _measured_at(replication.get("measuredAt"))
    max_age = float(config.get("maxMeasurementAgeSeconds", 300))
    if measured_at is None or ((now or datetime.now(UTC)) - measured_at).total_seconds() > max_age:
        return [Finding(f"the replication measurement is missing its time or older than {max_age:g}s")]
    max_bytes = int(config.get("maxLagBytes", 16 * 1024 * 1024))
    max_seconds = float(config.get("maxLagSeconds", 30))
    pairs = replication.get("pairs") or {}
    out: list[Finding] = []
    for db in promoted:
        reading = pairs.get(db.pair)
        if not isinstance(reading, Mapping):
            out.append(Finding(f"database pair {db.pair} was not measured", db.urn))
            continue
        live = [str(g) for g in reading.get("primaries") or []]
        if live == [db.group]:
            continue  # the primary stays where it is
        c = (reading.get("clusters") or {}).get(db.group) or {}
        where = f"database pair {db.pair}: the standby in {db.group}"
        if c.get("role") == "unmeasured":
            out.append(Finding(f"{where} cannot be measured from here ({c.get('error')})", db.urn))
        elif c.get("role") == "fenced":
            out.append(Finding(f"{where} is fenced by an earlier failover; rebuild it as a standby", db.urn))
        elif not c.get("reachable"):
            out.append(Finding(f"{where} does not answer ({c.get('error')})", db.urn))
        elif not live:
            out.append(
                Finding(
                    f"database pair {db.pair} has no live primary: a controlled switchover needs the old "
                    "primary to hand over its final position; if it is lost, use --failover",
                    db.urn,
                )
            )
        elif not c.get("receiver_up"):
            out.append(
                Finding(
                    f"{where} has its WAL receiver down: its lag cannot be known (it reads 0 when the "
                    "receiver is down)",
                    db.urn,
                )
            )
        elif c.get("lag_bytes") is None:
            out.append(Finding(f"{where}: replication lag unknown", db.urn))
        elif int(c["lag_bytes"]) > max_bytes or float(c.get("lag_seconds") or 0) > max_seconds:
            paused = ", replay paused" if c.get("replay_paused") else ""
            out.append(
                Finding(
                    f"{where} lags {int(c['lag_bytes'])} bytes / {float(c.get('lag_seconds') or 0):.1f}s "
                    f"behind {', '.join(live)} (max {max_bytes} bytes, {max_seconds:g}s){paused}",
                    db.urn,
                )
            )
    return out
