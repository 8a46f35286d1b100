"""The topology of a stack: zones, groups with their endpoints, database pairs. The model only;
validation (orchestrator.domain.topology.validation) builds it from the stack config."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from orchestrator.domain.databases import DatabasePair
from orchestrator.domain.errors import ConfigError
from orchestrator.domain.names import (
    in_zone,
    normalise_name,
)

DEFAULT_TTL = 60
MAX_TTL = 2**31 - 1  # RFC 2181 section 8
GROUP_NAME_MAX = 16
# DESIGN.md and Kuadrant types/group.go forbid `; & , " '` and space; `=` is added because
# both Kuadrant readers split `key=value` pairs on every `=` (dnsrecord_groups.go
# getActiveGroups, external-dns labels.go), so a group or owner with `=` would vanish.
FORBIDDEN_IN_IDS = ";&,\"'= "
OWNER_MAX = 63

TOPOLOGY_KEYS = ("ttl", "zones", "groups", "databases")
ZONE_KEYS = ("name", "provider", "settings")
GROUP_KEYS = ("owner", "endpoints")
ENDPOINT_KEYS = ("a", "aaaa", "cname", "health", "weight", "ttl")
HEALTH_KEYS = ("port", "path", "scheme")
HEALTH_SCHEMES = ("http", "https")


class TopologyError(ConfigError):
    """Every problem found in the configuration, raised once.

    A ConfigError itself (key and fix of the first problem), so callers that catch
    ConfigError or read `.key` keep working; `problems` holds all of them.
    """

    def __init__(self, problems: Sequence[ConfigError]):
        if not problems:
            raise ValueError("TopologyError needs at least one problem")
        self.problems = tuple(problems)
        first = self.problems[0]
        super().__init__(first.key, first.why, first.fix)

    def render(self) -> str:
        if len(self.problems) == 1:
            return super().render()
        lines = [
            f"error: {len(self.problems)} problems in the stack configuration (fix them all, then retry)"
        ]
        for i, p in enumerate(self.problems, 1):
            lines.append(f"  {i}. at '{p.key}': {p.why}")
            if p.fix:
                lines.append(f"     fix: {p.fix}")
        return "\n".join(lines)


# --- model ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Zone:
    name: str
    provider: str
    settings: Mapping[str, Any] = field(default_factory=dict, hash=False)


@dataclass(frozen=True)
class Health:
    """Where a target answers health probes: `scheme://target:port/path` per target."""

    port: int
    path: str = "/"
    scheme: str = "http"

    def url(self, target: str) -> str:
        host = f"[{target}]" if ":" in target else target
        return f"{self.scheme}://{host}:{self.port}{self.path}"


@dataclass(frozen=True)
class Endpoint:
    """One hostname as one group publishes it. Targets are canonical, sorted and unique."""

    hostname: str
    zone: str
    ttl: int
    a: tuple[str, ...] = ()
    aaaa: tuple[str, ...] = ()
    cname: str | None = None
    health: Health | None = None
    weight: int | None = None

    def records(self) -> tuple[tuple[str, tuple[str, ...]], ...]:
        """(type, targets) for each record type this endpoint publishes, in type order."""
        out: list[tuple[str, tuple[str, ...]]] = []
        if self.a:
            out.append(("A", self.a))
        if self.aaaa:
            out.append(("AAAA", self.aaaa))
        if self.cname:
            out.append(("CNAME", (self.cname,)))
        return tuple(out)

    def targets(self, rtype: str) -> tuple[str, ...]:
        return dict(self.records()).get(rtype.upper(), ())

    def all_targets(self) -> tuple[str, ...]:
        return tuple(t for _, ts in self.records() for t in ts)

    def health_urls(self) -> tuple[tuple[str, str], ...]:
        """(target, URL) per target; empty without a health check."""
        if self.health is None:
            return ()
        return tuple((t, self.health.url(t)) for t in self.all_targets())


@dataclass(frozen=True)
class Group:
    name: str
    owner: str
    endpoints: tuple[Endpoint, ...]

    def endpoint(self, hostname: str) -> Endpoint | None:
        hostname = normalise_name(hostname)
        return next((e for e in self.endpoints if e.hostname == hostname), None)

    @property
    def hostnames(self) -> tuple[str, ...]:
        return tuple(e.hostname for e in self.endpoints)


@dataclass(frozen=True)
class Topology:
    """A validated topology. Groups sorted by name, endpoints by hostname: order never matters."""

    zones: tuple[Zone, ...]
    groups: tuple[Group, ...]
    ttl: int = DEFAULT_TTL
    active_groups: tuple[str, ...] = ()  # as configured (canonical), when given to load_topology
    databases: tuple[DatabasePair, ...] = ()  # orchestrator.domain.databases

    @property
    def group_names(self) -> tuple[str, ...]:
        return tuple(g.name for g in self.groups)

    def group(self, name: str) -> Group:
        for g in self.groups:
            if g.name == name:
                return g
        raise KeyError(name)

    def zone(self, name: str) -> Zone:
        for z in self.zones:
            if z.name == name:
                return z
        raise KeyError(name)

    def zone_for(self, hostname: str) -> Zone | None:
        """The longest zone that contains `hostname`, or None."""
        return zone_for(normalise_name(hostname), self.zones)

    def hostnames(self) -> tuple[str, ...]:
        return tuple(sorted({e.hostname for g in self.groups for e in g.endpoints}))


def zone_for(hostname: str, zones: Iterable[Zone]) -> Zone | None:
    matches = [z for z in zones if in_zone(hostname, z.name)]
    return max(matches, key=lambda z: len(z.name), default=None)
