"""The status of a local environment: what runs where, as a JSON-able dict without secrets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from orchestrator.devenv import credentials, leaseservers, postgres, powerdns, statedb, workloads
from orchestrator.devenv.ports import LOOPBACK
from orchestrator.devenv.spec import DevSpec

PROCESS_ROLES = ("powerdns", "bind", "unbound", "workloads")


def recorded_roles(record: dict[str, Any] | None) -> list[str]:
    """The process roles of a recorded environment: PROCESS_ROLES plus its `lease-<n>` servers."""
    servers = (record or {}).get("servers", {})
    state_db = [statedb.ROLE] if statedb.ROLE in servers else []
    return [*PROCESS_ROLES, *leaseservers.recorded(servers), *postgres.recorded(servers), *state_db]


def find_server(status: dict[str, Any], role: str) -> dict[str, Any] | None:
    """The first server of that role in a status() dict ("powerdns", "bind", "unbound", "workload",
    "lease")."""
    return next((s for s in status.get("servers", []) if s.get("role") == role), None)


def find_servers(status: dict[str, Any], role: str) -> list[dict[str, Any]]:
    return [s for s in status.get("servers", []) if s.get("role") == role]


def build_status(state_dir: Path, record: dict[str, Any] | None, alive: dict[str, bool]) -> dict[str, Any]:
    """The status of a recorded environment (env.json), given which of its processes are alive."""
    if not record:
        return {"state_dir": str(state_dir), "running": False, "servers": []}
    spec = DevSpec.from_dict(record.get("spec", {}))
    recorded = record.get("servers", {})
    servers: list[dict[str, Any]] = []

    def entry(role: str, info: dict[str, Any], **fields: Any) -> dict[str, Any]:
        return {
            "role": role,
            "address": LOOPBACK,
            "port": info["port"],
            "api_url": None,
            **fields,
            "pid": info.get("pid"),
            "running": alive.get(role, False),
            "log": info.get("log"),
        }

    if pdns := recorded.get("powerdns"):
        servers.append(
            entry(
                "powerdns",
                pdns,
                api_url=f"http://{LOOPBACK}:{pdns['api_port']}",
                server_id=powerdns.SERVER_ID,
                zones=list(spec.powerdns_zones),
            )
        )
    if named := recorded.get("bind"):
        servers.append(
            entry(
                "bind",
                named,
                tsig_key_name=credentials.TSIG_KEY_NAME,
                tsig_algorithm=credentials.TSIG_ALGORITHM,
                zones=list(spec.bind_zones),
            )
        )
    if resolver := recorded.get("unbound"):
        servers.append(entry("unbound", resolver, zones=[*spec.powerdns_zones, *spec.bind_zones]))
    if served := recorded.get("workloads"):
        control = workloads.control_dir(state_dir)
        for w in spec.workloads:
            servers.append(
                {
                    "role": "workload",
                    "name": w.name,
                    "group": w.group,
                    "address": w.address,
                    "port": w.port,
                    "api_url": f"http://{w.address}:{w.port}",
                    "health_url": f"http://{w.address}:{w.port}{w.path}",
                    "healthy": workloads.is_healthy(control, w.name),
                    "pid": served.get("pid"),
                    "running": alive.get("workloads", False),
                    "log": served.get("log"),
                }
            )
    for name in leaseservers.recorded(recorded):
        info = recorded[name]
        servers.append(
            {
                **entry(leaseservers.ROLE, info, name=name, index=leaseservers.index_of(name)),
                "tsig_key_name": credentials.TSIG_KEY_NAME,
                "tsig_algorithm": credentials.TSIG_ALGORITHM,
                "zones": [leaseservers.LEASE_ZONE],
                "running": alive.get(name, False),
            }
        )
    for name in postgres.recorded(recorded):
        group = postgres.group_of(name) or ""
        role = postgres.role_of(state_dir, group)
        servers.append(
            {
                **entry("postgres", recorded[name], name=name, group=group),
                "database_role": role,
                "upstream": postgres.upstream(state_dir, group) if role == "standby" else None,
                "user": postgres.SUPERUSER,
                "running": alive.get(name, False),
            }
        )
    if statedb.ROLE in recorded:
        servers.append(
            {
                **entry(statedb.ROLE, recorded[statedb.ROLE], name=statedb.ROLE),
                "backend_url": statedb.backend_url(recorded[statedb.ROLE]["port"]),
                "pgpass_file": str(statedb.pgpass_file(state_dir)),
                "running": alive.get(statedb.ROLE, False),
            }
        )
    state_db = [statedb.ROLE] if statedb.ROLE in recorded else []
    running = all(role in recorded and alive.get(role, False) for role in PROCESS_ROLES) and all(
        alive.get(name, False)
        for name in [*leaseservers.recorded(recorded), *postgres.recorded(recorded), *state_db]
    )
    return {"state_dir": str(state_dir), "running": running, "servers": servers}
