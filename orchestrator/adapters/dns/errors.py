"""Provider failures that name the server, the reason and the fix.

These cross the process boundary between the project's Pulumi provider plugin and the
orchestrator as text, so the message itself carries the what/why/fix.
"""

from __future__ import annotations

from orchestrator.domain.errors import AuthError, EnvironmentProblem, OrchestratorError


class ProviderError(OrchestratorError):
    """A DNS server rejected or failed a change."""


class ServerUnreachable(EnvironmentProblem):
    pass


class CredentialsRejected(AuthError):
    pass
