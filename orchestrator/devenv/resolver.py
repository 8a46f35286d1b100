"""The local environment as the adapters' `LocalEnvironment` port (ports/local_environment.py).

Registered as the `orchestrator.local_environment` entry point in pyproject.toml.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from orchestrator.adapters.postgres.pg import Endpoint
from orchestrator.devenv import postgres
from orchestrator.devenv.credentials import load_secrets
from orchestrator.devenv.env import DevEnv, default_state_dir
from orchestrator.devenv.leaseservers import LEASE_ZONE
from orchestrator.devenv.pair import LocalPair
from orchestrator.devenv.status import find_server, find_servers


class DevResolver:
    def __init__(self, state_dir: Path | None = None) -> None:
        self.env = DevEnv(state_dir or default_state_dir())
        self.state_dir = self.env.state_dir

    def server(self, role: str) -> Mapping[str, Any] | None:
        found = find_server(self.env.status(), role)
        return found if found and found.get("running") else None

    def servers(self, role: str) -> list[Mapping[str, Any]]:
        return list(find_servers(self.env.status(), role))

    def secrets(self) -> Mapping[str, str]:
        return load_secrets(self.state_dir)

    @property
    def lease_zone(self) -> str:
        return LEASE_ZONE

    def postgres_endpoint(self, group: str) -> Endpoint:
        return self.env.postgres_endpoint(group)

    def postgres_fenced(self, group: str) -> bool:
        return postgres.is_fenced(self.state_dir, group)

    def primary_actuator(self, pair: str) -> LocalPair:
        return LocalPair(pair, self.env)
