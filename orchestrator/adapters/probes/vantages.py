"""Where dns-probes ask: the default vantages of a topology, or the configured ones.

Local defaults (zones with `server: dev`): each authoritative server of the local
environment for the zones it serves (PowerDNS, BIND), asked without recursion, and
its Unbound for every local zone, asked with recursion (the cached view a client has).

Production defaults (docs/health.md): for each zone, its authoritative servers —
`settings.address` of an rfc2136 zone, the host of a PowerDNS zone's `apiUrl` (port
`settings.dnsPort`, default 53), and for cloud zones every name server of the zone's NS
set, looked up through the host's resolver — plus the host's own recursive resolvers
from /etc/resolv.conf. A zone no vantage covers makes dns-probes Unknown, never True.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import dns.resolver

from orchestrator.adapters.dns.registry import LOCAL, zone_dns_server
from orchestrator.adapters.local import local_environment
from orchestrator.domain.health_config import HealthConfig, Vantage
from orchestrator.domain.topology import Topology

RESOLV_CONF = Path("/etc/resolv.conf")


LocalServer = Callable[[str], Mapping[str, Any] | None]


def local_server(role: str) -> Mapping[str, Any] | None:
    """The local environment's running server of a role (ports/local_environment.py)."""
    return local_environment().server(role)


def local_vantages(topology: Topology, server: LocalServer) -> list[Vantage]:
    """The local environment's servers for the topology's `server: dev` zones."""
    dev = [z for z in topology.zones if (z.settings or {}).get("server") == "dev"]
    out: list[Vantage] = []
    for provider, local in LOCAL.items():
        role = local.dev_role
        zones = tuple(z.name for z in dev if z.provider == provider)
        found = server(role)
        if zones and found and found.get("running"):
            out.append(Vantage(role, found["address"], int(found["port"]), False, zones))
    resolver = server("unbound")
    if dev and resolver and resolver.get("running"):
        out.append(
            Vantage("unbound", resolver["address"], int(resolver["port"]), True, tuple(z.name for z in dev))
        )
    return out


def system_resolvers(path: Path = RESOLV_CONF) -> list[str]:
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return []
    out = []
    for line in lines:
        parts = line.split("#", 1)[0].split()
        if len(parts) >= 2 and parts[0] == "nameserver":
            out.append(parts[1])
    return out


def discover_name_servers(zone: str, timeout: float = 3.0) -> list[tuple[str, str]]:
    """(ns name, address) for each name server of the zone, through the host's resolver."""

    resolver = dns.resolver.Resolver()
    resolver.lifetime = timeout
    out = []
    for ns in resolver.resolve(zone, "NS"):
        name = str(ns.target).rstrip(".")
        for addr in resolver.resolve(name, "A"):
            out.append((name, addr.address))
    return out


def production_vantages(
    topology: Topology,
    *,
    resolvers: list[str] | None = None,
    discover: Callable[[str], list[tuple[str, str]]] = discover_name_servers,
) -> tuple[list[Vantage], list[str]]:
    """Vantages for zones outside the local environment, and a problem per zone left uncovered."""
    zones = [z for z in topology.zones if (z.settings or {}).get("server") != "dev"]
    out: list[Vantage] = []
    problems: list[str] = []
    for zone in zones:
        if (where := zone_dns_server(zone)) is not None:
            out.append(Vantage(f"{zone.provider}:{zone.name}", where[0], where[1], False, (zone.name,)))
            continue
        try:
            servers = discover(zone.name)
        except Exception as exc:  # noqa: BLE001 — any resolver failure leaves the zone uncovered
            problems.append(f"zone {zone.name}: its name servers could not be looked up ({exc})")
            continue
        if not servers:
            problems.append(f"zone {zone.name}: the NS lookup returned no name server")
        for name, address in servers:
            out.append(Vantage(f"ns:{name}", address, 53, False, (zone.name,)))
    if zones:
        names = tuple(z.name for z in zones)
        for address in resolvers if resolvers is not None else system_resolvers():
            out.append(Vantage(f"resolver:{address}", address, 53, True, names))
    return out, problems


def vantages_for(
    topology: Topology,
    config: HealthConfig,
    *,
    server: LocalServer = local_server,
) -> tuple[list[Vantage], list[str]]:
    """The configured vantages, else the defaults; plus why a zone has none."""
    if config.vantages is not None:
        vantages = list(config.vantages)
        problems = []
    else:
        vantages, problems = [], []
        if any((z.settings or {}).get("server") == "dev" for z in topology.zones):
            try:
                vantages += local_vantages(topology, server)
            except Exception as exc:  # noqa: BLE001 — reported as a problem, never a pass
                problems.append(f"the local environment's status could not be read ({exc})")
        prod, prod_problems = production_vantages(topology)
        vantages += prod
        problems += prod_problems
    for zone in topology.zones:
        if not any(v.covers(zone.name) for v in vantages) and not any(zone.name in p for p in problems):
            problems.append(f"zone {zone.name}: no vantage covers it")
    return vantages, problems


def local_resolver() -> tuple[str, int] | None:
    """The local environment's Unbound, when it runs (the client's cached view)."""
    try:
        server = local_server("unbound")
    except Exception:  # noqa: BLE001 — no local environment is a normal case
        return None
    if server and server.get("running"):
        return str(server["address"]), int(server["port"])
    return None
