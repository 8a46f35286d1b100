"""replicas-healthy: the database pairs after a switch, from readings built here (no servers)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import pytest

from orchestrator.adapters.postgres import pg
from orchestrator.adapters.postgres.measure import ClusterReading, PairReading, Replication, measure
from orchestrator.domain.databases import DatabasePair
from orchestrator.domain.errors import EnvironmentProblem
from orchestrator.services.health import DEFERRED, FALSE, REPLICAS_HEALTHY, TRUE, UNKNOWN, CheckResult
from orchestrator.services.health import checks as C
from tests.unit.test_health import FP, SWITCH_ID, FakeClock, deps, fake_http, run, topo

A_EP = "127.0.0.1:5432"
B_EP = "127.0.0.1:5433"
POSTGRES = {
    "group-a": {"kind": "postgres", "server": "dev"},
    "group-b": {"kind": "postgres", "server": "dev"},
}
CNPG = {
    "group-a": {"kind": "cnpg", "name": "pay-east", "namespace": "db"},
    "group-b": {"kind": "cnpg", "name": "pay-west", "namespace": "db"},
}
FENCED_TEXT = (
    "orders: group-a is fenced (a failover left it behind); rebuild it: "
    "`orchestrator dev rebuild-standby group-a`"
)


def with_pairs(*names_and_clusters: tuple[str, dict]):  # noqa: ANN201
    return topo([{"name": n, "clusters": c} for n, c in names_and_clusters])


ORDERS = with_pairs(("orders", POSTGRES))


def primary(group: str = "group-b", ep: str = B_EP) -> ClusterReading:
    return ClusterReading(group, True, "primary", endpoint=ep)


def standby(group: str = "group-a", ep: str = A_EP, **kw) -> ClusterReading:  # noqa: ANN003
    values = {"receiver_up": True, "sender": B_EP, "lag_bytes": 0, "lag_seconds": 0.0, "replay_paused": False}
    values.update(kw)
    return ClusterReading(group, True, "standby", endpoint=ep, **values)


def fenced(group: str = "group-a", ep: str = A_EP) -> ClusterReading:
    return ClusterReading(
        group, True, "fenced", endpoint=ep, receiver_up=False, lag_bytes=4096, lag_seconds=12.0
    )


def unreachable(group: str = "group-a", ep: str = A_EP) -> ClusterReading:
    return ClusterReading(group, False, "unreachable", "connection refused", ep)


def replication(*pairs: tuple[str, tuple[ClusterReading, ...]]) -> Replication:
    return Replication("2026-01-01T00:00:00.000Z", tuple(PairReading(n, cs) for n, cs in pairs))


class Readings:
    """Hands out a sequence of readings (the last one repeats), counting the calls."""

    def __init__(self, *readings: Replication) -> None:
        self.readings = list(readings)
        self.calls = 0

    def __call__(self, pairs: tuple[DatabasePair, ...]) -> Replication:
        self.calls += 1
        return self.readings[min(self.calls, len(self.readings)) - 1]


def writes(*writable: str, why: str = "cannot execute CREATE TABLE in a read-only transaction"):  # noqa: ANN201
    probed: list[tuple[str, str]] = []

    def probe(pair: DatabasePair, group: str) -> tuple[bool, str]:
        probed.append((pair.name, group))
        return (True, "accepts writes") if group in writable else (False, why)

    probe.probed = probed  # type: ignore[attr-defined]
    return probe


def check(
    read: Callable[[tuple[DatabasePair, ...]], Replication],
    probe: Callable[[DatabasePair, str], tuple[bool, str]] | None = None,
    *,
    topology=ORDERS,  # noqa: ANN001
    to_groups: tuple[str, ...] = ("group-b",),
    clock: FakeClock | None = None,
    **kw,  # noqa: ANN003
) -> CheckResult:
    clock = clock or FakeClock()
    return C.replicas_healthy(
        topology,
        to_groups,
        read=read,
        probe=probe or writes("group-b"),
        clock=clock,
        sleep=clock.sleep,
        **kw,
    )


# --- verdicts ---------------------------------------------------------------------------------


def test_no_pairs_is_deferred_and_touches_no_database() -> None:
    res = C.replicas_healthy(topo(), ("group-b",), read=lambda p: pytest.fail("measured"))
    assert res.status == DEFERRED and "no database pairs in the topology" in res.summary


def test_a_healthy_pair_is_true_and_every_cluster_is_in_the_details() -> None:
    probe = writes("group-b")
    clock = FakeClock()
    res = check(Readings(replication(("orders", (standby(), primary())))), probe, clock=clock)
    assert res.status == TRUE, res.summary
    assert "orders" in res.summary and "primary group-b accepts writes" in res.summary
    assert "group-a streams from it (lag 0 B)" in res.summary
    assert probe.probed == [("orders", "group-b")]  # only primaries get the write probe
    assert clock.t == 1000.0  # healthy at the first reading: no waiting
    assert any(
        d.startswith(f"orders group-a at {A_EP}: standby, receiver up (from {B_EP})") for d in res.details
    )
    assert any(d == f"orders group-b at {B_EP}: primary, accepts writes" for d in res.details)
    pair = res.data["pairs"]["orders"]
    assert pair["status"] == TRUE and pair["expected_primary"] == "group-b"
    assert pair["writes"]["group-b"]["accepted"] is True
    assert res.data["limits"] == {"maxLagBytes": 16 * 1024 * 1024, "maxLagSeconds": 30.0}
    json.dumps(res.to_dict())  # the report keeps it as JSON


def test_the_expected_primary_follows_the_active_set() -> None:
    """Back to group-a: the same reading (primary in group-b) is now wrong."""
    res = check(Readings(replication(("orders", (standby(), primary())))), to_groups=("group-a",), timeout=1)
    assert res.status == FALSE
    assert "orders: group-a should be the primary but is still a standby" in res.summary


def test_a_lagging_standby_is_false_and_the_limit_is_inclusive() -> None:
    limits = C.ReplicaLimits(max_lag_bytes=1000)
    at_limit = Readings(replication(("orders", (standby(lag_bytes=1000), primary()))))
    assert check(at_limit, limits=limits).status == TRUE
    lagging = Readings(
        replication(("orders", (standby(lag_bytes=5 * 1024 * 1024, lag_seconds=40.0), primary())))
    )
    res = check(lagging, limits=limits, timeout=2)
    assert res.status == FALSE
    assert "orders: standby group-a lags 5.0 MiB behind group-b (limit 1000 B)" in res.summary
    assert lagging.calls > 1  # lag may shrink: it was polled until the deadline


def test_the_lag_in_seconds_is_shown_but_not_judged() -> None:
    """An idle primary: a few bytes outstanding, and its last commit long ago."""
    res = check(Readings(replication(("orders", (standby(lag_bytes=120, lag_seconds=3600.0), primary())))))
    assert res.status == TRUE
    assert any("lag 120 B / 3600s" in d for d in res.details)


def test_a_standby_whose_receiver_is_down_is_false() -> None:
    down = standby(receiver_up=False, sender=None, lag_bytes=None, lag_seconds=None)
    res = check(Readings(replication(("orders", (down, primary())))), timeout=3)
    assert res.status == FALSE
    assert "orders: standby group-a is not streaming (its WAL receiver is down)" in res.summary


def test_a_standby_streaming_from_the_wrong_sender_is_false() -> None:
    res = check(Readings(replication(("orders", (standby(sender="127.0.0.1:5999"), primary())))), timeout=3)
    assert res.status == FALSE
    assert f"streams from 127.0.0.1:5999, not from the primary group-b ({B_EP})" in res.summary


def test_a_standby_with_an_unknown_lag_is_never_true() -> None:
    res = check(Readings(replication(("orders", (standby(lag_bytes=None), primary())))), timeout=1)
    assert res.status == UNKNOWN and "the lag of standby group-a cannot be measured" in res.summary


def test_a_fenced_peer_fails_a_planned_check_at_once_and_names_the_rebuild() -> None:
    clock = FakeClock()
    read = Readings(replication(("orders", (fenced(), primary()))))
    res = check(read, clock=clock, failover=False)
    assert res.status == FALSE
    assert FENCED_TEXT in res.summary
    assert read.calls == 1 and clock.t == 1000.0  # waiting does not unfence it


def test_a_fenced_old_primary_is_expected_in_a_failover_verify() -> None:
    res = check(Readings(replication(("orders", (fenced(), primary())))), failover=True)
    assert res.status == TRUE, res.summary
    assert "primary group-b accepts writes" in res.summary and FENCED_TEXT in res.summary
    assert res.data["failover"] is True and FENCED_TEXT in res.details


def test_a_failover_still_needs_a_writable_new_primary() -> None:
    reading = Readings(replication(("orders", (fenced(), primary()))))
    res = check(reading, writes(why="the database system is in recovery mode"), failover=True, timeout=2)
    assert res.status == FALSE
    assert "orders: the primary group-b (127.0.0.1:5433) does not accept writes" in res.summary
    assert "recovery mode" in res.summary


def test_an_unreachable_old_primary_is_expected_in_a_failover_but_not_in_a_planned_switch() -> None:
    reading = replication(("orders", (unreachable(), primary())))
    res = check(Readings(reading), failover=True)
    assert res.status == TRUE
    assert "group-a is unreachable, expected after a failover" in res.summary
    clock = FakeClock()
    res = check(Readings(reading), clock=clock, failover=False, timeout=5)
    assert (
        res.status == FALSE and "orders: standby group-a is unreachable (connection refused)" in res.summary
    )
    assert clock.t >= 1005.0  # it may come back: polled until the deadline


def test_two_writable_primaries_are_a_split_brain_named_at_once() -> None:
    read = Readings(replication(("orders", (primary("group-a", A_EP), primary()))))
    res = check(read, writes("group-a", "group-b"))
    assert res.status == FALSE
    assert "orders: split brain: group-a and group-b both accept writes" in res.summary
    assert "keep group-b" in res.summary and "`orchestrator dev rebuild-standby group-a`" in res.summary
    assert read.calls == 1
    # Even a failover does not excuse a second writer.
    assert check(read, writes("group-a", "group-b"), failover=True).status == FALSE


def test_a_second_primary_that_refuses_writes_is_not_a_split_brain_but_still_false() -> None:
    res = check(Readings(replication(("orders", (primary("group-a", A_EP), primary())))), timeout=1)
    assert res.status == FALSE and "split brain" not in res.summary
    assert "group-a is a primary that refuses writes" in res.summary


def test_an_unreachable_primary_is_false_after_the_deadline() -> None:
    clock = FakeClock()
    read = Readings(
        replication(("orders", (standby(receiver_up=False, sender=None), unreachable("group-b", B_EP))))
    )
    res = check(read, clock=clock, timeout=30)
    assert res.status == FALSE
    assert (
        "orders: group-b, which should hold the primary, is unreachable (connection refused)" in res.summary
    )
    assert 1030.0 <= clock.t < 1031.0  # polled for the whole deadline, no longer
    assert read.calls == res.data["attempts"] > 2


def test_a_fenced_target_is_never_promoted() -> None:
    res = check(
        Readings(replication(("orders", (standby("group-a", A_EP, sender=None), fenced("group-b", B_EP)))))
    )
    assert res.status == FALSE
    assert "group-b should hold the primary but is fenced" in res.summary
    assert "`orchestrator dev rebuild-standby group-b`" in res.summary


def test_cnpg_pairs_are_unknown_never_true() -> None:
    topology = with_pairs(("payments", CNPG))
    unmeasured = tuple(
        ClusterReading(g, False, "unmeasured", "not measured locally (CloudNativePG)")
        for g in ("group-a", "group-b")
    )
    probe = writes("group-a", "group-b")
    res = check(Readings(replication(("payments", unmeasured))), probe, topology=topology)
    assert res.status == UNKNOWN
    assert "payments: not measured from here: check the CloudNativePG cluster status" in res.summary
    assert "db/pay-east" in res.summary and probe.probed == []


def test_a_healthy_local_pair_and_a_cnpg_pair_is_unknown_and_names_both() -> None:
    topology = with_pairs(("orders", POSTGRES), ("payments", CNPG))
    unmeasured = tuple(ClusterReading(g, False, "unmeasured") for g in ("group-a", "group-b"))
    read = Readings(replication(("orders", (standby(), primary())), ("payments", unmeasured)))
    res = check(read, topology=topology)
    assert res.status == UNKNOWN
    assert res.summary.startswith("payments: not measured from here") and "healthy: orders:" in res.summary
    assert read.calls == 1  # nothing to wait for


# --- waiting for the old primary to follow ----------------------------------------------------


def test_the_check_polls_until_the_old_primary_reconnects_within_the_deadline() -> None:
    reconnecting = standby(receiver_up=False, sender=None, lag_bytes=None, lag_seconds=None)
    following_old = standby(sender=A_EP)  # still pointed at itself's old upstream
    good = standby()
    read = Readings(
        replication(("orders", (reconnecting, primary()))),
        replication(("orders", (reconnecting, primary()))),
        replication(("orders", (following_old, primary()))),
        replication(("orders", (good, primary()))),
    )
    clock = FakeClock()
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock.sleep(seconds)

    res = C.replicas_healthy(
        ORDERS, ("group-b",), read=read, probe=writes("group-b"), clock=clock, sleep=sleep, timeout=30
    )
    assert res.status == TRUE, res.summary
    assert read.calls == 4 and slept == [C.REPLICA_POLL_INTERVAL] * 3  # polled, never one long sleep
    assert res.data["attempts"] == 4 and res.data["waited_s"] == pytest.approx(1.5)
    assert "(after 1.5s, 4 readings)" in res.summary


def test_a_reading_that_crashes_is_retried_and_an_environment_problem_is_not() -> None:
    calls: list[int] = []

    def flaky(pairs: tuple[DatabasePair, ...]) -> Replication:
        calls.append(1)
        if len(calls) < 3:
            raise RuntimeError("terminating connection due to administrator command")
        return replication(("orders", (standby(), primary())))

    assert check(flaky).status == TRUE and len(calls) == 3

    def no_env(pairs: tuple[DatabasePair, ...]) -> Replication:
        calls.append(1)
        raise EnvironmentProblem(
            "the local environment has no PostgreSQL instance for group-b", "", "run dev up"
        )

    calls.clear()
    res = check(no_env)
    assert res.status == UNKNOWN and "no PostgreSQL instance for group-b" in res.summary and len(calls) == 1

    def always(pairs: tuple[DatabasePair, ...]) -> Replication:
        raise RuntimeError("boom")

    res = check(always, timeout=2)
    assert res.status == UNKNOWN and "boom" in res.summary and res.data["attempts"] > 1


def test_a_write_probe_that_crashes_proves_nothing() -> None:
    def explode(pair: DatabasePair, group: str) -> tuple[bool, str]:
        raise OSError("socket closed")

    res = check(Readings(replication(("orders", (standby(), primary())))), explode, timeout=1)
    assert res.status == FALSE and "socket closed" in res.summary


# --- the reading from measure(), with the server calls replaced --------------------------------


def test_a_reading_from_measure_is_judged_like_the_live_pair(monkeypatch: pytest.MonkeyPatch) -> None:
    """measure()'s endpoint and sender use the same host:port form the check compares."""
    eps = {
        "group-a": pg.Endpoint("127.0.0.1", 5432, "u", "p"),
        "group-b": pg.Endpoint("127.0.0.1", 5433, "u", "p"),
    }
    by_port = {5432: "group-a", 5433: "group-b"}
    monkeypatch.setattr(pg, "role", lambda ep: pg.Role(by_port[ep.port] == "group-a", False, 2, "7"))
    monkeypatch.setattr(pg, "current_lsn", lambda ep: 0x3000100)
    monkeypatch.setattr(
        pg,
        "standby_state",
        lambda ep: pg.StandbyState(0x3000100, 0x3000000, "streaming", B_EP, False, 2.0),
    )
    pair = ORDERS.databases[0]
    reading = measure([pair], locate=lambda p, g: eps[g], fenced=lambda p, g: False)
    res = check(lambda pairs: reading)
    assert res.status == TRUE and "lag 256 B" in res.summary
    marked = measure([pair], locate=lambda p, g: eps[g], fenced=lambda p, g: g == "group-a")
    assert FENCED_TEXT in check(lambda pairs: marked).summary


# --- thresholds -------------------------------------------------------------------------------


def pack(tmp_path: Path, config: dict) -> Path:
    (tmp_path / "policy").mkdir()
    (tmp_path / "policy" / "PulumiPolicy.yaml").write_text("runtime: python\n")
    (tmp_path / "policy" / "config.json").write_text(json.dumps(config))
    return tmp_path


def test_the_lag_limit_comes_from_the_policy_pack(tmp_path: Path) -> None:
    root = pack(
        tmp_path,
        {"replica-caught-up": {"enforcementLevel": "mandatory", "maxLagBytes": 4096, "maxLagSeconds": 5}},
    )
    assert C.replica_limits(root) == C.ReplicaLimits(4096, 5.0)


def test_the_lag_limit_defaults_without_the_policy_or_with_a_bad_value(tmp_path: Path) -> None:
    root = pack(tmp_path, {"ttl-ceiling": {"enforcementLevel": "advisory"}})
    assert C.replica_limits(root) == C.ReplicaLimits(16 * 1024 * 1024, 30.0)
    (root / "policy" / "config.json").write_text(json.dumps({"replica-caught-up": {"maxLagBytes": "lots"}}))
    assert C.replica_limits(root).max_lag_bytes == 16 * 1024 * 1024
    (root / "policy" / "config.json").write_text("{not json")
    assert C.replica_limits(root) == C.ReplicaLimits()


# --- threaded through the run and the verify step ---------------------------------------------


def run_with(tmp_path: Path, reading: Replication, **kw):  # noqa: ANN003, ANN201
    d = dataclasses.replace(
        deps(FakeClock()), replication=Readings(reading), write_probe=writes("group-b"), replica_timeout=1.0
    )
    return run(tmp_path, d, topology=ORDERS, save=False, **kw)


def test_run_checks_passes_failover_and_the_deps_to_replicas_healthy(tmp_path: Path) -> None:
    reading = replication(("orders", (fenced(), primary())))
    planned = run_with(tmp_path, reading)
    assert planned.check(REPLICAS_HEALTHY).status == FALSE
    assert planned.condition.status == FALSE and FENCED_TEXT in planned.condition.message
    failover = run_with(tmp_path, reading, failover=True)
    assert failover.check(REPLICAS_HEALTHY).status == TRUE
    assert FENCED_TEXT in failover.check(REPLICAS_HEALTHY).summary


def verify(tmp_path: Path, mode: str, reading: Replication, lines: list[str]):  # noqa: ANN201
    from orchestrator.services.switch import verify as V

    stacks = tmp_path / "stacks"
    stacks.mkdir(exist_ok=True)
    (stacks / "Pulumi.e2e.yaml").write_text(
        "config:\n  orchestrator:topology: {}\n  orchestrator:health:\n    verifyDelay: 0\n"
        "    vantages: [{name: powerdns, address: 127.0.0.1, port: 5300, zones: [app.example.test]}]\n"
    )
    record = SimpleNamespace(
        id=SWITCH_ID, from_groups=("group-a",), to_groups=("group-b",), fingerprint=FP, mode=mode
    )
    d = dataclasses.replace(
        deps(FakeClock(), http=fake_http({})),
        replication=Readings(reading),
        write_probe=writes("group-b"),
        replica_timeout=1.0,
    )
    return V.verify_switch(tmp_path, "e2e", record, ORDERS, lines.append, deps=d, sleep=lambda s: None)


def test_the_verify_step_of_a_failover_expects_the_fenced_old_primary(tmp_path: Path) -> None:
    from orchestrator.services.switch.verify import HealthCheckFailed

    reading = replication(("orders", (fenced(), primary())))
    lines: list[str] = []
    report = verify(tmp_path, "failover", reading, lines)
    assert report.check(REPLICAS_HEALTHY).status == TRUE
    assert any(
        "replicas-healthy" in line and "True" in line and "group-a is fenced" in line for line in lines
    )
    with pytest.raises(HealthCheckFailed) as err:
        verify(tmp_path, "planned", reading, [])
    assert FENCED_TEXT in err.value.why
