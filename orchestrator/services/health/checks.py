"""The four post-switchover checks, in DESIGN.md's fixed order. Each returns a CheckResult.

I/O (DNS questions, HTTP GETs, the stack history) comes in as functions, so the rules
are unit-tested without servers and the same code runs against the real ones.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from orchestrator.domain.desired import desired_state
from orchestrator.domain.health import (  # noqa: F401 (DEFERRED, REPLICAS_HEALTHY: re-exported)
    AUDIT_POSTED,
    DEFERRED,
    DNS_PROBES,
    FALSE,
    LATENCY_NORMAL,
    REPLICAS_HEALTHY,
    TRUE,
    UNKNOWN,
    CheckResult,
    HealthTarget,
)
from orchestrator.domain.topology import Topology
from orchestrator.ports.probes import DnsQuery, HttpGet
from orchestrator.services.health.config import LatencySettings, Vantage
from orchestrator.services.health.replicas import (  # noqa: F401 (re-exported: the checks in one place)
    REPLICA_POLL_INTERVAL,
    REPLICA_TIMEOUT,
    ReadReplication,
    ReplicaLimits,
    WriteProbe,
    replica_limits,
    replicas_healthy,
)
from orchestrator.services.health.sampling import Measurement, measure
from orchestrator.services.history import parse_update_message

TARGET_TYPES = ("A", "AAAA", "CNAME")
PROBE_PARALLELISM = 16
PROBE_TIMEOUT = 2.0
POLL_INTERVAL = 0.25
SHOWN = 3  # failures named in a summary


def new_groups(from_groups: tuple[str, ...], to_groups: tuple[str, ...]) -> tuple[str, ...]:
    """The groups a switch activated; all of to_groups when none is new (a re-check)."""
    added = tuple(g for g in to_groups if g not in from_groups)
    return added or tuple(to_groups)


# --- replicas-healthy: orchestrator/services/health/replicas.py ------------------------------------

# --- dns-probes -------------------------------------------------------------------------------


@dataclass
class Probe:
    vantage: Vantage
    zone: str
    name: str
    type: str
    want: tuple[str, ...]
    rcode: str = "NOT-ASKED"
    answer: tuple[str, ...] = ()
    attempts: int = 0
    ok: bool = False
    converged_after_s: float | None = None

    def line(self) -> str:
        got = ", ".join(self.answer) or self.rcode
        return (
            f"{self.vantage.name} {self.name} {self.type} -> {got} "
            f"(want one of {', '.join(self.want)}; {self.attempts} attempts)"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "vantage": self.vantage.name,
            "address": self.vantage.address,
            "port": self.vantage.port,
            "recursive": self.vantage.recursive,
            "zone": self.zone,
            "name": self.name,
            "type": self.type,
            "want": list(self.want),
            "rcode": self.rcode,
            "answer": list(self.answer),
            "attempts": self.attempts,
            "ok": self.ok,
            "converged_after_s": self.converged_after_s,
        }


def planned_probes(
    topology: Topology, from_groups: tuple[str, ...], to_groups: tuple[str, ...], vantages: list[Vantage]
) -> list[Probe]:
    """Every hostname × every vantage that covers its zone, wanting a target of the new groups."""
    fresh = new_groups(from_groups, to_groups)
    probes = []
    for rs in desired_state(topology, to_groups).record_sets:
        if rs.type not in TARGET_TYPES:
            continue
        want: set[str] = set()
        for group in topology.groups:
            if group.name in fresh and (ep := group.endpoint(rs.name)) is not None:
                want.update(ep.targets(rs.type))
        want_t = tuple(sorted(want)) or rs.values
        for v in vantages:
            if v.covers(rs.zone):
                probes.append(Probe(v, rs.zone, rs.name, rs.type, want_t))
    return probes


def dns_probes(
    topology: Topology,
    from_groups: tuple[str, ...],
    to_groups: tuple[str, ...],
    vantages: list[Vantage],
    problems: list[str],
    *,
    dns_timeout: float,
    resolver_timeout: float | None = None,
    query: DnsQuery,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> CheckResult:
    """Poll every probe until it answers a new-group target or its vantage's deadline passes.

    Authoritative vantages get `dns_timeout`; caching ones `resolver_timeout`, by default
    the largest TTL of the records plus 5 s (what a cache may legitimately keep serving).
    """
    probes = planned_probes(topology, from_groups, to_groups, vantages)
    fresh = new_groups(from_groups, to_groups)
    uncovered = [p for p in problems]
    if not probes:
        why = "; ".join(uncovered) or "no hostname of the active groups is published"
        return CheckResult(DNS_PROBES, UNKNOWN, f"no probe could be made: {why}", tuple(uncovered))
    max_ttl = max(
        (rs.ttl for rs in desired_state(topology, to_groups).record_sets if rs.type in TARGET_TYPES),
        default=0,
    )
    cache_timeout = resolver_timeout if resolver_timeout is not None else max_ttl + 5.0
    start = clock()

    def deadline(p: Probe) -> float:
        return start + (cache_timeout if p.vantage.recursive else dns_timeout)

    def ask(p: Probe) -> None:
        rcode, values = query(
            p.vantage.address, p.vantage.port, p.name, p.type, p.vantage.recursive, PROBE_TIMEOUT
        )
        p.attempts += 1
        p.rcode, p.answer = rcode, tuple(sorted(values))
        if set(values) & set(p.want):
            p.ok = True
            p.converged_after_s = round(clock() - start, 3)

    with ThreadPoolExecutor(max_workers=PROBE_PARALLELISM) as pool:
        while True:
            pending = [p for p in probes if not p.ok and (p.attempts == 0 or clock() < deadline(p))]
            if not pending:
                break
            list(pool.map(ask, pending))
            if any(not p.ok and clock() < deadline(p) for p in probes):
                sleep(POLL_INTERVAL)
    failed = [p for p in probes if not p.ok]
    data = {"probes": [p.to_dict() for p in probes], "vantages": [v.to_dict() for v in vantages]}
    hosts = len({(p.name, p.type) for p in probes})
    names = len({p.vantage.name for p in probes})
    if failed:
        shown = "; ".join(p.line() for p in failed[:SHOWN])
        more = f" (+{len(failed) - SHOWN} more)" if len(failed) > SHOWN else ""
        return CheckResult(
            DNS_PROBES,
            FALSE,
            f"{len(failed)} of {len(probes)} probes do not answer with a target of "
            f"{', '.join(fresh)}: {shown}{more}",
            tuple(p.line() for p in failed) + tuple(uncovered),
            data,
        )
    if uncovered:
        return CheckResult(
            DNS_PROBES,
            UNKNOWN,
            f"{len(probes)} probes passed but some zones have no vantage: {'; '.join(uncovered)}",
            tuple(uncovered),
            data,
        )
    slowest = max((p.converged_after_s or 0.0) for p in probes)
    return CheckResult(
        DNS_PROBES,
        TRUE,
        f"{len(probes)} probes ({hosts} hostnames × {names} vantages) answer with a target of "
        f"{', '.join(fresh)} (converged within {slowest:.1f}s)",
        (),
        data,
    )


# --- latency-normal ---------------------------------------------------------------------------


def measure_baseline(targets: list[HealthTarget], settings: LatencySettings, get: HttpGet) -> dict[str, Any]:
    """Per URL: the median latency of the 2xx answers before the switch (None: none answered 2xx)."""
    measured = measure(targets, settings.samples, settings.timeout, get)
    return {
        url: {"median_ms": None if m.median_ms is None else round(m.median_ms, 3), "healthy": m.healthy}
        for url, m in measured.items()
    }


def latency_normal(
    targets: list[HealthTarget],
    baseline: dict[str, Any] | None,
    settings: LatencySettings,
    *,
    get: HttpGet,
) -> CheckResult:
    if not targets:
        return CheckResult(
            LATENCY_NORMAL,
            UNKNOWN,
            "the new group's endpoints have no health URL to probe (add `health:` to them in the topology)",
        )
    measured: dict[str, Measurement] = measure(targets, settings.samples, settings.timeout, get)
    failing, slow, lines = [], [], []
    for t in targets:
        m = measured[t.url]
        if not m.healthy:
            failing.append(f"{t.label()} {m.problem()}")
            continue
        med = m.median_ms or 0.0
        base = (baseline or {}).get(t.url, {}).get("median_ms")
        if base is not None:
            limit = max(base * settings.factor, base + settings.slack_ms)
            lines.append(f"{t.url}: {med:.1f} ms (baseline {base:.1f} ms, limit {limit:.1f} ms)")
        else:
            limit = settings.max_ms
            lines.append(f"{t.url}: {med:.1f} ms (no baseline, limit {limit:.1f} ms)")
        if med > limit:
            slow.append(f"{t.label()} median {med:.1f} ms is above {limit:.1f} ms")
    data = {
        "measured": {url: m.to_dict() for url, m in measured.items()},
        "baseline": baseline,
        "settings": {
            "samples": settings.samples,
            "factor": settings.factor,
            "slack_ms": settings.slack_ms,
            "max_ms": settings.max_ms,
        },
    }
    bad = failing + slow
    if bad:
        shown = "; ".join(bad[:SHOWN])
        more = f" (+{len(bad) - SHOWN} more)" if len(bad) > SHOWN else ""
        return CheckResult(LATENCY_NORMAL, FALSE, f"{shown}{more}", tuple(bad), data)
    groups = ", ".join(sorted({t.group for t in targets}))
    if baseline is None:
        return CheckResult(
            LATENCY_NORMAL,
            UNKNOWN,
            f"{len(targets)} health URLs of {groups} answer 2xx, but no baseline was measured before "
            "the switch to compare their latency with",
            tuple(lines),
            data,
        )
    return CheckResult(
        LATENCY_NORMAL,
        TRUE,
        f"{len(targets)} health URLs of {groups} answer 2xx within their baseline "
        f"(×{settings.factor:g} or +{settings.slack_ms:g} ms)",
        tuple(lines),
        data,
    )


# --- audit-posted -----------------------------------------------------------------------------


def audit_posted(
    switch_id: str | None, fingerprint: str | None, history: Callable[[], list[Any]]
) -> CheckResult:
    """The stack history holds a succeeded update whose message names this switch."""

    if not switch_id:
        return CheckResult(
            AUDIT_POSTED, UNKNOWN, "no switch of this stack in the journal to look for in the stack history"
        )
    try:
        updates = history()
    except Exception as exc:  # noqa: BLE001 — an unreadable history is Unknown, not a pass
        return CheckResult(AUDIT_POSTED, UNKNOWN, f"the stack history could not be read: {exc}")
    mine = []
    for u in updates:
        parsed = parse_update_message(getattr(u, "message", None))
        if parsed and parsed[0] == switch_id:
            mine.append((u, parsed[1]))
    succeeded = [(u, fp) for u, fp in mine if getattr(u, "result", None) == "succeeded"]
    data = {
        "updates": [
            {"version": getattr(u, "version", None), "result": getattr(u, "result", None), "fingerprint": fp}
            for u, fp in mine
        ]
    }
    if not succeeded:
        seen = f"{len(mine)} update(s) name it, none succeeded" if mine else "no update names it"
        return CheckResult(
            AUDIT_POSTED,
            FALSE,
            f"the stack history has no succeeded update for switch {switch_id}: {seen} "
            f"(latest {len(updates)} updates read)",
            (),
            data,
        )
    wrong = [fp for _u, fp in succeeded if fingerprint and fp != fingerprint]
    if wrong:
        return CheckResult(
            AUDIT_POSTED,
            FALSE,
            f"switch {switch_id} applied plan {wrong[0]}, but the journal records plan {fingerprint}",
            (),
            data,
        )
    versions = [v for u, _ in succeeded if (v := getattr(u, "version", None))]  # 0: not numbered
    which = f" (v{', v'.join(str(v) for v in versions)})" if versions else ""
    return CheckResult(
        AUDIT_POSTED,
        TRUE,
        f"{len(succeeded)} succeeded stack update(s){which} name switch {switch_id} plan={succeeded[0][1]}",
        (),
        data,
    )
