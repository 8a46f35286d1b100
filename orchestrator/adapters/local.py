"""Finds the local environment that resolves `server: dev` settings (ports/local_environment.py).

The implementation registers itself as the `orchestrator.local_environment` entry point
(pyproject.toml), so that adapters reach it in every process that needs it (the CLI, the
Pulumi program, the provider plugins) without importing it.
"""

from __future__ import annotations

from importlib.metadata import entry_points
from pathlib import Path

from orchestrator.domain.errors import EnvironmentProblem
from orchestrator.ports.local_environment import LocalEnvironment

ENTRY_POINT_GROUP = "orchestrator.local_environment"


def is_dev(settings: object) -> bool:
    """`server: dev` / `servers: dev`: the setting that means "the local environment"."""
    return isinstance(settings, dict) and "dev" in (settings.get("server"), settings.get("servers"))


def local_environment(state_dir: Path | None = None) -> LocalEnvironment:
    found = list(entry_points(group=ENTRY_POINT_GROUP))
    if not found:
        raise EnvironmentProblem(
            "the settings say `server: dev`, and no local environment is installed",
            f"no package provides the '{ENTRY_POINT_GROUP}' entry point",
            "install the orchestrator with `make setup` (it registers orchestrator.devenv), "
            "or give the zone explicit server settings",
        )
    factory = found[0].load()
    env: LocalEnvironment = factory(state_dir)
    return env
