"""The stack, as the services other than the switch see it: its config, state and history.

orchestrator.adapters.pulumi implements them (the stack's Pulumi.<stack>.yaml, the engine's
`stack export` and update history); the switch has its own, larger port (ports/switch.py).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from orchestrator.domain.errors import EXIT_BLOCKED, OrchestratorError

# (root, stack) -> the stack's config, namespaced keys (`orchestrator:topology`, ...)
StackConfigSource = Callable[[Path, str], Mapping[str, Any]]
# (root, stack) -> the stack's newest update summaries (Pulumi's UpdateSummary objects)
StackHistory = Callable[[Path, str], list[Any]]
# the stack's engine (Parts.stack_engine) -> its state (`pulumi stack export` deployment)
StackState = Callable[[Any], Mapping[str, Any] | None]


# An engine whose preview the policy pack refuses raises this (exit 7), so that callers can report
# the planned changes and the refusal together without knowing the engine.
class PolicyViolations(OrchestratorError):
    """The policy pack refused the preview (mandatory violations); nothing was written.

    Carries the engine events (the violations are among them, see orchestrator.services.policies)
    and the resource changes the preview had planned, so that a report can show both.
    """

    exit_code = EXIT_BLOCKED

    def __init__(self, stack: str, events: list[Any], changes: list[Any]) -> None:
        self.events = events
        self.changes = changes
        mandatory = [
            # The engine's message is the policy's description, a newline, then the violation.
            f"{pe.policy_name}: {' '.join(pe.message.strip().splitlines()[1:]) or pe.message.strip()}"
            for pe in (ev.policy_event for ev in events)
            if pe is not None and pe.enforcement_level in ("mandatory", "remediate")
        ]
        super().__init__(
            f"the policy pack refused the change to stack '{stack}'",
            "; ".join(dict.fromkeys(mandatory)),
            "fix what the policy names; in an emergency override exactly that policy for one run: "
            "--override-policy NAME --reason TEXT (docs/policies.md)",
        )
