"""Post-switchover health: four checks, a HealthReport and the LastSwitchoverHealthy condition.

    report = run_checks(root, stack, topology=..., from_groups=..., to_groups=..., ...)
    report.condition.status        # "True" | "False" | "Unknown"
    condition_for(root, stack)     # the last one kept in .orchestrator/health/<stack>.json

See docs/health.md for the checks, the vantages and the configuration.
"""

from orchestrator.adapters.files.health_store import condition_for, load_report, report_path, save_report
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
    "report_path",
    "run_checks",
    "save_report",
    "verify_delay",
]
