"""What the local environment serves: zones per server and workload endpoints (pure data)."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from orchestrator.devenv.leaseservers import MAX_LEASE_SERVERS
from orchestrator.domain.errors import UsageError

# Zone providers of the stack topology that the local environment serves, by server role.
PROVIDER_ROLES = {"powerdns": "powerdns", "rfc2136": "bind"}


@dataclass(frozen=True)
class Workload:
    """One HTTP endpoint on a loopback address: GET <path> is its health, GET / says who it is."""

    name: str
    group: str
    address: str
    port: int
    path: str = "/healthz"


@dataclass(frozen=True)
class DevSpec:
    powerdns_zones: list[str] = field(default_factory=list)
    bind_zones: list[str] = field(default_factory=list)
    workloads: list[Workload] = field(default_factory=list)
    # Independent BIND servers of the lease zone (orchestrator.adapters.lease): 3 allow a quorum that
    # survives one server down. 0 starts none.
    lease_servers: int = 3
    # The local PostgreSQL pair: one instance per group, the first one starts as the primary
    # and the others stream from it. Empty: no PostgreSQL.
    postgres_groups: list[str] = field(default_factory=list)
    # The team's shared state database (orchestrator.devenv.statedb): `dev up --state-db`.
    state_db: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DevSpec:
        return cls(
            powerdns_zones=[str(z) for z in data.get("powerdns_zones", [])],
            bind_zones=[str(z) for z in data.get("bind_zones", [])],
            workloads=[Workload(**w) for w in data.get("workloads", [])],
            lease_servers=int(data.get("lease_servers", cls.lease_servers)),
            postgres_groups=[str(g) for g in data.get("postgres_groups", [])],
            state_db=bool(data.get("state_db", False)),
        )

    @property
    def zones(self) -> list[str]:
        return [*self.powerdns_zones, *self.bind_zones]


def workloads_for(groups: Mapping[str, list[str]], port: int, path: str = "/healthz") -> list[Workload]:
    """Workloads named <group>-<n> (n from 1, by address order) for each group's addresses."""
    return [
        Workload(name=f"{group}-{i}", group=group, address=address, port=port, path=path)
        for group, addresses in groups.items()
        for i, address in enumerate(sorted(addresses, key=_address_key), start=1)
    ]


def spec_for_demo() -> DevSpec:
    """The demo topology of stacks/Pulumi.local.yaml."""
    return DevSpec(
        powerdns_zones=["app.example.test"],
        bind_zones=["svc.example.test"],
        workloads=workloads_for(
            {"group-a": ["127.0.10.1", "127.0.10.2"], "group-b": ["127.0.20.1", "127.0.20.2"]}, 18080
        ),
        postgres_groups=["group-a", "group-b"],
    )


def spec_from_topology(topology: Mapping[str, Any]) -> DevSpec:
    """The servers and workloads that a stack topology needs locally.

    Zones whose settings say `server: dev` go to the local PowerDNS (provider powerdns) or
    BIND (provider rfc2136). Every endpoint address with a health port becomes a workload of
    its group (one per address and port).
    """
    by_role: dict[str, list[str]] = {"powerdns": [], "bind": []}
    for zone in topology.get("zones") or []:
        settings = zone.get("settings") or {}
        role = PROVIDER_ROLES.get(str(zone.get("provider")))
        if role and settings.get("server") == "dev":
            by_role[role].append(str(zone["name"]).rstrip("."))
    workloads: list[Workload] = []
    for group, body in (topology.get("groups") or {}).items():
        seen: dict[tuple[str, int], str] = {}
        for endpoint in ((body or {}).get("endpoints") or {}).values():
            health = endpoint.get("health") or {}
            if "port" not in health:
                continue
            for address in endpoint.get("a") or []:
                seen.setdefault((str(address), int(health["port"])), str(health.get("path", "/healthz")))
        ordered = sorted(seen.items(), key=lambda item: (_address_key(item[0][0]), item[0][1]))
        for i, ((address, port), path) in enumerate(ordered, start=1):
            workloads.append(
                Workload(name=f"{group}-{i}", group=str(group), address=address, port=port, path=path)
            )
    return DevSpec(
        powerdns_zones=by_role["powerdns"],
        bind_zones=by_role["bind"],
        workloads=workloads,
        postgres_groups=postgres_groups_of(topology),
    )


def postgres_groups_of(topology: Mapping[str, Any]) -> list[str]:
    """The groups of the database pair served by the local PostgreSQL instances (`server: dev`)."""
    for pair in topology.get("databases") or []:
        clusters = (pair or {}).get("clusters") or {}
        groups = [
            str(g)
            for g, c in clusters.items()
            if (c or {}).get("kind") == "postgres" and c.get("server") == "dev"
        ]
        if groups:
            return groups
    return []


def _address_key(address: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in address.split("."))
    except ValueError:
        return (1 << 16,)


def validate(spec: DevSpec) -> None:
    """Refuse a spec that the local environment cannot serve, before anything starts."""
    seen: set[tuple[str, int]] = set()
    names: set[str] = set()
    for w in spec.workloads:
        _validate_workload(w)
        if (w.address, w.port) in seen or w.name in names:
            raise UsageError(
                f"workload {w.name} at {w.address}:{w.port} is listed twice",
                "each workload needs its own name and address:port",
                "remove the duplicate from the topology",
            )
        seen.add((w.address, w.port))
        names.add(w.name)
    if not 0 <= spec.lease_servers <= MAX_LEASE_SERVERS:
        raise UsageError(
            f"the local environment cannot run {spec.lease_servers} lease servers",
            f"it runs 0 to {MAX_LEASE_SERVERS} (3 for a quorum that survives one server down)",
            "use lease_servers=3 (the default)",
        )
    if len(spec.postgres_groups) == 1 or len(set(spec.postgres_groups)) != len(spec.postgres_groups):
        raise UsageError(
            f"the local PostgreSQL pair needs two or more distinct groups, not {spec.postgres_groups}",
            "one instance per group streams from the primary",
            "list each group once in the database pair's clusters (docs/databases.md)",
        )
    duplicate = {z for z in spec.zones if spec.zones.count(z) > 1}
    if duplicate:
        raise UsageError(
            f"zone {', '.join(sorted(duplicate))} is listed more than once",
            "a zone is served by one local server",
            "give each zone one provider in the topology",
        )


def _validate_workload(w: Workload) -> None:
    try:
        loopback = (
            ipaddress.ip_address(w.address).is_loopback and ipaddress.ip_address(w.address).version == 4
        )
    except ValueError:
        loopback = False
    if not loopback:
        raise UsageError(
            f"workload {w.name} has address {w.address}, which is not an IPv4 loopback address",
            "the local environment serves workloads on 127.0.0.0/8 only (no configuration needed on Linux)",
            "use addresses such as 127.0.10.1 for the local stack",
        )
    if not 0 < w.port < 65536 or not w.path.startswith("/"):
        raise UsageError(
            f"workload {w.name} has port {w.port} and path {w.path!r}",
            "the port must be 1-65535 and the path must start with /",
            "fix the endpoint's health settings in the topology",
        )
