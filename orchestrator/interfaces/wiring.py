"""The composition root: the real adapters behind the ports the services use.

The CLI and the HTTP API build the services' parts here and pass them in
(orchestrator.services.parts). The package also registers `real_parts` as the
`orchestrator.parts` entry point (pyproject.toml), which is how a service that was not
given its parts (the switch's own services, `python -m orchestrator.services.policies`)
finds these without importing this module.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from orchestrator.adapters.dns.livezone import read_live
from orchestrator.adapters.dns.registry import check_zones
from orchestrator.adapters.files.audit import AuditLog, default_audit_log
from orchestrator.adapters.files.health_store import FileHealthStore
from orchestrator.adapters.files.journal import Journal
from orchestrator.adapters.files.paths import project_root, state_dir
from orchestrator.adapters.postgres.measure import local_database_io
from orchestrator.adapters.postgres.measure import measure as measure_replication
from orchestrator.adapters.probes.http import http_probe
from orchestrator.adapters.probes.http_dns import default_dns_query
from orchestrator.adapters.probes.vantages import local_resolver, local_server, vantages_for
from orchestrator.adapters.pulumi.stack import ProjectStack
from orchestrator.adapters.pulumi.stackconfig import stack_config
from orchestrator.adapters.pulumi.state import export_deployment, update_history
from orchestrator.domain.health_config import HealthConfig
from orchestrator.domain.topology import Topology
from orchestrator.services.parts import LocalServer, Parts, install


def _journal(root: Path) -> Journal:
    return Journal(state_dir(root) / "journal")


def _vantages(topology: Topology, config: HealthConfig, server: LocalServer) -> Any:
    return vantages_for(topology, config, server=server)


def real_parts() -> Parts:
    """The adapters of a real run: Pulumi, the DNS servers, PostgreSQL, files under .orchestrator/."""
    return Parts(
        project_root=project_root,
        state_dir=state_dir,
        stack_config=stack_config,
        stack_state=export_deployment,
        stack_history=update_history,
        stack_engine=ProjectStack,
        check_zones=check_zones,
        live_zone=read_live,
        resolver=local_resolver,
        dns_query=default_dns_query,
        http_probe=http_probe,
        replication=measure_replication,
        database_io=local_database_io,
        health_store=FileHealthStore(),
        local_server=local_server,
        vantages=_vantages,
        audit_log=lambda root: AuditLog(default_audit_log(root)),
        audit_path=default_audit_log,
        switch_records=lambda root, stack: _journal(root).list(stack),
        switch_record=lambda root, switch_id: _journal(root).load(switch_id),
        unfinished_switch=lambda root, stack: _journal(root).unfinished(stack),
    )


def install_real_parts() -> Parts:
    """Build the real parts once and make them the services' default (the CLI's first act)."""
    parts = real_parts()
    install(parts)
    return parts
