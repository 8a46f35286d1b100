"""The stack's state and update history, read through the engine (the StackState and
StackHistory ports of orchestrator/ports/stack.py)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pulumi import automation as auto

from orchestrator.adapters.pulumi.stack import ProjectStack, translate_failure

HISTORY_PAGE = 20


def export_deployment(project: ProjectStack) -> Mapping[str, Any] | None:
    """`pulumi stack export`: the deployment (resources with their inputs and outputs).

    Takes the caller's ProjectStack: the stack is already selected there, and selecting it
    again would cost another engine run.
    """
    try:
        exported = project.stack().export_stack()
    except auto.errors.CommandError as exc:
        raise translate_failure(exc, project.name) from exc
    return exported.deployment


def update_history(root: Path, stack: str) -> list[Any]:
    """The newest update summaries of the stack (Pulumi's own history)."""
    return ProjectStack(root, stack).history(page_size=HISTORY_PAGE)
