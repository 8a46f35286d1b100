"""The policy pack's logic, pure: the stack view, the checks, and the catalogue of policies.

policy/__main__.py only wires these into a CrossGuard PolicyPack; the orchestrator's policy
run (orchestrator.services.policy) uses the catalogue's names and thresholds reader.
"""

from orchestrator.domain.policies.catalog import (
    BASELINE_POLICIES,
    BLAST_RADIUS,
    POLICIES,
    POLICY_NAMES,
    REGISTRY_CONSISTENT,
    REPLICA_CAUGHT_UP,
    SINGLE_PRIMARY,
    TARGET_GROUP_HEALTHY,
    TTL_CEILING,
    PolicySpec,
    thresholds_from_json,
)
from orchestrator.domain.policies.dns import (
    at_least_one_active_group,
    blast_radius,
    no_empty_hostname,
    registry_consistent,
    ttl_ceiling,
)
from orchestrator.domain.policies.measured import replica_caught_up, single_primary, target_group_healthy
from orchestrator.domain.policies.view import (
    CNPG_CLUSTER_TYPE,
    CNPG_TYPES,
    GROUP_LABEL,
    PAIR_LABEL,
    DatabaseCluster,
    Finding,
    StackView,
    database_of,
    plain,
    record_set,
    view_of,
)
from orchestrator.domain.rules import AT_LEAST_ONE_ACTIVE_GROUP, NO_EMPTY_HOSTNAME

__all__ = [
    "AT_LEAST_ONE_ACTIVE_GROUP",
    "BASELINE_POLICIES",
    "BLAST_RADIUS",
    "CNPG_CLUSTER_TYPE",
    "CNPG_TYPES",
    "GROUP_LABEL",
    "NO_EMPTY_HOSTNAME",
    "PAIR_LABEL",
    "POLICIES",
    "POLICY_NAMES",
    "REGISTRY_CONSISTENT",
    "REPLICA_CAUGHT_UP",
    "SINGLE_PRIMARY",
    "TARGET_GROUP_HEALTHY",
    "TTL_CEILING",
    "DatabaseCluster",
    "Finding",
    "PolicySpec",
    "StackView",
    "at_least_one_active_group",
    "blast_radius",
    "database_of",
    "no_empty_hostname",
    "plain",
    "record_set",
    "registry_consistent",
    "replica_caught_up",
    "single_primary",
    "target_group_healthy",
    "thresholds_from_json",
    "ttl_ceiling",
    "view_of",
]
