"""The break-glass `--override-policy NAME --reason TEXT`: checked here, audited by the caller."""

from __future__ import annotations

from orchestrator.domain.errors import UsageError
from orchestrator.domain.policies import POLICY_NAMES


def check_override(name: str | None, reason: str | None) -> dict[str, str]:
    """`--override-policy NAME --reason TEXT` as {policy: reason}; empty without an override."""
    if name is None and reason is None:
        return {}
    if name is None:
        raise UsageError(
            "--reason without --override-policy",
            "a reason explains an override; there is nothing to override",
            "add --override-policy NAME, or drop --reason",
        )
    if name not in POLICY_NAMES:
        raise UsageError(
            f"unknown policy '{name}'",
            f"the policy pack has: {', '.join(POLICY_NAMES)}",
            "use one of those names (docs/policies.md)",
        )
    if reason is None or not reason.strip():
        raise UsageError(
            f"--override-policy {name} needs --reason",
            "every override is audited with the policy, the user and the reason",
            f"add --reason 'INC-1234: why {name} may be bypassed now'",
        )
    return {name: reason.strip()}
