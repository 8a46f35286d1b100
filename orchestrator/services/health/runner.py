"""Running the four checks and turning them into a HealthReport with its condition."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchestrator.adapters.files.audit import utc_now
from orchestrator.adapters.files.health_store import load_baseline, load_report, save_baseline, save_report
from orchestrator.adapters.probes.http_dns import (
    DnsQuery,
    HttpGet,
    default_dns_query,
    default_http_get,
    health_targets,
)
from orchestrator.adapters.probes.vantages import LocalServer, local_server, vantages_for
from orchestrator.domain.health import (
    CHECKS,
    UNKNOWN,
    CheckResult,
    Condition,
    HealthReport,
    aggregate,
)
from orchestrator.domain.topology import Topology
from orchestrator.services.health import checks as C
from orchestrator.services.health.config import HealthConfig


def stack_history(root: Path, stack: str) -> list[Any]:
    from orchestrator.adapters.pulumi.stack import ProjectStack

    return ProjectStack(root, stack).history(page_size=20)


@dataclass
class Deps:
    """The I/O the checks use; tests replace any of it."""

    dns_query: DnsQuery = default_dns_query
    http_get: HttpGet = default_http_get
    history: Callable[[Path, str], list[Any]] = stack_history
    local_server: LocalServer = local_server
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    now: Callable[[], str] = field(default=utc_now)
    # replicas-healthy: the live reading of the database pairs and the write probe (None: the
    # local dev environment's pair, orchestrator.adapters.postgres.measure and pg.accepts_writes).
    replication: C.ReadReplication | None = None
    write_probe: C.WriteProbe | None = None
    replica_timeout: float = C.REPLICA_TIMEOUT


def _timed(fn: Callable[[], CheckResult], name: str) -> CheckResult:
    t0 = time.monotonic()
    try:
        result = fn()
    except Exception as exc:  # noqa: BLE001 — a check that crashes is Unknown, never a pass
        result = CheckResult(name, UNKNOWN, f"the check could not run: {type(exc).__name__}: {exc}")
    took = time.monotonic() - t0
    return CheckResult(result.name, result.status, result.summary, result.details, result.data, took)


def measure_baseline(
    root: Path,
    switch_id: str,
    topology: Topology,
    from_groups: tuple[str, ...],
    to_groups: tuple[str, ...],
    config: HealthConfig,
    deps: Deps | None = None,
) -> dict[str, Any]:
    """Latency of the new groups' health URLs before the switch, kept for its verify step.

    Kept once per switch: a resumed switch reuses the baseline measured before its flip.
    """
    existing = load_baseline(root, switch_id)
    if existing is not None:
        return existing
    deps = deps or Deps()
    targets = health_targets(topology, C.new_groups(from_groups, to_groups))
    data = {
        "switch_id": switch_id,
        "measured_at": deps.now(),
        "groups": list(C.new_groups(from_groups, to_groups)),
        "urls": C.measure_baseline(targets, config.latency, deps.http_get),
    }
    save_baseline(root, switch_id, data)
    return data


def run_checks(
    root: Path,
    stack: str,
    *,
    topology: Topology,
    from_groups: tuple[str, ...],
    to_groups: tuple[str, ...],
    switch_id: str | None,
    fingerprint: str | None,
    config: HealthConfig,
    deps: Deps | None = None,
    save: bool = True,
    failover: bool = False,
) -> HealthReport:
    """The four checks in order; the report is saved as the stack's last one (unless save=False).

    `failover`: the verify step of a failover-mode switch (SwitchRecord.mode == "failover"),
    where replicas-healthy expects the old primary fenced or unreachable.
    """
    deps = deps or Deps()
    started = deps.now()
    baseline_doc = load_baseline(root, switch_id)
    baseline = (baseline_doc or {}).get("urls") if baseline_doc else None
    vantages, problems = vantages_for(topology, config, server=deps.local_server)
    fresh = C.new_groups(from_groups, to_groups)
    runners: dict[str, Callable[[], CheckResult]] = {
        C.REPLICAS_HEALTHY: lambda: C.replicas_healthy(
            topology,
            tuple(to_groups),
            failover=failover,
            limits=C.replica_limits(root) if topology.databases else None,
            read=deps.replication,
            probe=deps.write_probe,
            timeout=deps.replica_timeout,
            clock=deps.clock,
            sleep=deps.sleep,
        ),
        C.DNS_PROBES: lambda: C.dns_probes(
            topology,
            from_groups,
            to_groups,
            vantages,
            problems,
            dns_timeout=config.dns_timeout,
            resolver_timeout=config.resolver_timeout,
            query=deps.dns_query,
            clock=deps.clock,
            sleep=deps.sleep,
        ),
        C.LATENCY_NORMAL: lambda: C.latency_normal(
            health_targets(topology, fresh), baseline, config.latency, get=deps.http_get
        ),
        C.AUDIT_POSTED: lambda: C.audit_posted(switch_id, fingerprint, lambda: deps.history(root, stack)),
    }
    results = tuple(_timed(runners[name], name) for name in CHECKS)
    status, reason, message = aggregate(results)
    finished = deps.now()
    previous = load_report(root, stack)
    transition = finished
    if previous is not None and previous.condition.status == status:
        transition = previous.condition.last_transition_time or finished
    report = HealthReport(
        stack=stack,
        switch_id=switch_id,
        fingerprint=fingerprint,
        from_groups=tuple(from_groups),
        to_groups=tuple(to_groups),
        started_at=started,
        finished_at=finished,
        checks=results,
        condition=Condition(status, reason, message, transition, switch_id, finished),
    )
    if save:
        save_report(root, report)
    return report


def check_now(root: Path, stack: str, deps: Deps | None = None, *, save: bool = True) -> HealthReport:
    """`orchestrator health`: the checks for the stack's active set, against its last switch.

    The last switch is the newest journal record of the stack that moved to the current
    active set; its baseline and stack update are what latency-normal and audit-posted use.
    Without one, those checks say Unknown.
    """
    from orchestrator.adapters.files.journal import Journal
    from orchestrator.adapters.files.paths import state_dir
    from orchestrator.services.deploy import load
    from orchestrator.services.health.config import health_config_for

    topology, active = load(root, stack)
    config = health_config_for(root, stack)
    last = next(
        (
            r
            for r in Journal(state_dir(root) / "journal").list(stack)
            if sorted(r.to_groups) == sorted(active)
        ),
        None,
    )
    return run_checks(
        root,
        stack,
        topology=topology,
        from_groups=tuple(last.from_groups) if last else (),
        to_groups=tuple(active),
        switch_id=last.id if last else None,
        fingerprint=last.fingerprint if last else None,
        config=config,
        deps=deps,
        save=save,
    )
