"""The config the pack gets: policy/config.json plus the run's measurements and overrides."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from orchestrator.domain.policies import (
    BASELINE_POLICIES,
    NO_EMPTY_HOSTNAME,
    POLICY_NAMES,
    REPLICA_CAUGHT_UP,
    TARGET_GROUP_HEALTHY,
)
from orchestrator.domain.replication import Replication
from orchestrator.services.policies.baseline import Baseline
from orchestrator.services.policies.measurement import Measurement
from orchestrator.services.policies.verdict import ADVISORY


def build_config(
    limits: Mapping[str, Mapping[str, Any]],
    *,
    baseline: Baseline | None,
    measurement: Measurement | None,
    topology_hostnames: Iterable[str] | None,
    overrides: Mapping[str, str] | None = None,
    replication: Replication | None = None,
    mode: str = "planned",
) -> dict[str, dict[str, Any]]:
    """policy/config.json plus the run's measurements and overrides (Pulumi's config format)."""
    config: dict[str, dict[str, Any]] = {k: dict(v) for k, v in limits.items()}
    for name in POLICY_NAMES:
        config.setdefault(name, {})
    if baseline is not None:
        before = baseline.before()
        for name in BASELINE_POLICIES:
            config[name]["before"] = before
        config[TARGET_GROUP_HEALTHY]["activeBefore"] = list(baseline.active)
    if topology_hostnames is not None:
        config[NO_EMPTY_HOSTNAME]["topologyHostnames"] = sorted(set(topology_hostnames))
    if measurement is not None:
        config[TARGET_GROUP_HEALTHY]["measurement"] = measurement.to_config()
    if replication is not None:
        config[REPLICA_CAUGHT_UP]["replication"] = replication.to_config()
    config[REPLICA_CAUGHT_UP]["mode"] = mode
    for name in overrides or {}:
        config[name]["enforcementLevel"] = ADVISORY
    return config
