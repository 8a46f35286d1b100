"""The policy catalogue: every policy's name, description, check, config schema and default level.

The one list of policy names: the pack (policy/__main__.py) builds its CrossGuard policies
from POLICIES, and the orchestrator validates `--override-policy` against POLICY_NAMES.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from orchestrator.domain.policies.dns import (
    at_least_one_active_group,
    blast_radius,
    no_empty_hostname,
    registry_consistent,
    ttl_ceiling,
)
from orchestrator.domain.policies.measured import replica_caught_up, single_primary, target_group_healthy
from orchestrator.domain.policies.view import Finding, StackView
from orchestrator.domain.rules import AT_LEAST_ONE_ACTIVE_GROUP, NO_EMPTY_HOSTNAME

REGISTRY_CONSISTENT = "registry-consistent"
TARGET_GROUP_HEALTHY = "target-group-healthy"
BLAST_RADIUS = "blast-radius"
SINGLE_PRIMARY = "single-primary"
REPLICA_CAUGHT_UP = "replica-caught-up"
TTL_CEILING = "ttl-ceiling"
# The policies whose config carries the record sets before the update (`before`).
BASELINE_POLICIES = (NO_EMPTY_HOSTNAME, BLAST_RADIUS)


@dataclass(frozen=True)
class PolicySpec:
    name: str
    description: str
    check: Callable[[StackView, Mapping[str, Any]], list[Finding]]
    default_level: str = "mandatory"
    schema: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    remediation: str = ""


BEFORE_SCHEMA = {"type": "array", "description": "record sets in the state before the update"}
POLICIES: tuple[PolicySpec, ...] = (
    PolicySpec(
        AT_LEAST_ONE_ACTIVE_GROUP,
        "The active-groups TXT of every zone lists at least one group.",
        at_least_one_active_group,
        remediation="keep at least one group active (switch to another group instead of removing the last)",
    ),
    PolicySpec(
        NO_EMPTY_HOSTNAME,
        "No published hostname is left with zero targets.",
        no_empty_hostname,
        schema={"before": BEFORE_SCHEMA, "topologyHostnames": {"type": "array"}},
        remediation="let a group that stays or becomes active publish it, or retire it from the topology",
    ),
    PolicySpec(
        REGISTRY_CONSISTENT,
        "Every registry entry's group and targets match the record set it describes.",
        registry_consistent,
        remediation="deploy the stack's own records (`orchestrator up`); never edit registry records by hand",
    ),
    PolicySpec(
        TARGET_GROUP_HEALTHY,
        "The group being activated has at least N healthy endpoints.",
        target_group_healthy,
        schema={
            "minHealthyEndpoints": {"type": "integer", "minimum": 0},
            "maxMeasurementAgeSeconds": {"type": "number", "minimum": 0},
            "activeBefore": {"type": "array"},
            "measurement": {"type": "object"},
        },
        remediation="fix the group's endpoints (their health URLs must answer 2xx), then run again",
    ),
    PolicySpec(
        BLAST_RADIUS,
        "One update changes at most P % of a zone's hostname record sets, beyond moving groups.",
        blast_radius,
        schema={
            "maxChangedPercent": {"type": "number", "minimum": 0, "maximum": 100},
            "alwaysAllowedChanges": {"type": "integer", "minimum": 0},
            "before": BEFORE_SCHEMA,
        },
        remediation="split the change into smaller updates, or override it with a reason (docs/policies.md)",
    ),
    PolicySpec(
        SINGLE_PRIMARY,
        "Each database pair has exactly one primary after the update, in an active group.",
        single_primary,
        remediation="give each pair one primary in an active group (docs/databases.md)",
    ),
    PolicySpec(
        REPLICA_CAUGHT_UP,
        "A standby is promoted only when its replication lag is below the thresholds.",
        replica_caught_up,
        schema={
            "maxLagBytes": {"type": "integer", "minimum": 0},
            "maxLagSeconds": {"type": "number", "minimum": 0},
            "maxMeasurementAgeSeconds": {"type": "number", "minimum": 0},
            "replication": {"type": "object"},
            "mode": {"type": "string"},
        },
        remediation="let the standby catch up (resume replay, fix its WAL receiver), then run again; "
        "if the primary is lost use --failover",
    ),
    PolicySpec(
        TTL_CEILING,
        "Published failover records have a TTL of at most T seconds.",
        ttl_ceiling,
        default_level="advisory",
        schema={"maxTtlSeconds": {"type": "integer", "minimum": 1}},
        remediation="lower `ttl` in the topology (docs/topology.md)",
    ),
)
POLICY_NAMES: tuple[str, ...] = tuple(p.name for p in POLICIES)


def thresholds_from_json(text: str) -> dict[str, dict[str, Any]]:
    """policy/config.json's text: per policy, its enforcement level and thresholds.

    A policy given as a bare string is its enforcement level. Raises ValueError (JSONDecodeError)
    for text that is not JSON; the callers say which file it was.
    """
    doc = json.loads(text)
    return {k: (dict(v) if isinstance(v, dict) else {"enforcementLevel": v}) for k, v in doc.items()}
