"""Where the project and its local state live."""

from __future__ import annotations

import os
from pathlib import Path

from orchestrator.domain.errors import UsageError


def project_root(start: Path | None = None) -> Path:
    """The directory holding Pulumi.yaml: $ORCHESTRATOR_ROOT, else found upward from cwd."""
    if env := os.environ.get("ORCHESTRATOR_ROOT"):
        root = Path(env).resolve()
        if not (root / "Pulumi.yaml").exists():
            raise UsageError(
                f"ORCHESTRATOR_ROOT={env} has no Pulumi.yaml",
                "the orchestrator runs from its project directory",
                "unset ORCHESTRATOR_ROOT or point it at the repository root",
            )
        return root
    here = (start or Path.cwd()).resolve()
    for candidate in (here, *here.parents):
        if (candidate / "Pulumi.yaml").exists() and (candidate / "stacks").is_dir():
            return candidate
    raise UsageError(
        f"no orchestrator project found at or above {here}",
        "the orchestrator reads Pulumi.yaml and stacks/ from the repository root",
        "cd into the repository (or set ORCHESTRATOR_ROOT) and run again",
    )


def state_dir(root: Path) -> Path:
    """Local, gitignored state of the orchestrator itself (journals, audit, health)."""
    return root / ".orchestrator"


def stack_config_file(root: Path, stack: str) -> Path:
    return root / "stacks" / f"Pulumi.{stack}.yaml"
