"""The `verify` step: the post-switchover health checks (orchestrator.services.health), and the latency
baseline they compare with, measured before the flip.

Verify waits the configured delay ($ORCHESTRATOR_VERIFY_DELAY, `switch --verify-delay`, or the
stack's `orchestrator:health.verifyDelay`), runs the four checks, keeps the HealthReport
(.orchestrator/health/<stack>.json) and fails the step when LastSwitchoverHealthy is False.
Unknown does not fail the switch (a check that cannot decide is not a failure of the switch)
but is printed as a warning and shown by `status`; it never counts as healthy.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from orchestrator.domain.errors import OrchestratorError
from orchestrator.domain.topology import Topology
from orchestrator.ports.switch import Record
from orchestrator.services.health import (
    FALSE,
    TRUE,
    Deps,
    HealthReport,
    health_config_for,
    measure_baseline,
    run_checks,
    verify_delay,
)

Echo = Callable[[str], None]


class HealthCheckFailed(OrchestratorError):
    """LastSwitchoverHealthy=False after a switch (exit 1; the switch can be resumed or rolled back)."""


def baseline_before_flip(root: Path, stack: str, record: Record, topology: Topology, echo: Echo) -> None:
    """Measure (once per switch) the new groups' health-URL latency while DNS still points elsewhere."""
    try:
        data = measure_baseline(
            root,
            record.id,
            topology,
            tuple(record.from_groups),
            tuple(record.to_groups),
            health_config_for(root, stack),
        )
    except Exception as exc:  # noqa: BLE001 — without a baseline latency-normal says Unknown; the switch goes on
        echo(f"[flip-dns] warning: the latency baseline could not be measured ({exc})")
        return
    known = [u for u, v in (data.get("urls") or {}).items() if v.get("median_ms") is not None]
    echo(
        f"[flip-dns] latency baseline of {len(known)} health URL(s) of {', '.join(data.get('groups') or [])}"
    )


def verify_switch(
    root: Path,
    stack: str,
    record: Record,
    topology: Topology,
    echo: Echo,
    *,
    deps: Deps | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> HealthReport:
    config = health_config_for(root, stack)
    delay = verify_delay(config)
    if delay > 0:
        echo(f"[verify] waiting {delay:g}s before the health checks")
        sleep(delay)
    report = run_checks(
        root,
        stack,
        topology=topology,
        from_groups=tuple(record.from_groups),
        to_groups=tuple(record.to_groups),
        switch_id=record.id,
        fingerprint=record.fingerprint,
        config=config,
        deps=deps,
        failover=getattr(record, "mode", "planned") == "failover",
    )
    for check in report.checks:
        echo(f"[verify]   {check.name:<17} {check.status:<8} {check.summary}")
    echo(f"[verify] {report.condition.line()}")
    if report.condition.status == FALSE:
        raise HealthCheckFailed(
            f"verify: the switch to {', '.join(record.to_groups)} is not healthy",
            report.condition.message,
            "fix what the failing check names, then `orchestrator switch --resume` (re-runs verify), "
            "or return with `orchestrator switch --rollback`; `orchestrator health` re-checks",
        )
    if report.condition.status != TRUE:
        echo("[verify] warning: health is Unknown (not proven healthy); see `orchestrator health`")
    return report
