"""Database pairs in the topology, and which group holds each pair's primary. Pure.

    databases:
      - name: orders
        clusters:                      # in preference order
          group-a: {kind: postgres, server: dev}
          group-b: {kind: postgres, server: dev}
      - name: payments
        clusters:
          group-a: {kind: cnpg, name: payments-east, namespace: db, context: east}
          group-b: {kind: cnpg, name: payments-west, namespace: db, context: west}

The primary of a pair sits in the first of its clusters (config order) whose group is
active. A switch to one group therefore moves every primary there; with several groups
active the order decides, and the dry-run shows any move before it happens.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from orchestrator.domain.errors import ConfigError

KINDS = ("postgres", "cnpg")
PAIR_KEYS = ("name", "clusters")
CLUSTER_KEYS: dict[str, tuple[str, ...]] = {
    # Local: the dev environment's PostgreSQL instance of the group (`orchestrator dev up`).
    "postgres": ("kind", "server"),
    # Production: a CloudNativePG Cluster reached through a kubeconfig context.
    "cnpg": ("kind", "name", "namespace", "context"),
}
REQUIRED: dict[str, tuple[str, ...]] = {"postgres": ("server",), "cnpg": ("name", "namespace")}
MODES = ("planned", "failover")


@dataclass(frozen=True)
class DatabaseCluster:
    """One side of a pair: the cluster that serves `group`."""

    group: str
    kind: str
    settings: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}), hash=False)

    @property
    def label(self) -> str:
        """How an operator names it: the CNPG cluster, or the local instance."""
        if self.kind == "cnpg":
            return f"{self.settings.get('namespace')}/{self.settings.get('name')}"
        return f"postgres {self.settings.get('server')}:{self.group}"


@dataclass(frozen=True)
class DatabasePair:
    name: str
    clusters: tuple[DatabaseCluster, ...]

    @property
    def groups(self) -> tuple[str, ...]:
        return tuple(c.group for c in self.clusters)

    def cluster(self, group: str) -> DatabaseCluster:
        for c in self.clusters:
            if c.group == group:
                return c
        raise KeyError(f"database pair {self.name} has no cluster in group {group}")


@dataclass(frozen=True)
class PrimaryMove:
    """One pair whose primary changes group in a plan."""

    pair: str
    from_group: str | None
    to_group: str | None


def primary_group(pair: DatabasePair, active: Iterable[str]) -> str | None:
    """The group whose cluster is the pair's primary for this active set (None: no active cluster)."""
    active = set(active)
    for c in pair.clusters:
        if c.group in active:
            return c.group
    return None


def primary_moves(
    pairs: Iterable[DatabasePair], before: Iterable[str], after: Iterable[str]
) -> tuple[PrimaryMove, ...]:
    before, after = tuple(before), tuple(after)
    out = []
    for pair in pairs:
        old, new = primary_group(pair, before), primary_group(pair, after)
        if old != new:
            out.append(PrimaryMove(pair.name, old, new))
    return tuple(out)


def parse_databases(
    raw: Any, groups: Iterable[str], key: str
) -> tuple[tuple[DatabasePair, ...], list[ConfigError]]:
    """The `databases` list of the topology, with every problem found (key, why, fix)."""
    problems: list[ConfigError] = []

    def add(k: str, why: str, fix: str) -> None:
        problems.append(ConfigError(k, why, fix))

    if raw is None:
        return (), problems
    if not isinstance(raw, list):
        add(key, f"must be a list of database pairs, not {type(raw).__name__}", "see docs/databases.md")
        return (), problems
    known = set(groups)
    pairs: list[DatabasePair] = []
    seen: set[str] = set()
    dev_users: dict[str, str] = {}
    for i, item in enumerate(raw):
        pkey = f"{key}[{i}]"
        if not isinstance(item, Mapping):
            add(pkey, "a database pair must be a mapping with name and clusters", "see docs/databases.md")
            continue
        for k in item:
            if k not in PAIR_KEYS:
                add(f"{pkey}.{k}", f"unknown key '{k}'", f"remove it, or use one of: {', '.join(PAIR_KEYS)}")
        name = item.get("name")
        if not isinstance(name, str) or not name or any(ch in name for ch in " /=;&,\"'"):
            add(
                f"{pkey}.name",
                f"pair name {name!r} is missing or has a forbidden character",
                "use letters, digits and '-', e.g. `name: orders`",
            )
            continue
        if name in seen:
            add(f"{pkey}.name", f"database pair '{name}' is defined twice", "give each pair its own name")
            continue
        seen.add(name)
        raw_clusters = item.get("clusters")
        ckey = f"{pkey}.clusters"
        if not isinstance(raw_clusters, Mapping) or len(raw_clusters) < 2:
            add(
                ckey,
                "a pair needs a mapping of at least two groups to clusters",
                "e.g. `clusters: {group-a: {kind: postgres, server: dev}, group-b: {...}}`",
            )
            continue
        clusters = []
        for group, spec in raw_clusters.items():
            gkey = f"{ckey}.{group}"
            if group not in known:
                add(
                    gkey,
                    f"group '{group}' is not in the topology's groups",
                    f"use one of: {', '.join(sorted(known)) or '(none defined)'}",
                )
                continue
            cluster = _cluster(str(group), spec, gkey, add)
            if cluster is None:
                continue
            if cluster.kind == "postgres":
                inst = f"{cluster.settings['server']}:{group}"
                if inst in dev_users:
                    add(
                        gkey,
                        f"the local instance {inst} already serves pair '{dev_users[inst]}'",
                        "the dev environment has one PostgreSQL pair; give other pairs kind: cnpg",
                    )
                    continue
                dev_users[inst] = name
            clusters.append(cluster)
        if len(clusters) == len(raw_clusters):
            kinds = {c.kind for c in clusters}
            if len(kinds) > 1:
                add(
                    ckey,
                    f"pair '{name}' mixes cluster kinds ({', '.join(sorted(kinds))})",
                    "both sides of a pair replicate to each other: use one kind",
                )
                continue
            pairs.append(DatabasePair(name, tuple(clusters)))
    return tuple(pairs), problems


def _cluster(group: str, spec: Any, key: str, add: Any) -> DatabaseCluster | None:
    if not isinstance(spec, Mapping) or spec.get("kind") not in KINDS:
        add(
            f"{key}.kind",
            f"cluster kind {(spec or {}).get('kind') if isinstance(spec, Mapping) else spec!r} "
            f"is not one of {', '.join(KINDS)}",
            "`kind: postgres` (local dev instance) or `kind: cnpg` (CloudNativePG Cluster)",
        )
        return None
    kind = spec["kind"]
    ok = True
    for k in spec:
        if k not in CLUSTER_KEYS[kind]:
            add(
                f"{key}.{k}",
                f"unknown key '{k}' for kind {kind}",
                f"use one of: {', '.join(CLUSTER_KEYS[kind])}",
            )
            ok = False
    for k in REQUIRED[kind]:
        if not isinstance(spec.get(k), str) or not spec.get(k):
            add(f"{key}.{k}", f"missing '{k}' for kind {kind}", f"set `{k}:` (docs/databases.md)")
            ok = False
    if kind == "postgres" and spec.get("server") not in (None, "dev"):
        add(
            f"{key}.server",
            f"server {spec.get('server')!r}: the local PostgreSQL path only knows `dev`",
            "use `server: dev`, or `kind: cnpg` for a real cluster",
        )
        ok = False
    if not ok:
        return None
    settings = {k: v for k, v in spec.items() if k != "kind"}
    return DatabaseCluster(group, kind, MappingProxyType(settings))
