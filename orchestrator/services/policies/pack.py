"""Where the policy pack lives and its thresholds (policy/config.json), for the policy run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orchestrator
from orchestrator.domain.errors import EnvironmentProblem
from orchestrator.domain.policies import (
    AT_LEAST_ONE_ACTIVE_GROUP,
    BASELINE_POLICIES,
    BLAST_RADIUS,
    NO_EMPTY_HOSTNAME,
    POLICY_NAMES,
    REGISTRY_CONSISTENT,
    REPLICA_CAUGHT_UP,
    SINGLE_PRIMARY,
    TARGET_GROUP_HEALTHY,
    TTL_CEILING,
    thresholds_from_json,
)

__all__ = [
    "AT_LEAST_ONE_ACTIVE_GROUP",
    "BASELINE_POLICIES",
    "BLAST_RADIUS",
    "NO_EMPTY_HOSTNAME",
    "POLICY_NAMES",
    "REGISTRY_CONSISTENT",
    "REPLICA_CAUGHT_UP",
    "SINGLE_PRIMARY",
    "TARGET_GROUP_HEALTHY",
    "TTL_CEILING",
    "pack_dir",
    "thresholds",
]

PACK_DIR_NAME = "policy"
CONFIG_NAME = "config.json"


def pack_dir(root: Path) -> Path:
    """The project's policy/ (the repository's, when a copy of the project has none)."""
    candidates = [root / PACK_DIR_NAME, Path(orchestrator.__file__).resolve().parents[1] / PACK_DIR_NAME]
    for candidate in candidates:
        if (candidate / "PulumiPolicy.yaml").exists():
            return candidate
    raise EnvironmentProblem(
        "the policy pack is missing",
        f"none of {', '.join(str(c) for c in candidates)} has a PulumiPolicy.yaml; every preview and "
        "switch runs the pack, and without it nothing is checked",
        "restore policy/ from the repository (`git checkout -- policy`)",
    )


def thresholds(pack: Path) -> dict[str, dict[str, Any]]:
    """policy/config.json: per policy, its enforcement level and thresholds."""
    path = pack / CONFIG_NAME
    try:
        return thresholds_from_json(path.read_text())
    except (OSError, ValueError) as exc:
        raise EnvironmentProblem(
            f"cannot read the policy thresholds {path}",
            str(exc),
            "restore policy/config.json from the repository, or fix its JSON",
        ) from exc
