"""Publish rules and the decision `orchestrator watch` takes from the observers' verdicts (pure).

One module on purpose (over 400 lines): the rules, the quorum and the decision are read
together when reasoning about an automatic switch; each part is a few small pure functions.

Kuadrant's proposed publishStrategy, per group of a stack (docs/watch.md):

- `always`: the group's records are published while it is in the active set; it leaves the set
  only through a switch (a person's, or a failover below). The preferred group.
- `when-others-unhealthy` (failover): the group becomes active when every active group is down.
- `when-no-other-records` (migration): an active group steps back once another active group
  publishes every hostname it publishes.
- `republish: true` lets a group that an automatic failover deactivated come back on its own
  once it is healthy again and the anti-flap block was acknowledged (failback); `false` leaves
  that to a person.

A group is *down* for the decision only when a quorum of observers says so, each after a number
of consecutive failed measurements; *up* likewise. Anything in between is unknown, and unknown
never moves traffic.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from orchestrator.domain.desired import desired_state
from orchestrator.domain.errors import ConfigError
from orchestrator.domain.topology import Topology

WATCH_KEY = "orchestrator:watch"
ALWAYS = "always"
WHEN_OTHERS_UNHEALTHY = "when-others-unhealthy"
WHEN_NO_OTHER_RECORDS = "when-no-other-records"
STRATEGIES = (ALWAYS, WHEN_OTHERS_UNHEALTHY, WHEN_NO_OTHER_RECORDS)
# Kuadrant's names for the same strategies (dns-operator's publishStrategy RFC), for the docs.
KUADRANT_NAMES = {
    ALWAYS: "Always",
    WHEN_OTHERS_UNHEALTHY: "WhenOthersUnhealthy",
    WHEN_NO_OTHER_RECORDS: "Migrate",
}

DOWN, UP, UNKNOWN = "down", "up", "unknown"

SETTINGS_KEYS = (
    "groups",
    "observers",
    "quorum",
    "interval",
    "failures",
    "antiFlap",
    "readinessEvery",
    "rto",
    "staleAfter",
)
RULE_KEYS = ("publish", "republish")


@dataclass(frozen=True)
class PublishRule:
    group: str
    strategy: str = ALWAYS
    republish: bool = False


@dataclass(frozen=True)
class WatchSettings:
    rules: tuple[PublishRule, ...]
    observers: int = 1
    quorum: int = 1
    interval: float = 5.0
    failures: int = 3
    anti_flap: float = 3600.0
    readiness_every: float = 300.0
    rto: float = 300.0
    stale_after: float = 0.0  # 0: three intervals plus ten seconds

    def rule(self, group: str) -> PublishRule:
        return next((r for r in self.rules if r.group == group), PublishRule(group))

    @property
    def freshness(self) -> float:
        """How old an observer's verdict may be and still count."""
        return self.stale_after or self.interval * 3 + 10.0


def parse_watch_settings(raw: Any, topology: Topology) -> WatchSettings:
    """The `orchestrator:watch` block, validated with the topology; every problem names its key."""
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        raise ConfigError(WATCH_KEY, "must be a mapping", "see docs/watch.md for the shape")
    unknown = sorted(set(raw) - set(SETTINGS_KEYS))
    if unknown:
        raise ConfigError(
            f"{WATCH_KEY}.{unknown[0]}",
            f"unknown setting(s) {', '.join(unknown)}",
            f"use only {', '.join(SETTINGS_KEYS)} (docs/watch.md)",
        )
    known_groups = [g.name for g in topology.groups]
    groups = raw.get("groups") or {}
    if not isinstance(groups, Mapping):
        raise ConfigError(
            f"{WATCH_KEY}.groups",
            "must map group names to rules",
            "e.g. `group-b: {publish: when-others-unhealthy}`",
        )
    rules: list[PublishRule] = []
    for name, rule in groups.items():
        where = f"{WATCH_KEY}.groups.{name}"
        if name not in known_groups:
            raise ConfigError(
                where, f"'{name}' is not a group of the topology", f"use one of {', '.join(known_groups)}"
            )
        if not isinstance(rule, Mapping):
            raise ConfigError(where, "must be a mapping", "e.g. `{publish: always, republish: true}`")
        bad = sorted(set(rule) - set(RULE_KEYS))
        if bad:
            raise ConfigError(
                f"{where}.{bad[0]}", f"unknown key(s) {', '.join(bad)}", f"use only {', '.join(RULE_KEYS)}"
            )
        strategy = rule.get("publish", ALWAYS)
        if strategy not in STRATEGIES:
            raise ConfigError(
                f"{where}.publish",
                f"unknown publish rule {strategy!r}",
                f"use one of {', '.join(STRATEGIES)}",
            )
        republish = rule.get("republish", False)
        if not isinstance(republish, bool):
            raise ConfigError(
                f"{where}.republish", "must be true or false", "write `republish: true` or `republish: false`"
            )
        rules.append(PublishRule(str(name), str(strategy), republish))
    # Groups without a rule are `always`, in topology order.
    ordered = [next((r for r in rules if r.group == g), PublishRule(g)) for g in known_groups]
    if not any(r.strategy == ALWAYS for r in ordered):
        raise ConfigError(
            f"{WATCH_KEY}.groups",
            "no group is `always`: nothing would be published while every group is healthy",
            "give the preferred group `publish: always`",
        )

    def number(key: str, default: float, minimum: float, integer: bool = False) -> float:
        value = raw.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float) or value < minimum:
            raise ConfigError(
                f"{WATCH_KEY}.{key}",
                f"must be a number >= {minimum:g}, got {value!r}",
                f"set {key}: {default:g}",
            )
        if integer and int(value) != value:
            raise ConfigError(
                f"{WATCH_KEY}.{key}", f"must be a whole number, got {value!r}", f"set {key}: {int(default)}"
            )
        return float(value)

    observers = int(number("observers", 1, 1, integer=True))
    quorum = int(number("quorum", observers // 2 + 1, 1, integer=True))
    if quorum > observers:
        raise ConfigError(
            f"{WATCH_KEY}.quorum",
            f"a quorum of {quorum} cannot be reached with {observers} observer(s)",
            f"set quorum to at most {observers} (a majority is {observers // 2 + 1})",
        )
    return WatchSettings(
        rules=tuple(ordered),
        observers=observers,
        quorum=quorum,
        interval=number("interval", 5.0, 0.1),
        failures=int(number("failures", 3, 1, integer=True)),
        anti_flap=number("antiFlap", 3600.0, 0),
        readiness_every=number("readinessEvery", 300.0, 1),
        rto=number("rto", 300.0, 1),
        stale_after=number("staleAfter", 0.0, 0),
    )


# --- what one observer saw -----------------------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    """One observer's latest view: per group, up/down/unknown after consecutive measurements."""

    observer: str
    at: float
    groups: Mapping[str, str]
    failures: Mapping[str, int] = field(default_factory=dict)
    evidence: Mapping[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "o": self.observer,
            "t": round(self.at, 3),
            "g": dict(self.groups),
            "f": dict(self.failures),
            "e": dict(self.evidence),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Verdict:
        return cls(
            str(data["o"]),
            float(data["t"]),
            {str(k): str(v) for k, v in dict(data.get("g", {})).items()},
            {str(k): int(v) for k, v in dict(data.get("f", {})).items()},
            {str(k): str(v) for k, v in dict(data.get("e", {})).items()},
        )


def observe(
    previous: Mapping[str, int], healthy: Mapping[str, bool | None], failures_needed: int
) -> tuple[dict[str, int], dict[str, str]]:
    """One observer's step: consecutive failure counts and the verdict per group.

    A failed measurement adds one; a healthy one resets to zero; an unmeasurable one (None)
    keeps the count but says unknown. Down needs `failures_needed` failures in a row.
    """
    counts: dict[str, int] = {}
    verdicts: dict[str, str] = {}
    for group, ok in healthy.items():
        if ok is None:
            counts[group] = previous.get(group, 0)
            verdicts[group] = UNKNOWN
        elif ok:
            counts[group] = 0
            verdicts[group] = UP
        else:
            counts[group] = previous.get(group, 0) + 1
            verdicts[group] = DOWN if counts[group] >= failures_needed else UNKNOWN
    return counts, verdicts


@dataclass(frozen=True)
class GroupView:
    """What the fresh verdicts of all observers say about one group."""

    group: str
    state: str  # up | down | unknown (no quorum either way)
    down: tuple[str, ...]  # observers that say down
    up: tuple[str, ...]
    observers: int  # fresh observers

    def explain(self, quorum: int) -> str:
        return (
            f"{self.group}: {len(self.down)} of {self.observers} fresh observer(s) see it down"
            f"{' (' + ', '.join(self.down) + ')' if self.down else ''}, {len(self.up)} up; quorum {quorum}"
        )


def aggregate(
    verdicts: Iterable[Verdict], groups: Sequence[str], settings: WatchSettings, now: float
) -> dict[str, GroupView]:
    fresh = [v for v in verdicts if now - v.at <= settings.freshness]
    out: dict[str, GroupView] = {}
    for g in groups:
        down = tuple(sorted(v.observer for v in fresh if v.groups.get(g) == DOWN))
        up = tuple(sorted(v.observer for v in fresh if v.groups.get(g) == UP))
        state = DOWN if len(down) >= settings.quorum else UP if len(up) >= settings.quorum else UNKNOWN
        out[g] = GroupView(g, state, down, up, len(fresh))
    return out


# --- the decision --------------------------------------------------------------------------------


@dataclass(frozen=True)
class AutoSwitch:
    """The last switch watch made on a stack (kept on the verdict board)."""

    switch_id: str
    at: float
    from_groups: tuple[str, ...]
    to_groups: tuple[str, ...]
    kind: str  # failover | failback | migration

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.switch_id,
            "t": self.at,
            "from": list(self.from_groups),
            "to": list(self.to_groups),
            "kind": self.kind,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AutoSwitch:
        return cls(
            str(data["id"]), float(data["t"]), tuple(data["from"]), tuple(data["to"]), str(data["kind"])
        )


@dataclass(frozen=True)
class Block:
    """Anti-flap: automatic switches of the stack are blocked until acknowledged (or `until`)."""

    switch_id: str
    at: float
    until: float
    reason: str

    def active(self, now: float) -> bool:
        return now < self.until

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.switch_id, "t": self.at, "until": self.until, "reason": self.reason}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Block:
        return cls(str(data["id"]), float(data["t"]), float(data["until"]), str(data.get("reason", "")))


@dataclass(frozen=True)
class Decision:
    action: str  # none | switch | blocked | no-quorum
    kind: str = ""  # failover | failback | migration
    to_groups: tuple[str, ...] = ()
    reason: str = ""
    evidence: tuple[str, ...] = ()

    @property
    def moves(self) -> bool:
        return self.action == "switch"


def decide(
    settings: WatchSettings,
    topology: Topology,
    active: tuple[str, ...],
    views: Mapping[str, GroupView],
    *,
    block: Block | None,
    last_auto: AutoSwitch | None,
    now: float,
) -> Decision:
    """What the rules say now. Pure: the loop acts on it (switch, record, or wait)."""
    evidence = tuple(views[g].explain(settings.quorum) for g in views)
    blocked = block is not None and block.active(now)

    def act(kind: str, to: Sequence[str], reason: str) -> Decision:
        to_groups = tuple(g for g in (t.name for t in topology.groups) if g in to)
        if blocked:
            assert block is not None
            return Decision(
                "blocked",
                kind,
                to_groups,
                f"{reason}; automatic switches are blocked since switch {block.switch_id} "
                f"until acknowledged (`orchestrator watch ack`)",
                evidence,
            )
        return Decision("switch", kind, to_groups, reason, evidence)

    active_views = [views[g] for g in active if g in views]
    # Failover: every active group is down (by quorum) and a standby group is up.
    if active_views and all(v.state == DOWN for v in active_views):
        standby = [
            r.group
            for r in settings.rules
            if r.strategy == WHEN_OTHERS_UNHEALTHY
            and r.group not in active
            and views.get(r.group, _NONE).state == UP
        ]
        if standby:
            return act(
                "failover",
                standby,
                f"every active group ({', '.join(active)}) is down by quorum; {', '.join(standby)} is up",
            )
        return Decision(
            "none",
            reason=f"every active group is down, and no `{WHEN_OTHERS_UNHEALTHY}` group is up to take over",
            evidence=evidence,
        )
    # Some active group is down but not all, or a single observer sees trouble: say why nothing moves.
    lone = [v for v in active_views if v.state != DOWN and v.down]
    if lone:
        return Decision(
            "no-quorum",
            reason="; ".join(v.explain(settings.quorum) for v in lone) + ": no switch without a quorum",
            evidence=evidence,
        )
    # Failback: the groups a failover took out come back when up, if their rule says republish.
    if last_auto is not None and last_auto.kind == "failover":
        back = [g for g in last_auto.from_groups if settings.rule(g).republish and g not in active]
        if back and all(views.get(g, _NONE).state == UP for g in back):
            return act("failback", back, f"{', '.join(back)} is up again and its rule says republish")
    # Migration: an active group steps back once the other active groups publish all its hostnames.
    for r in settings.rules:
        if r.strategy != WHEN_NO_OTHER_RECORDS or r.group not in active:
            continue
        others = [g for g in active if g != r.group]
        mine = _hostnames(topology, [r.group])
        if others and mine and mine <= _hostnames(topology, others):
            return act("migration", others, f"{', '.join(others)} publishes every hostname of {r.group}")
    return Decision("none", reason="the rules hold as they are", evidence=evidence)


_NONE = GroupView("", UNKNOWN, (), (), 0)


def _hostnames(topology: Topology, groups: Sequence[str]) -> set[str]:
    return {ep.hostname for g in topology.groups if g.name in groups for ep in g.endpoints}


def failover_paths(settings: WatchSettings, active: tuple[str, ...]) -> list[tuple[str, ...]]:
    """The switches the rules could trigger from here (readiness is checked for each)."""
    paths = [
        (r.group,) for r in settings.rules if r.strategy == WHEN_OTHERS_UNHEALTHY and r.group not in active
    ]
    return paths


# --- migration: when is an unpublished group safe to delete ---------------------------------------


@dataclass(frozen=True)
class Publication:
    group: str
    published: bool
    unpublished_for: float | None  # seconds since its records left the zones (None: unknown)
    ttl: int

    @property
    def safe_to_delete(self) -> bool:
        """No zone serves it, for longer than any resolver may cache its records."""
        return not self.published and self.unpublished_for is not None and self.unpublished_for > self.ttl

    def line(self) -> str:
        if self.published:
            return f"{self.group}: published"
        if self.unpublished_for is None:
            return (
                f"{self.group}: unpublished (since before this journal: check your caches' TTL {self.ttl} s)"
            )
        secs = int(self.unpublished_for)
        if self.safe_to_delete:
            return f"{self.group}: unpublished for {secs} s (> TTL {self.ttl} s): safe to delete"
        return (
            f"{self.group}: unpublished for {secs} s (< TTL {self.ttl} s): resolvers may still "
            f"answer with it for {self.ttl - secs} s more"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "group": self.group,
            "published": self.published,
            "unpublished_for_s": None if self.unpublished_for is None else round(self.unpublished_for, 1),
            "ttl": self.ttl,
            "safe_to_delete": self.safe_to_delete,
            "summary": self.line(),
        }


def publications(
    topology: Topology, served: set[str], left_at: Mapping[str, float], now: float
) -> list[Publication]:
    """Per group: served now (any zone), or for how long not, against its records' largest TTL."""
    out = []
    for g in topology.groups:
        ttls = [rs.ttl for rs in desired_state(topology, (g.name,)).all()]
        ttl = max(ttls) if ttls else 0
        since = left_at.get(g.name)
        gone = None if g.name in served or since is None else max(0.0, now - since)
        out.append(Publication(g.name, g.name in served, gone, ttl))
    return out
