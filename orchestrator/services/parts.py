"""The adapters the services use, received through the ports (orchestrator/ports/).

Services never import an adapter: they take a `Parts` (or one of its members) as an argument.
The interfaces build the real one (orchestrator.interfaces.wiring.real_parts) and pass it in;
tests pass fakes. Entry points that predate the wiring and cannot pass it (the switch's own
services, in-process e2e helpers) get the installed one: `installed()` loads the factory that
the package registers as the `orchestrator.parts` entry point (pyproject.toml), the same way
the local environment is found (orchestrator/adapters/local.py), so no service imports it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from orchestrator.domain.errors import EnvironmentProblem
from orchestrator.domain.health_config import HealthConfig, Vantage
from orchestrator.domain.topology import Topology
from orchestrator.ports.audit import AuditSink
from orchestrator.ports.health_store import HealthStore
from orchestrator.ports.live_zone import CachingResolver, LiveZoneReader, ZoneChecker
from orchestrator.ports.probes import DnsQuery, HttpProbe
from orchestrator.ports.replication import ReplicationReader, WriteProbe
from orchestrator.ports.stack import StackConfigSource, StackHistory, StackState

ENTRY_POINT_GROUP = "orchestrator.parts"

LocalServer = Callable[[str], Any]  # role -> the local environment's running server, or None
Vantages = Callable[[Topology, HealthConfig, LocalServer], tuple[list[Vantage], list[str]]]


@dataclass(frozen=True)
class Parts:
    project_root: Callable[[], Path]
    state_dir: Callable[[Path], Path]
    stack_config: StackConfigSource
    stack_state: StackState
    stack_history: StackHistory
    stack_engine: Callable[[Path, str], Any]  # (root, stack) -> the engine that previews and updates
    check_zones: ZoneChecker
    live_zone: LiveZoneReader
    resolver: CachingResolver
    dns_query: DnsQuery
    http_probe: HttpProbe
    replication: ReplicationReader
    database_io: Callable[[], tuple[ReplicationReader, WriteProbe]]  # the local pair's reader and probe
    health_store: HealthStore
    local_server: LocalServer
    vantages: Vantages
    audit_log: Callable[[Path], AuditSink]  # root -> the project's audit log
    audit_path: Callable[[Path], Path]  # root -> the audit log's file (the metrics tail it)
    switch_records: Callable[[Path, str], list[Any]]  # (root, stack) -> journal records, newest first
    switch_record: Callable[[Path, str], Any]  # (root, switch id) -> its journal record
    unfinished_switch: Callable[[Path, str], Any]  # (root, stack) -> its unfinished record, or None


_installed: Parts | None = None


def install(parts: Parts) -> None:
    """Use `parts` wherever a service was not given its own (the CLI does this once)."""
    global _installed
    _installed = parts


def installed() -> Parts:
    """The parts installed by the interfaces, else the package's registered real ones."""
    global _installed
    if _installed is None:
        found = list(entry_points(group=ENTRY_POINT_GROUP))
        if not found:
            raise EnvironmentProblem(
                "the orchestrator's adapters are not registered",
                f"no installed package provides the '{ENTRY_POINT_GROUP}' entry point",
                "install the orchestrator with `make setup` (pip install -e .)",
            )
        factory: Callable[[], Parts] = found[0].load()
        _installed = factory()
    return _installed
