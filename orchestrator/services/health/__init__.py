"""Post-switchover health: four checks, a HealthReport and the LastSwitchoverHealthy condition.

    report = run_checks(root, stack, topology=..., from_groups=..., to_groups=..., ...)
    report.condition.status        # "True" | "False" | "Unknown"
    condition_for(root, stack)     # the last one kept in .orchestrator/health/<stack>.json

See docs/health.md for the checks, the vantages and the configuration.
"""

from pathlib import Path

from orchestrator.domain.health import (
    AUDIT_POSTED,
    CHECKS,
    CONDITION_TYPE,
    DEFERRED,
    DNS_PROBES,
    FALSE,
    LATENCY_NORMAL,
    NO_REPORT,
    REPLICAS_HEALTHY,
    STATUSES,
    TRUE,
    UNKNOWN,
    CheckResult,
    Condition,
    HealthReport,
    aggregate,
)
from orchestrator.services.health.config import (
    HEALTH_KEY,
    VERIFY_DELAY_ENV,
    HealthConfig,
    LatencySettings,
    Vantage,
    health_config_for,
    parse_health_config,
    verify_delay,
)
from orchestrator.services.health.runner import Deps, check_now, measure_baseline, run_checks
from orchestrator.services.parts import Parts, installed


def load_report(root: Path, stack: str, parts: Parts | None = None) -> HealthReport | None:
    """The stack's last kept HealthReport, or None."""
    return (parts or installed()).health_store.load_report(root, stack)


def save_report(root: Path, report: HealthReport, parts: Parts | None = None) -> Path:
    return (parts or installed()).health_store.save_report(root, report)


def condition_for(root: Path, stack: str, parts: Parts | None = None) -> Condition:
    """LastSwitchoverHealthy of the stack: from the last report, Unknown when there is none."""
    return (parts or installed()).health_store.condition_for(root, stack)


__all__ = [
    "AUDIT_POSTED",
    "CHECKS",
    "CONDITION_TYPE",
    "DEFERRED",
    "DNS_PROBES",
    "FALSE",
    "HEALTH_KEY",
    "LATENCY_NORMAL",
    "NO_REPORT",
    "REPLICAS_HEALTHY",
    "STATUSES",
    "TRUE",
    "UNKNOWN",
    "VERIFY_DELAY_ENV",
    "CheckResult",
    "Condition",
    "Deps",
    "HealthConfig",
    "HealthReport",
    "LatencySettings",
    "Vantage",
    "aggregate",
    "check_now",
    "condition_for",
    "health_config_for",
    "load_report",
    "measure_baseline",
    "parse_health_config",
    "run_checks",
    "save_report",
    "verify_delay",
]
