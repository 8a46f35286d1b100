"""The provider registry: the one place that maps a zone's `provider:` to its adapter.

Local providers are written by the orchestrator's own provider plugin through a client
(PowerDNS's HTTP API, RFC 2136 UPDATE); cloud providers by their Pulumi packages
(orchestrator/adapters/pulumi/cloud_dns.py). Each local provider also says which local
environment server serves it (`server: dev`) and where a zone's server answers DNS
questions (the health checks' vantage). Adding a provider is one adapter plus one entry
in LOCAL or CLOUD_PROVIDERS (docs/architecture.md).

Settings live in the stack config and are not secret. Secrets never enter the stack:
they come from environment variables, or for `server: dev` from the local
environment's generated secrets (.dev/secrets, mode 0600).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from orchestrator.adapters.dns.powerdns import PowerDNSClient
from orchestrator.adapters.dns.rfc2136 import RFC2136Client
from orchestrator.adapters.local import local_environment
from orchestrator.domain.errors import ConfigError, EnvironmentProblem
from orchestrator.domain.providers import CLOUDDNS, CLOUDFLARE, POWERDNS, PROVIDERS, RFC2136, ROUTE53
from orchestrator.domain.topology import Topology, Zone

CLOUD_PROVIDERS: tuple[str, ...] = (ROUTE53, CLOUDDNS, CLOUDFLARE)  # Pulumi packages (cloud_dns.py)


def _dev_server(role: str) -> tuple[Mapping[str, Any], Mapping[str, str]]:
    env = local_environment()
    state = env.state_dir
    server = env.server(role)
    if not server:
        raise EnvironmentProblem(
            f"the local environment's {role} server is not running (state in {state})",
            "the zone's settings say `server: dev`",
            "run `orchestrator dev up` (or `make demo`), then run again",
        )
    return server, env.secrets()


def powerdns_client(zone: str, settings: Mapping[str, Any]) -> PowerDNSClient:
    key_env = str(settings.get("apiKeyEnv", "POWERDNS_API_KEY"))
    if settings.get("server") == "dev":
        server, secrets = _dev_server(LOCAL[POWERDNS].dev_role)
        return PowerDNSClient(
            api_url=server["api_url"],
            api_key=os.environ.get(key_env) or secrets["powerdns_api_key"],
            server_id=str(settings.get("serverId", "localhost")),
        )
    api_url = settings.get("apiUrl")
    if not api_url:
        raise ConfigError(
            f"zones[{zone}].settings.apiUrl",
            "a powerdns zone needs the API URL of its server (or `server: dev` for the local environment)",
            "add `apiUrl: https://pdns.example.net:8081` to the zone's settings",
        )
    key = os.environ.get(key_env)
    if not key:
        raise EnvironmentProblem(
            f"no PowerDNS API key for zone {zone}",
            f"the key is read from the environment variable {key_env}, which is not set",
            f"export {key_env}=<the server's api-key> and run again",
        )
    return PowerDNSClient(
        api_url=str(api_url), api_key=key, server_id=str(settings.get("serverId", "localhost"))
    )


def rfc2136_client(zone: str, settings: Mapping[str, Any]) -> RFC2136Client:
    secret_env = str(settings.get("tsigSecretEnv", "TSIG_SECRET"))
    if settings.get("server") == "dev":
        server, secrets = _dev_server(LOCAL[RFC2136].dev_role)
        return RFC2136Client(
            address=server["address"],
            port=int(server["port"]),
            key_name=os.environ.get("TSIG_KEY_NAME") or secrets["tsig_key_name"],
            key_secret=os.environ.get(secret_env) or secrets["tsig_secret"],
            key_algorithm=os.environ.get("TSIG_ALGORITHM") or secrets["tsig_algorithm"],
        )
    missing = [k for k in ("address", "tsigKeyName") if not settings.get(k)]
    if missing:
        raise ConfigError(
            f"zones[{zone}].settings.{missing[0]}",
            "an rfc2136 zone needs the server address and the TSIG key name (or `server: dev`)",
            "add `address: 192.0.2.53`, `port: 53` and `tsigKeyName: <name>` to the zone's settings",
        )
    secret = os.environ.get(secret_env)
    if not secret:
        raise EnvironmentProblem(
            f"no TSIG secret for zone {zone}",
            f"the secret is read from the environment variable {secret_env}, which is not set",
            f"export {secret_env}=<base64 secret of key {settings['tsigKeyName']}> and run again",
        )
    return RFC2136Client(
        address=str(settings["address"]),
        port=int(settings.get("port", 53)),
        key_name=str(settings["tsigKeyName"]),
        key_secret=secret,
        key_algorithm=str(settings.get("tsigAlgorithm", "hmac-sha256")),
    )


def _powerdns_dns_server(settings: Mapping[str, Any]) -> tuple[str, int] | None:
    host = urlsplit(str(settings["apiUrl"])).hostname if settings.get("apiUrl") else None
    return (host, int(settings.get("dnsPort", 53))) if host else None


def _rfc2136_dns_server(settings: Mapping[str, Any]) -> tuple[str, int] | None:
    address = settings.get("address")
    return (str(address), int(settings.get("port", 53))) if address else None


@dataclass(frozen=True)
class LocalProvider:
    """A provider the orchestrator writes itself, through a client."""

    client: Callable[[str, Mapping[str, Any]], PowerDNSClient | RFC2136Client]  # (zone, settings)
    dev_role: str  # the local environment's server that serves its `server: dev` zones
    dns_server: Callable[[Mapping[str, Any]], tuple[str, int] | None]  # where the zone answers DNS


LOCAL: dict[str, LocalProvider] = {
    POWERDNS: LocalProvider(powerdns_client, "powerdns", _powerdns_dns_server),
    RFC2136: LocalProvider(rfc2136_client, "bind", _rfc2136_dns_server),
}
LOCAL_PROVIDERS: tuple[str, ...] = tuple(LOCAL)
if set(LOCAL_PROVIDERS) | set(CLOUD_PROVIDERS) != set(PROVIDERS):  # pragma: no cover - a wiring bug
    raise RuntimeError("the provider registry does not cover orchestrator.domain.providers.PROVIDERS")


def is_local(provider: str) -> bool:
    return provider in LOCAL


def zone_dns_server(zone: Zone) -> tuple[str, int] | None:
    """Where a (non-dev) local zone's authoritative server answers DNS, from its settings."""
    local = LOCAL.get(zone.provider)
    return local.dns_server(zone.settings or {}) if local else None


def client_for(provider: str, zone: str, settings: Mapping[str, Any]) -> PowerDNSClient | RFC2136Client:
    if provider in LOCAL:
        return LOCAL[provider].client(zone, settings)
    raise ConfigError(
        f"zones[{zone}].provider",
        f"'{provider}' is not served by the project's provider plugin",
        f"use one of {', '.join(LOCAL_PROVIDERS)} here; cloud providers use their Pulumi packages",
    )


def check_zones(topology: Topology) -> None:
    """Each local zone's server: reachable, our credentials accepted, the zone served."""
    for zone in topology.zones:
        if zone.provider in LOCAL_PROVIDERS:
            client_for(zone.provider, zone.name, zone.settings).check_zone(zone.name)
