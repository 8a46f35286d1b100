"""Publish rules, the observers' quorum and the watch loop, with fakes (no servers, milliseconds)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from orchestrator.domain.errors import EXIT_CONFLICT, ConfigError
from orchestrator.domain.publish import (
    DOWN,
    UNKNOWN,
    UP,
    AutoSwitch,
    Block,
    Verdict,
    aggregate,
    decide,
    failover_paths,
    observe,
    parse_watch_settings,
)
from orchestrator.domain.topology import load_topology
from orchestrator.ports.watch import Probe, StackView, SwitchResult, Unfinished
from orchestrator.services.watch.loop import (
    RECOVERY_MEASURED,
    WATCH_BLOCKED,
    WATCH_DECISION,
    WATCH_LEASE_BUSY,
    WATCH_NO_QUORUM,
    WATCH_RESUMED,
    Watcher,
    acknowledge,
)
from orchestrator.services.watch.metrics import WatchMetrics


def topo(extra_b: bool = False):  # noqa: ANN201
    ep = {"a": ["10.0.0.1"], "health": {"port": 80, "path": "/h"}}
    b_eps = {"www.example.test": {"a": ["10.0.1.1"], "health": {"port": 80, "path": "/h"}}}
    if extra_b:
        b_eps["shop.example.test"] = {"a": ["10.0.1.2"]}
    return load_topology(
        {
            "zones": [{"name": "example.test", "provider": "powerdns", "settings": {"server": "dev"}}],
            "groups": {
                "group-a": {"endpoints": {"www.example.test": ep}},
                "group-b": {"endpoints": b_eps},
            },
        }
    )


FAILOVER = {
    "groups": {
        "group-a": {"publish": "always", "republish": True},
        "group-b": {"publish": "when-others-unhealthy"},
    },
    "observers": 3,
    "failures": 2,
    "interval": 1,
    "antiFlap": 600,
}


def settings(raw: dict | None = None, **over: Any):  # noqa: ANN201
    return parse_watch_settings({**(FAILOVER if raw is None else raw), **over}, topo())


# --- settings ----------------------------------------------------------------------------------


def test_settings_default_to_a_majority_quorum_and_always() -> None:
    s = settings()
    assert (s.observers, s.quorum, s.failures) == (3, 2, 2)
    assert [(r.group, r.strategy, r.republish) for r in s.rules] == [
        ("group-a", "always", True),
        ("group-b", "when-others-unhealthy", False),
    ]


@pytest.mark.parametrize(
    ("raw", "key", "why"),
    [
        ({"groups": {"group-z": {"publish": "always"}}}, "orchestrator:watch.groups.group-z", "not a group"),
        (
            {"groups": {"group-b": {"publish": "sometimes"}}},
            "orchestrator:watch.groups.group-b.publish",
            "unknown publish rule",
        ),
        (
            {"groups": {"group-a": {"republish": "yes"}}},
            "orchestrator:watch.groups.group-a.republish",
            "true or false",
        ),
        ({"observers": 1, "quorum": 2}, "orchestrator:watch.quorum", "cannot be reached"),
        ({"interval": -1}, "orchestrator:watch.interval", "must be a number"),
        ({"colour": 1}, "orchestrator:watch.colour", "unknown setting"),
        (
            {
                "groups": {
                    "group-a": {"publish": "when-no-other-records"},
                    "group-b": {"publish": "when-others-unhealthy"},
                }
            },
            "orchestrator:watch.groups",
            "no group is `always`",
        ),
    ],
)
def test_bad_settings_name_the_key(raw: dict, key: str, why: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_watch_settings(raw, topo())
    assert err.value.key == key and why in err.value.why


# --- one observer ------------------------------------------------------------------------------


def test_an_observer_calls_a_group_down_only_after_consecutive_failures() -> None:
    counts, verdicts = observe({}, {"group-a": False, "group-b": True}, 2)
    assert counts == {"group-a": 1, "group-b": 0} and verdicts == {"group-a": UNKNOWN, "group-b": UP}
    counts, verdicts = observe(counts, {"group-a": False, "group-b": None}, 2)
    assert verdicts == {"group-a": DOWN, "group-b": UNKNOWN} and counts["group-a"] == 2
    counts, verdicts = observe(counts, {"group-a": True, "group-b": True}, 2)
    assert counts["group-a"] == 0 and verdicts["group-a"] == UP


def v(observer: str, at: float, **groups: str) -> Verdict:
    return Verdict(observer, at, {k.replace("_", "-"): s for k, s in groups.items()})


def test_the_quorum_counts_only_fresh_verdicts() -> None:
    s = settings()
    views = aggregate(
        [v("o1", 100, group_a=DOWN), v("o2", 100, group_a=DOWN), v("o3", 0, group_a=DOWN)],
        ["group-a"],
        s,
        100,
    )
    assert views["group-a"].state == DOWN and views["group-a"].down == ("o1", "o2")
    views = aggregate([v("o1", 100, group_a=DOWN), v("o3", 0, group_a=DOWN)], ["group-a"], s, 100)
    assert views["group-a"].state == UNKNOWN


# --- decisions ---------------------------------------------------------------------------------


def views_of(now: float, *verdicts: Verdict, s=None):  # noqa: ANN001, ANN201
    return aggregate(list(verdicts), ["group-a", "group-b"], s or settings(), now)


def test_failover_when_every_active_group_is_down_by_quorum() -> None:
    views = views_of(10, v("o1", 10, group_a=DOWN, group_b=UP), v("o2", 10, group_a=DOWN, group_b=UP))
    d = decide(settings(), topo(), ("group-a",), views, block=None, last_auto=None, now=10)
    assert d.action == "switch" and d.kind == "failover" and d.to_groups == ("group-b",)


def test_one_observer_alone_changes_nothing_and_says_why() -> None:
    views = views_of(
        10,
        v("o1", 10, group_a=DOWN, group_b=UP),
        v("o2", 10, group_a=UP, group_b=UP),
        v("o3", 10, group_a=UP, group_b=UP),
    )
    d = decide(settings(), topo(), ("group-a",), views, block=None, last_auto=None, now=10)
    assert d.action == "no-quorum" and not d.moves
    assert "1 of 3" in d.reason and "o1" in d.reason and "quorum 2" in d.reason


def test_no_failover_when_the_standby_is_not_up() -> None:
    views = views_of(10, v("o1", 10, group_a=DOWN, group_b=DOWN), v("o2", 10, group_a=DOWN, group_b=DOWN))
    d = decide(settings(), topo(), ("group-a",), views, block=None, last_auto=None, now=10)
    assert d.action == "none" and "no `when-others-unhealthy` group is up" in d.reason


def test_the_anti_flap_block_holds_the_switch_and_says_how_to_lift_it() -> None:
    views = views_of(10, v("o1", 10, group_a=DOWN, group_b=UP), v("o2", 10, group_a=DOWN, group_b=UP))
    block = Block("sw-1", 5, 1000, "automatic failover")
    d = decide(settings(), topo(), ("group-a",), views, block=block, last_auto=None, now=10)
    assert d.action == "blocked" and "watch ack" in d.reason and "sw-1" in d.reason
    lapsed = decide(settings(), topo(), ("group-a",), views, block=block, last_auto=None, now=2000)
    assert lapsed.action == "switch"


@pytest.mark.parametrize("republish", [True, False])
def test_failback_follows_republish(republish: bool) -> None:
    s = settings(
        {
            **FAILOVER,
            "groups": {**FAILOVER["groups"], "group-a": {"publish": "always", "republish": republish}},
        }
    )
    views = views_of(10, v("o1", 10, group_a=UP, group_b=UP), v("o2", 10, group_a=UP, group_b=UP), s=s)
    last = AutoSwitch("sw-1", 1, ("group-a",), ("group-b",), "failover")
    d = decide(s, topo(), ("group-b",), views, block=None, last_auto=last, now=10)
    if republish:
        assert d.action == "switch" and d.kind == "failback" and d.to_groups == ("group-a",)
    else:
        assert d.action == "none"


def test_migration_steps_back_once_another_group_publishes_everything() -> None:
    t = topo(extra_b=True)
    s = parse_watch_settings(
        {"groups": {"group-a": {"publish": "when-no-other-records"}, "group-b": {"publish": "always"}}}, t
    )
    views = aggregate([v("o1", 10, group_a=UP, group_b=UP)], ["group-a", "group-b"], s, 10)
    d = decide(s, t, ("group-a", "group-b"), views, block=None, last_auto=None, now=10)
    assert d.action == "switch" and d.kind == "migration" and d.to_groups == ("group-b",)
    # group-a alone: nobody else publishes its hostnames, it stays.
    d = decide(s, t, ("group-a",), views, block=None, last_auto=None, now=10)
    assert d.action == "none"


def test_failover_paths_are_the_standby_groups() -> None:
    assert failover_paths(settings(), ("group-a",)) == [("group-b",)]
    assert failover_paths(settings(), ("group-b",)) == []


# --- the loop, with fakes ----------------------------------------------------------------------


@dataclass
class FakeBoard:
    others: list[Verdict] = field(default_factory=list)
    mine: dict[str, Verdict] = field(default_factory=dict)
    blk: Block | None = None
    last: AutoSwitch | None = None

    def verdicts(self) -> list[Verdict]:
        return [*self.others, *self.mine.values()]

    def publish(self, verdict: Verdict) -> None:
        self.mine[verdict.observer] = verdict

    def withdraw(self, observer: str) -> None:
        self.mine.pop(observer, None)

    def block(self) -> Block | None:
        return self.blk

    def set_block(self, block: Block) -> None:
        self.blk = block

    def clear_block(self) -> None:
        self.blk = None

    def last_auto(self) -> AutoSwitch | None:
        return self.last

    def set_last_auto(self, last: AutoSwitch) -> None:
        self.last = last


@dataclass
class FakeSwitches:
    results: list[SwitchResult] = field(default_factory=list)
    calls: list[tuple[str, tuple[str, ...], bool]] = field(default_factory=list)
    pending: Unfinished | None = None
    dry_blockers: tuple[str, ...] = ()

    def dry_run(self, to_groups: tuple[str, ...], *, failover: bool) -> SwitchResult:
        self.calls.append(("dry-run", to_groups, failover))
        return SwitchResult(7 if self.dry_blockers else 0, blockers=self.dry_blockers)

    def switch(self, to_groups: tuple[str, ...], *, failover: bool, reason: str) -> SwitchResult:
        self.calls.append(("switch", to_groups, failover))
        return self.results.pop(0) if self.results else SwitchResult(0, "sw-new")

    def resume(self) -> SwitchResult:
        self.calls.append(("resume", (), False))
        self.pending = None
        return SwitchResult(0)

    def unfinished(self) -> Unfinished | None:
        return self.pending


@dataclass
class FakeAudit:
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def append(self, event_type: str, **fields: Any) -> None:
        self.events.append((event_type, fields))

    def types(self) -> list[str]:
        return [t for t, _ in self.events]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def watcher(
    healthy: dict[str, bool], board: FakeBoard, switches: FakeSwitches, active=("group-a",), clock=None
):  # noqa: ANN001, ANN201
    t = topo()
    s = settings()
    return Watcher(
        stack="local",
        observer="o1",
        read_stack=lambda: StackView(t, active, s),
        prober=lambda topology, groups: {g: Probe(healthy[g], "fake") for g in groups},
        board=board,
        executor=switches,
        audit=FakeAudit(),
        metrics=WatchMetrics("local"),
        clock=clock or Clock(),
        echo=lambda m: None,
    )


def test_the_loop_fails_over_after_the_quorum_then_blocks_further_switches() -> None:
    clock = Clock()
    board = FakeBoard(others=[v("o2", 1000, group_a=DOWN, group_b=UP)])
    switches = FakeSwitches(dry_blockers=("replica-caught-up: the primary does not answer: use --failover",))
    w = watcher({"group-a": False, "group-b": True}, board, switches, clock=clock)
    assert w.round().action == "no-quorum"  # one failure of two needed: this observer not yet down
    clock.now += 1
    board.others = [v("o2", clock.now, group_a=DOWN, group_b=UP)]
    d = w.round()
    assert d.action == "switch" and ("switch", ("group-b",), True) in switches.calls  # --failover chosen
    assert board.blk is not None and board.blk.switch_id == "sw-new"
    assert board.last == AutoSwitch("sw-new", clock.now, ("group-a",), ("group-b",), "failover")
    types = w.audit.types()  # type: ignore[attr-defined]
    assert WATCH_DECISION in types and RECOVERY_MEASURED in types and WATCH_BLOCKED in types
    recovery = next(f for t, f in w.audit.events if t == RECOVERY_MEASURED)  # type: ignore[attr-defined]
    assert recovery["detection_s"] == 1.0 and recovery["within_rto"] is True
    assert w.metrics.registry.get_sample_value("orchestrator_watch_blocked", {"stack": "local"}) == 1
    assert (
        w.metrics.registry.get_sample_value(
            "orchestrator_watch_automatic_switches_total",
            {"stack": "local", "kind": "failover", "result": "completed"},
        )
        == 1
    )


def test_counters_start_at_zero() -> None:
    m = WatchMetrics("local")
    assert (
        m.registry.get_sample_value(
            "orchestrator_watch_automatic_switches_total",
            {"stack": "local", "kind": "failback", "result": "failed"},
        )
        == 0
    )
    assert (
        m.registry.get_sample_value(
            "orchestrator_watch_decisions_total", {"stack": "local", "action": "switch"}
        )
        == 0
    )


def test_a_held_lease_is_recorded_once_and_retried_while_the_rule_holds() -> None:
    clock = Clock()
    board = FakeBoard(others=[v("o2", clock.now, group_a=DOWN, group_b=UP)])
    busy = SwitchResult(EXIT_CONFLICT, None, "error: the lease is held by alice@ops:42/sw-x until 12:00")
    switches = FakeSwitches(results=[busy, busy])
    w = watcher({"group-a": False, "group-b": True}, board, switches, clock=clock)
    w.failures = {"group-a": 5}
    w.round()
    clock.now += 1
    board.others = [v("o2", clock.now, group_a=DOWN, group_b=UP)]
    w.round()
    busy_events = [f for t, f in w.audit.events if t == WATCH_LEASE_BUSY]  # type: ignore[attr-defined]
    assert len(busy_events) == 1 and "alice@ops" in busy_events[0]["reason"]
    assert board.blk is None  # nothing switched, nothing blocked
    clock.now += 1
    board.others = [v("o2", clock.now, group_a=DOWN, group_b=UP)]
    assert w.round().action == "switch" and board.blk is not None  # released: the rule still holds


def test_no_quorum_is_recorded_once_with_its_evidence() -> None:
    board = FakeBoard(others=[v("o2", 1000, group_a=UP, group_b=UP), v("o3", 1000, group_a=UP, group_b=UP)])
    switches = FakeSwitches()
    w = watcher({"group-a": False, "group-b": True}, board, switches)
    w.failures = {"group-a": 5}
    w.round()
    w.round()
    events = [f for t, f in w.audit.events if t == WATCH_NO_QUORUM]  # type: ignore[attr-defined]
    assert len(events) == 1 and "1 of 3" in events[0]["reason"]
    assert not [c for c in switches.calls if c[0] == "switch"]


def test_an_unfinished_switch_of_watch_is_resumed_before_anything_else() -> None:
    switches = FakeSwitches(pending=Unfinished("sw-old", "watch.o1@h:1/sw-old", ("group-b",), True, False))
    w = watcher({"group-a": True, "group-b": True}, FakeBoard(), switches)
    assert w.round() is None
    assert switches.calls == [("resume", (), False)] and WATCH_RESUMED in w.audit.types()  # type: ignore[attr-defined]
    # A person's interrupted switch is theirs to resume.
    switches = FakeSwitches(pending=Unfinished("sw-p", "alice@h:1/sw-p", ("group-b",), False, False))
    w = watcher({"group-a": True, "group-b": True}, FakeBoard(), switches)
    assert w.round() is not None and switches.calls[:1] != [("resume", (), False)]


def test_readiness_exports_each_failover_path_and_its_blockers() -> None:
    switches = FakeSwitches(dry_blockers=("replica-caught-up: group-b does not answer",))
    w = watcher({"group-a": True, "group-b": True}, FakeBoard(), switches)
    out = w.check_readiness([("group-b",)])
    assert out == {"group-b": ("replica-caught-up: group-b does not answer",)}
    reg = w.metrics.registry
    assert reg.get_sample_value("orchestrator_failover_ready", {"stack": "local", "to_group": "group-b"}) == 0
    switches.dry_blockers = ()
    w.check_readiness([("group-b",)])
    assert reg.get_sample_value("orchestrator_failover_ready", {"stack": "local", "to_group": "group-b"}) == 1
    assert (
        reg.get_sample_value(
            "orchestrator_failover_blocker_info",
            {
                "stack": "local",
                "to_group": "group-b",
                "blocker": "replica-caught-up: group-b does not answer",
            },
        )
        is None
    )


def test_ack_lifts_the_block_and_is_audited() -> None:
    board = FakeBoard(blk=Block("sw-1", 1, 99999, "automatic failover"))
    audit = FakeAudit()
    lifted = acknowledge(board, audit, "local", "alice", "group-a checked")
    assert lifted is not None and lifted.switch_id == "sw-1" and board.blk is None
    assert audit.events[0][1]["reason"] == "group-a checked"


def test_every_watch_metric_is_listed_typed_and_documented() -> None:
    from pathlib import Path

    from prometheus_client import generate_latest
    from prometheus_client.parser import text_string_to_metric_families

    from orchestrator.services.watch.metrics import WATCH_METRIC_NAMES

    m = WatchMetrics("local")
    m.rules(settings().rules, 120)
    m.readiness("group-b", ["x"], 1.0)
    m.recovered({"total": 1.0}, 120)
    m.block(5.0)
    m.views({}, [("o1", {"group-a": DOWN})])
    m.group_state.labels("local", "group-a").set(1)
    families = {f.name: f.type for f in text_string_to_metric_families(generate_latest(m.registry).decode())}
    names = {
        (n + "_total" if t == "counter" else n): t for n, t in families.items() if not n.endswith("_created")
    }
    assert names == WATCH_METRIC_NAMES
    doc = (Path(__file__).resolve().parents[2] / "docs" / "watch.md").read_text()
    assert [n for n in WATCH_METRIC_NAMES if f"`{n}`" not in doc] == []
