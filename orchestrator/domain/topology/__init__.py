"""The topology of a stack (zones, groups, endpoints, database pairs) and its validation.

model.py is the data; validation.py builds it from `orchestrator:topology`, collecting every
problem with its exact config key, reason and fix (docs/topology.md documents the rules).
"""

from orchestrator.domain.config_keys import ACTIVE_KEY, TOPOLOGY_KEY
from orchestrator.domain.providers import PROVIDERS
from orchestrator.domain.topology.model import (
    DEFAULT_TTL,
    ENDPOINT_KEYS,
    FORBIDDEN_IN_IDS,
    GROUP_KEYS,
    GROUP_NAME_MAX,
    HEALTH_KEYS,
    HEALTH_SCHEMES,
    MAX_TTL,
    OWNER_MAX,
    TOPOLOGY_KEYS,
    ZONE_KEYS,
    Endpoint,
    Group,
    Health,
    Topology,
    TopologyError,
    Zone,
    zone_for,
)
from orchestrator.domain.topology.validation import (
    check_active_groups,
    group_name_problem,
    load_topology,
    parse_active_groups,
)

__all__ = [
    "ACTIVE_KEY",
    "DEFAULT_TTL",
    "ENDPOINT_KEYS",
    "Endpoint",
    "FORBIDDEN_IN_IDS",
    "GROUP_KEYS",
    "GROUP_NAME_MAX",
    "Group",
    "HEALTH_KEYS",
    "HEALTH_SCHEMES",
    "Health",
    "MAX_TTL",
    "OWNER_MAX",
    "PROVIDERS",
    "TOPOLOGY_KEY",
    "TOPOLOGY_KEYS",
    "Topology",
    "TopologyError",
    "ZONE_KEYS",
    "Zone",
    "check_active_groups",
    "group_name_problem",
    "load_topology",
    "parse_active_groups",
    "zone_for",
]
