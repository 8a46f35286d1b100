"""Errors that tell a tired operator what broke, why, and what to do next.

Every error the CLI shows is an OrchestratorError: it names the thing, the reason
and the fix, and carries a documented exit code (docs/exit-codes.md).
"""

from __future__ import annotations

# Documented exit codes (docs/exit-codes.md). Keep them stable: scripts depend on them.
EXIT_OK = 0
EXIT_FAILURE = 1  # an unexpected failure; the message says what was running
EXIT_USAGE = 2  # bad input: flags, topology, config (click uses 2 as well)
EXIT_ENVIRONMENT = 3  # something outside the project is missing or down (server, package, engine)
EXIT_AUTH = 4  # a server refused our credentials (API key, TSIG key)
EXIT_CONFLICT = 5  # someone else holds the lease / the stack is locked / the plan changed
EXIT_DRIFT = 6  # `status --check`: the live zones differ from the stack
EXIT_BLOCKED = 7  # the switch is blocked by preflight (blockers, policy violations)


class OrchestratorError(Exception):
    """A failure with a what, a why and a fix, plus an exit code."""

    exit_code = EXIT_FAILURE

    def __init__(self, what: str, why: str = "", fix: str = "", *, exit_code: int | None = None):
        self.what = what
        self.why = why
        self.fix = fix
        if exit_code is not None:
            self.exit_code = exit_code
        super().__init__(self.render())

    def render(self) -> str:
        lines = [f"error: {self.what}"]
        if self.why:
            lines.append(f"  why: {self.why}")
        if self.fix:
            lines.append(f"  fix: {self.fix}")
        return "\n".join(lines)


class UsageError(OrchestratorError):
    exit_code = EXIT_USAGE


class ConfigError(OrchestratorError):
    """Bad topology or stack configuration. `key` is the config path at fault."""

    exit_code = EXIT_USAGE

    def __init__(self, key: str, why: str, fix: str = ""):
        self.key = key
        super().__init__(f"invalid configuration at '{key}'", why, fix)


class EnvironmentProblem(OrchestratorError):
    exit_code = EXIT_ENVIRONMENT


class AuthError(OrchestratorError):
    exit_code = EXIT_AUTH


class ConflictError(OrchestratorError):
    exit_code = EXIT_CONFLICT
