"""Running the four checks and turning them into a HealthReport with its condition."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from orchestrator.domain.health import (
    CHECKS,
    UNKNOWN,
    CheckResult,
    Condition,
    HealthReport,
    aggregate,
    health_targets,
)
from orchestrator.domain.timestamps import utc_now
from orchestrator.domain.topology import Topology
from orchestrator.ports.health_store import HealthStore
from orchestrator.ports.probes import DnsQuery, HttpGet
from orchestrator.services.deploy import load
from orchestrator.services.health import checks as C
from orchestrator.services.health.config import HealthConfig, health_config_for
from orchestrator.services.parts import LocalServer, Parts, Vantages, installed


def _http_get(parts: Parts) -> HttpGet:
    return lambda url, timeout: tuple(parts.http_probe(url, timeout))  # type: ignore[return-value]


@dataclass
class Deps:
    """The I/O the checks use; tests replace any of it. What is not given comes from `parts`
    (orchestrator.services.parts: the interfaces' real adapters unless they pass others)."""

    dns_query: DnsQuery | None = None
    http_get: HttpGet | None = None
    history: Callable[[Path, str], list[Any]] | None = None
    local_server: LocalServer | None = None
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    now: Callable[[], str] = field(default=utc_now)
    # replicas-healthy: the live reading of the database pairs and the write probe (None: the
    # parts' database_io, the local dev environment's pair).
    replication: C.ReadReplication | None = None
    write_probe: C.WriteProbe | None = None
    replica_timeout: float = C.REPLICA_TIMEOUT
    store: HealthStore | None = None
    vantages: Vantages | None = None
    parts: Parts | None = None

    def resolved(self) -> Deps:
        """Every port filled in: the given ones, the rest from the parts."""
        parts = self.parts or installed()
        return replace(
            self,
            dns_query=self.dns_query or parts.dns_query,
            http_get=self.http_get or _http_get(parts),
            history=self.history or parts.stack_history,
            local_server=self.local_server or parts.local_server,
            store=self.store or parts.health_store,
            vantages=self.vantages or parts.vantages,
            parts=parts,
        )

    def database_io(self) -> tuple[C.ReadReplication, C.WriteProbe]:
        if self.replication is not None and self.write_probe is not None:
            return self.replication, self.write_probe
        read, probe = (self.parts or installed()).database_io()
        return self.replication or read, self.write_probe or probe


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
    deps = (deps or Deps()).resolved()
    assert deps.store is not None and deps.http_get is not None  # resolved() fills them
    existing = deps.store.load_baseline(root, switch_id)
    if existing is not None:
        return existing
    targets = health_targets(topology, C.new_groups(from_groups, to_groups))
    data = {
        "switch_id": switch_id,
        "measured_at": deps.now(),
        "groups": list(C.new_groups(from_groups, to_groups)),
        "urls": C.measure_baseline(targets, config.latency, deps.http_get),
    }
    deps.store.save_baseline(root, switch_id, data)
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
    deps = (deps or Deps()).resolved()
    store, history, get = deps.store, deps.history, deps.http_get
    assert store and history and get and deps.dns_query and deps.vantages and deps.local_server
    started = deps.now()
    baseline_doc = store.load_baseline(root, switch_id)
    baseline = (baseline_doc or {}).get("urls") if baseline_doc else None
    vantages, problems = deps.vantages(topology, config, deps.local_server)
    fresh = C.new_groups(from_groups, to_groups)

    def replicas() -> CheckResult:
        # Inside the check: an environment that cannot be measured makes it Unknown, not a crash.
        read, probe = deps.database_io() if topology.databases else (None, None)
        return C.replicas_healthy(
            topology,
            tuple(to_groups),
            failover=failover,
            limits=C.replica_limits(root) if topology.databases else None,
            read=read,
            probe=probe,
            timeout=deps.replica_timeout,
            clock=deps.clock,
            sleep=deps.sleep,
        )

    runners: dict[str, Callable[[], CheckResult]] = {
        C.REPLICAS_HEALTHY: replicas,
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
            health_targets(topology, fresh), baseline, config.latency, get=get
        ),
        C.AUDIT_POSTED: lambda: C.audit_posted(switch_id, fingerprint, lambda: history(root, stack)),
    }
    results = tuple(_timed(runners[name], name) for name in CHECKS)
    status, reason, message = aggregate(results)
    finished = deps.now()
    previous = store.load_report(root, stack)
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
        store.save_report(root, report)
    return report


def check_now(root: Path, stack: str, deps: Deps | None = None, *, save: bool = True) -> HealthReport:
    """`orchestrator health`: the checks for the stack's active set, against its last switch.

    The last switch is the newest journal record of the stack that moved to the current
    active set; its baseline and stack update are what latency-normal and audit-posted use.
    Without one, those checks say Unknown.
    """
    deps = (deps or Deps()).resolved()
    assert deps.parts is not None  # resolved() fills it
    topology, active = load(root, stack, deps.parts)
    config = health_config_for(root, stack, deps.parts)
    last = next(
        (r for r in deps.parts.switch_records(root, stack) if sorted(r.to_groups) == sorted(active)),
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
