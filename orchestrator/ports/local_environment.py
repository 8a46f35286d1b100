"""The local environment, as the adapters see it: where `server: dev` servers run, their secrets.

A zone, lease or database pair whose settings say `server: dev` (or `servers: dev`) is resolved
through this port instead of explicit addresses. The implementation lives in orchestrator.devenv
and is found through the `orchestrator.local_environment` entry point
(orchestrator/adapters/local.py), so no production module imports the local environment.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol


class PostgresPlace(Protocol):
    """Where a PostgreSQL instance listens, with the credentials to reach it."""

    host: str
    port: int
    user: str
    password: str
    dbname: str


class PrimaryActuator(Protocol):
    """Moves the primary of one database pair (demote with a token, promote past it, fence)."""

    def is_primary(self, group: str) -> bool | None: ...

    def demote(self, group: str, new_primary: str) -> str: ...

    def promote(self, group: str, tokens: list[str]) -> None: ...

    def fence(self, group: str, new_primary: str) -> None: ...

    def failover_promote(self, group: str) -> None: ...


class LocalEnvironment(Protocol):
    state_dir: Path

    def server(self, role: str) -> Mapping[str, Any] | None:
        """The running server of a role (powerdns, bind, unbound), or None."""
        ...

    def servers(self, role: str) -> list[Mapping[str, Any]]:
        """Every server of a role (lease), running or not."""
        ...

    def secrets(self) -> Mapping[str, str]:
        """The generated credentials (PowerDNS API key, TSIG key)."""
        ...

    @property
    def lease_zone(self) -> str: ...

    def postgres_endpoint(self, group: str) -> PostgresPlace: ...

    def postgres_fenced(self, group: str) -> bool: ...

    def primary_actuator(self, pair: str) -> PrimaryActuator: ...
