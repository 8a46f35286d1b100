"""Health settings: the stack's `orchestrator:health` (optional), parsed and validated. Pure.

    orchestrator:health:
      verifyDelay: 0          # seconds to wait after cleanup before the checks run
      dnsTimeout: 15          # seconds an authoritative vantage may take to converge
      resolverTimeout: null   # seconds a caching vantage may take (default: largest TTL + 5)
      vantages:               # replaces the default vantages (docs/health.md)
        - {name: ns1, address: 192.0.2.53, port: 53, recursive: false, zones: [app.example.com]}
        - {name: office-resolver, address: 10.0.0.53, recursive: true}
      latency:
        samples: 3            # GETs per health URL, before and after the switch
        factor: 3.0           # slow when the median exceeds baseline × factor ...
        slackMs: 100          # ... and baseline + slack (small baselines are noisy)
        maxMs: 1000           # without a baseline: slow above this
        timeout: 2.0          # seconds per GET

The verify delay may also come from $ORCHESTRATOR_VERIFY_DELAY or `switch --verify-delay`
(the flag sets the variable), which win over the stack file.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from orchestrator.domain.errors import ConfigError, UsageError

HEALTH_KEY = "orchestrator:health"
VERIFY_DELAY_ENV = "ORCHESTRATOR_VERIFY_DELAY"
MAX_VERIFY_DELAY = 3600.0
KEYS = ("verifyDelay", "dnsTimeout", "resolverTimeout", "vantages", "latency")
VANTAGE_KEYS = ("name", "address", "port", "recursive", "zones")
LATENCY_KEYS = ("samples", "factor", "slackMs", "maxMs", "timeout")


@dataclass(frozen=True)
class Vantage:
    """A place a DNS question is asked from: an authoritative server or a caching resolver."""

    name: str
    address: str
    port: int = 53
    recursive: bool = False
    zones: tuple[str, ...] | None = None  # None: every zone of the topology

    def covers(self, zone: str) -> bool:
        return self.zones is None or zone in self.zones

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "address": self.address,
            "port": self.port,
            "recursive": self.recursive,
            "zones": list(self.zones) if self.zones is not None else None,
        }


@dataclass(frozen=True)
class LatencySettings:
    samples: int = 3
    factor: float = 3.0
    slack_ms: float = 100.0
    max_ms: float = 1000.0
    timeout: float = 2.0


@dataclass(frozen=True)
class HealthConfig:
    verify_delay: float = 0.0
    dns_timeout: float = 15.0
    resolver_timeout: float | None = None
    vantages: tuple[Vantage, ...] | None = None  # None: the defaults (health.vantages)
    latency: LatencySettings = field(default_factory=LatencySettings)


def _number(
    raw: Mapping[str, Any], key: str, where: str, default: float, *, low: float, high: float
) -> float:
    value = raw.get(key, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise ConfigError(
            f"{where}.{key}",
            f"{value!r} is not a number from {low:g} to {high:g}",
            f"set `{key}: {default}` or remove it for the default",
        )
    return float(value)


def _unknown(raw: Mapping[str, Any], known: tuple[str, ...], where: str) -> None:
    extra = sorted(str(k) for k in raw if k not in known)
    if extra:
        raise ConfigError(
            f"{where}.{extra[0]}",
            f"unknown key {extra[0]!r}",
            f"use only {', '.join(known)} (docs/health.md)",
        )


def _vantage(raw: Any, where: str) -> Vantage:
    if not isinstance(raw, Mapping):
        raise ConfigError(where, "a vantage is a mapping", "e.g. `{name: ns1, address: 192.0.2.53}`")
    _unknown(raw, VANTAGE_KEYS, where)
    name, address = raw.get("name"), raw.get("address")
    if not isinstance(name, str) or not name or not isinstance(address, str) or not address:
        raise ConfigError(where, "a vantage needs a name and an address", "add `name:` and `address:`")
    port = raw.get("port", 53)
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        raise ConfigError(f"{where}.port", f"port {port!r} is not 1-65535", "use the server's DNS port")
    zones = raw.get("zones")
    if zones is not None and (not isinstance(zones, list) or not all(isinstance(z, str) for z in zones)):
        raise ConfigError(
            f"{where}.zones", "zones is a list of zone names", "e.g. `zones: [app.example.com]`"
        )
    return Vantage(
        name=name,
        address=address,
        port=port,
        recursive=bool(raw.get("recursive", False)),
        zones=tuple(z.rstrip(".").lower() for z in zones) if zones is not None else None,
    )


def parse_health_config(raw: Any) -> HealthConfig:
    """The `orchestrator:health` value (None: all defaults). Raises ConfigError naming the key."""
    if raw is None:
        return HealthConfig()
    if not isinstance(raw, Mapping):
        raise ConfigError(HEALTH_KEY, "must be a mapping", "see docs/health.md")
    _unknown(raw, KEYS, HEALTH_KEY)
    vantages = None
    if "vantages" in raw:
        items = raw["vantages"]
        if not isinstance(items, list) or not items:
            raise ConfigError(
                f"{HEALTH_KEY}.vantages", "a non-empty list of vantages", "or remove it for the defaults"
            )
        vantages = tuple(_vantage(v, f"{HEALTH_KEY}.vantages[{i}]") for i, v in enumerate(items))
    lat_raw = raw.get("latency") or {}
    if not isinstance(lat_raw, Mapping):
        raise ConfigError(f"{HEALTH_KEY}.latency", "must be a mapping", "see docs/health.md")
    where = f"{HEALTH_KEY}.latency"
    _unknown(lat_raw, LATENCY_KEYS, where)
    defaults = LatencySettings()
    latency = LatencySettings(
        samples=int(_number(lat_raw, "samples", where, defaults.samples, low=1, high=50)),
        factor=_number(lat_raw, "factor", where, defaults.factor, low=1, high=1000),
        slack_ms=_number(lat_raw, "slackMs", where, defaults.slack_ms, low=0, high=600_000),
        max_ms=_number(lat_raw, "maxMs", where, defaults.max_ms, low=1, high=600_000),
        timeout=_number(lat_raw, "timeout", where, defaults.timeout, low=0.1, high=120),
    )
    resolver_timeout = raw.get("resolverTimeout")
    return HealthConfig(
        verify_delay=_number(raw, "verifyDelay", HEALTH_KEY, 0.0, low=0, high=MAX_VERIFY_DELAY),
        dns_timeout=_number(raw, "dnsTimeout", HEALTH_KEY, 15.0, low=0, high=3600),
        resolver_timeout=None
        if resolver_timeout is None
        else _number(raw, "resolverTimeout", HEALTH_KEY, 0.0, low=0, high=3600),
        vantages=vantages,
        latency=latency,
    )


def parse_delay(text: str, source: str) -> float:
    """Seconds from an environment variable or flag value; UsageError names the source."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or not 0 <= value <= MAX_VERIFY_DELAY:
        raise UsageError(
            f"{source}={text!r} is not a delay in seconds",
            f"the delay before verify is a number of seconds from 0 to {MAX_VERIFY_DELAY:g}",
            f"e.g. {source}=30 (or unset it for the stack's `verifyDelay`, default 0)",
        )
    return value
