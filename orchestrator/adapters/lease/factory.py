"""Build a lease from its configuration (a mapping, as the stack config or a fence carries it).

    {"kind": "dns", "server": "dev"}                  the local environment's first lease server
    {"kind": "dns", "server": "dev", "index": 1}      another one
    {"kind": "dns-quorum", "servers": "dev"}          all local lease servers, majority
    {"kind": "dns", "address": "192.0.2.1", "port": 53, "zone": "lease.example.net",
     "name": "_orchestrator-lease", "tsigKeyName": "orchestrator"}
    {"kind": "dns-quorum", "zone": "lease.example.net", "tsigKeyName": "orchestrator",
     "servers": [{"address": "192.0.2.1"}, {"address": "192.0.2.2"}, {"address": "192.0.2.3"}]}

Secrets never appear in the configuration: the TSIG secret comes from the environment
variable named by `tsigSecretEnv` (TSIG_SECRET by default), as for rfc2136 zones; for
`dev` it comes from the local environment's generated secrets (`stateDir`, default
$ORCHESTRATOR_DEV_DIR or .dev).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from orchestrator.adapters.lease.base import Lease
from orchestrator.adapters.lease.dnslease import DEFAULT_NAME, DEFAULT_TIMEOUT, DnsLease
from orchestrator.adapters.lease.quorum import QuorumLease
from orchestrator.adapters.local import local_environment
from orchestrator.domain.errors import ConfigError, EnvironmentProblem

KINDS = ("dns", "dns-quorum")
# Keys a lease configuration may have (none of them secret: fence_env copies exactly these).
TOP_KEYS = frozenset(
    {
        "kind",
        "server",
        "servers",
        "index",
        "stateDir",
        "address",
        "port",
        "zone",
        "name",
        "tsigKeyName",
        "tsigAlgorithm",
        "tsigSecretEnv",
        "timeout",
    }
)
SERVER_KEYS = frozenset({"address", "port", "zone", "name", "tsigKeyName", "tsigAlgorithm", "tsigSecretEnv"})
QUORUM_TIMEOUT = 1.0  # per server: a quorum asks all in parallel and can do without one
PREFIX = "lease"


def lease_from_config(cfg: Mapping[str, Any]) -> Lease:
    """A Lease for cfg; ConfigError names the key at fault, EnvironmentProblem what is missing."""
    _check_keys(cfg, TOP_KEYS, PREFIX)
    kind = cfg.get("kind")
    if kind == "dns":
        if cfg.get("server") == "dev":
            return _dev_members(cfg, quorum=False)[0]
        return _explicit(cfg, {}, PREFIX, float(cfg.get("timeout", DEFAULT_TIMEOUT)))
    if kind == "dns-quorum":
        if cfg.get("servers") == "dev":
            return QuorumLease(_dev_members(cfg, quorum=True))
        servers = cfg.get("servers")
        if not isinstance(servers, list) or not servers:
            raise ConfigError(
                f"{PREFIX}.servers",
                "a dns-quorum lease needs a list of servers (or `dev` for the local environment)",
                "add `servers: [{address: 192.0.2.1}, {address: 192.0.2.2}, {address: 192.0.2.3}]`",
            )
        timeout = float(cfg.get("timeout", QUORUM_TIMEOUT))
        members = []
        for i, server in enumerate(servers):
            where = f"{PREFIX}.servers[{i}]"
            if not isinstance(server, Mapping):
                raise ConfigError(where, "each server is a mapping with at least an address", "")
            _check_keys(server, SERVER_KEYS, where)
            members.append(_explicit(cfg, server, where, timeout))
        return QuorumLease(members)
    raise ConfigError(
        f"{PREFIX}.kind",
        f"unknown lease kind {kind!r}",
        f"use one of {', '.join(KINDS)}",
    )


def dev_state_dir(cfg: Mapping[str, Any]) -> Path:
    """The local environment a `dev` lease lives in: stateDir, else the usual default."""
    return local_environment(Path(str(cfg["stateDir"])) if cfg.get("stateDir") else None).state_dir


def is_dev(cfg: Mapping[str, Any]) -> bool:
    return cfg.get("server") == "dev" or cfg.get("servers") == "dev"


def _check_keys(cfg: Mapping[str, Any], allowed: frozenset[str], where: str) -> None:
    unknown = sorted(set(cfg) - allowed)
    if unknown:
        secretish = [k for k in unknown if "secret" in k.lower() or "password" in k.lower()]
        raise ConfigError(
            f"{where}.{unknown[0]}",
            f"unknown lease setting(s) {', '.join(unknown)}"
            + ("; secrets never go in the configuration" if secretish else ""),
            f"use only {', '.join(sorted(allowed))}"
            + (
                "; put the TSIG secret in the environment variable named by tsigSecretEnv"
                if secretish
                else ""
            ),
        )


def _explicit(top: Mapping[str, Any], server: Mapping[str, Any], where: str, timeout: float) -> DnsLease:
    """A DnsLease from explicit settings (per-server settings override the top-level ones)."""
    merged = {**{k: v for k, v in top.items() if k in SERVER_KEYS}, **server}
    missing = [k for k in ("address", "zone", "tsigKeyName") if not merged.get(k)]
    if missing:
        raise ConfigError(
            f"{where}.{missing[0]}",
            "a dns lease server needs an address, the lease zone and the TSIG key name "
            "(or `server: dev` for the local environment)",
            "add `address: 192.0.2.53`, `zone: lease.example.net` and `tsigKeyName: <name>`",
        )
    secret_env = str(merged.get("tsigSecretEnv", "TSIG_SECRET"))
    secret = os.environ.get(secret_env)
    if not secret:
        raise EnvironmentProblem(
            f"no TSIG secret for the lease server {merged['address']}",
            f"the secret is read from the environment variable {secret_env}, which is not set",
            f"export {secret_env}=<base64 secret of key {merged['tsigKeyName']}> and run again",
        )
    return DnsLease(
        str(merged["address"]),
        int(merged.get("port", 53)),
        str(merged["zone"]),
        key_name=str(merged["tsigKeyName"]),
        key_secret=secret,
        key_algorithm=str(merged.get("tsigAlgorithm", "hmac-sha256")),
        name=str(merged.get("name", DEFAULT_NAME)),
        timeout=timeout,
    )


def _dev_members(cfg: Mapping[str, Any], *, quorum: bool) -> list[DnsLease]:
    """The local environment's lease servers (all, or the one at `index`), running or not.

    A stopped server is included: the lease then reports it unreachable by name, which is
    what a quorum with one server down should say.
    """
    env = local_environment(Path(str(cfg["stateDir"])) if cfg.get("stateDir") else None)
    state = env.state_dir
    servers = env.servers("lease")
    if not servers:
        raise EnvironmentProblem(
            f"the local environment in {state} has no lease servers",
            "the lease configuration says `dev`, and the environment is not running or was "
            "started without lease servers",
            "run `orchestrator dev up`, then run again",
        )
    secrets = env.secrets()
    timeout = float(cfg.get("timeout", QUORUM_TIMEOUT if quorum else DEFAULT_TIMEOUT))
    if not quorum:
        index = int(cfg.get("index", 0))
        servers = [s for s in servers if s.get("index") == index]
        if not servers:
            raise ConfigError(f"{PREFIX}.index", f"the local environment has no lease server {index}", "")
    return [
        DnsLease(
            s["address"],
            int(s["port"]),
            env.lease_zone,
            key_name=secrets["tsig_key_name"],
            key_secret=secrets["tsig_secret"],
            key_algorithm=secrets["tsig_algorithm"],
            name=str(cfg.get("name", DEFAULT_NAME)),
            timeout=timeout,
            label=s["name"],
        )
        for s in servers
    ]
