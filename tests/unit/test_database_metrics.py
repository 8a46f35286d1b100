"""orchestrator_database_*: per-pair metrics from a live reading (readings built here, no servers)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from orchestrator.adapters.files import audit as ev
from orchestrator.adapters.files.audit import AuditLog
from orchestrator.adapters.postgres.measure import ClusterReading, PairReading, Replication
from orchestrator.domain.databases import DatabasePair
from orchestrator.services.metrics import (
    METRIC_NAMES,
    AuditFold,
    DatabaseObserver,
    Metrics,
    Publisher,
    StackMetrics,
    database_series,
)
from tests.unit.test_database_health import (
    A_EP,
    B_EP,
    CNPG,
    POSTGRES,
    fenced,
    primary,
    standby,
    unreachable,
    with_pairs,
)
from tests.unit.test_metrics import live_of

DB_METRICS = (
    "orchestrator_database_primary_info",
    "orchestrator_database_replication_lag_bytes",
    "orchestrator_database_replication_lag_seconds",
    "orchestrator_database_wal_receiver_up",
    "orchestrator_database_fenced",
)
TWO = with_pairs(("orders", POSTGRES), ("payments", CNPG))
ORDERS_ONLY = with_pairs(("orders", POSTGRES))
# A second local pair cannot share the dev instances (the topology refuses it); readings are
# built here anyway, so a CloudNativePG-shaped pair stands in for it.
BILLING = {
    "group-a": {"kind": "cnpg", "name": "bill-east", "namespace": "db"},
    "group-b": {"kind": "cnpg", "name": "bill-west", "namespace": "db"},
}


def value(m: Metrics, name: str, pair: str, group: str) -> float | None:
    return m.registry.get_sample_value(name, {"pair": pair, "group": group})


def samples(m: Metrics, name: str) -> dict[tuple[str, str], float]:
    out = {}
    for fam in m.registry.collect():
        for s in fam.samples:
            if s.name == name:
                out[(s.labels["pair"], s.labels["group"])] = s.value
    return out


def reading(pair: str, *clusters: ClusterReading) -> Replication:
    return Replication("2026-01-01T00:00:00.000Z", (PairReading(pair, clusters),))


UNMEASURED = tuple(ClusterReading(g, False, "unmeasured") for g in ("group-a", "group-b"))


def measurer(by_pair: dict[str, object]):  # noqa: ANN201
    """(pairs) -> the reading for that one pair, or raise what by_pair holds for it."""
    calls: list[tuple[str, ...]] = []

    def measure(pairs: tuple[DatabasePair, ...]) -> Replication:
        calls.append(tuple(p.name for p in pairs))
        got = by_pair[pairs[0].name]
        if isinstance(got, Exception):
            raise got
        return got  # type: ignore[return-value]

    measure.calls = calls  # type: ignore[attr-defined]
    return measure


def test_the_database_metrics_are_declared_gauges() -> None:
    for name in DB_METRICS:
        assert METRIC_NAMES[name] == "gauge"


def test_a_healthy_pair_shows_its_primary_the_standby_lag_and_receiver() -> None:
    m = Metrics()
    obs = DatabaseObserver(
        m,
        lambda: ORDERS_ONLY,
        measurer({"orders": reading("orders", standby(lag_bytes=2048, lag_seconds=1.5), primary())}),
    )
    obs.observe()
    assert samples(m, "orchestrator_database_primary_info") == {
        ("orders", "group-a"): 0.0,
        ("orders", "group-b"): 1.0,
    }
    # Lag and receiver: standbys only.
    assert samples(m, "orchestrator_database_replication_lag_bytes") == {("orders", "group-a"): 2048.0}
    assert samples(m, "orchestrator_database_replication_lag_seconds") == {("orders", "group-a"): 1.5}
    assert samples(m, "orchestrator_database_wal_receiver_up") == {("orders", "group-a"): 1.0}
    assert samples(m, "orchestrator_database_fenced") == {
        ("orders", "group-a"): 0.0,
        ("orders", "group-b"): 0.0,
    }


def test_an_unknown_lag_is_absent_never_zero() -> None:
    m = Metrics()
    down = standby(receiver_up=False, sender=None, lag_bytes=None, lag_seconds=None)
    DatabaseObserver(
        m, lambda: ORDERS_ONLY, measurer({"orders": reading("orders", down, primary())})
    ).observe()
    assert value(m, "orchestrator_database_replication_lag_bytes", "orders", "group-a") is None
    assert value(m, "orchestrator_database_replication_lag_seconds", "orders", "group-a") is None
    assert value(m, "orchestrator_database_wal_receiver_up", "orders", "group-a") == 0
    assert value(m, "orchestrator_database_primary_info", "orders", "group-b") == 1
    # A caught-up standby does report 0: known, and zero.
    caught_up = standby(lag_bytes=0, lag_seconds=0.0)
    DatabaseObserver(
        m, lambda: ORDERS_ONLY, measurer({"orders": reading("orders", caught_up, primary())})
    ).observe()
    assert value(m, "orchestrator_database_replication_lag_bytes", "orders", "group-a") == 0


def test_a_fenced_cluster_is_flagged_and_has_no_standby_series() -> None:
    m = Metrics()
    DatabaseObserver(
        m, lambda: ORDERS_ONLY, measurer({"orders": reading("orders", fenced(), primary())})
    ).observe()
    assert value(m, "orchestrator_database_fenced", "orders", "group-a") == 1
    assert value(m, "orchestrator_database_fenced", "orders", "group-b") == 0
    assert value(m, "orchestrator_database_primary_info", "orders", "group-a") == 0
    assert value(m, "orchestrator_database_replication_lag_bytes", "orders", "group-a") is None
    assert value(m, "orchestrator_database_wal_receiver_up", "orders", "group-a") is None


def test_an_unreachable_cluster_is_not_primary_and_its_fencing_is_unknown() -> None:
    series = database_series(PairReading("orders", (unreachable("group-b", B_EP), standby(sender=None))))
    assert series.primary == {("orders", "group-b"): 0, ("orders", "group-a"): 0}
    assert ("orders", "group-b") not in series.fenced
    assert series.fenced == {("orders", "group-a"): 0}


def test_split_brain_shows_two_primaries() -> None:
    series = database_series(PairReading("orders", (primary("group-a", A_EP), primary())))
    assert sum(series.primary.values()) == 2


def test_a_cnpg_pair_measured_elsewhere_has_no_series() -> None:
    m = Metrics()
    measure = measurer(
        {
            "orders": reading("orders", standby(), primary()),
            "payments": reading("payments", *UNMEASURED),
        }
    )
    DatabaseObserver(m, lambda: TWO, measure).observe()
    assert measure.calls == [("orders",), ("payments",)]  # one pair at a time
    for name in DB_METRICS:
        assert not [k for k in samples(m, name) if k[0] == "payments"], name
    assert value(m, "orchestrator_database_primary_info", "orders", "group-b") == 1


def test_a_pair_whose_measurement_fails_is_dropped_and_logged_the_others_stay(
    caplog: pytest.LogCaptureFixture,
) -> None:
    m = Metrics()
    both = with_pairs(("orders", POSTGRES), ("billing", BILLING))
    state: dict[str, object] = {
        "orders": reading("orders", standby(), primary()),
        "billing": reading("billing", standby(), primary()),
    }
    obs = DatabaseObserver(m, lambda: both, measurer(state))
    obs.observe()
    assert value(m, "orchestrator_database_primary_info", "billing", "group-b") == 1
    state["billing"] = RuntimeError("permission denied for function pg_current_wal_lsn")
    with caplog.at_level(logging.WARNING, logger="orchestrator.services.metrics"):
        obs.observe()
    assert "billing" in caplog.text and "permission denied" in caplog.text
    assert obs.failed == ("billing",)
    for name in DB_METRICS:
        assert not [k for k in samples(m, name) if k[0] == "billing"], name  # absent, not stale
    assert value(m, "orchestrator_database_primary_info", "orders", "group-b") == 1
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="orchestrator.services.metrics"):
        obs.observe()
    assert "billing" not in caplog.text  # logged once per outage, not at every scrape


def test_a_topology_that_cannot_be_loaded_clears_the_database_series() -> None:
    m = Metrics()
    state = {"broken": False}

    def load():  # noqa: ANN202
        if state["broken"]:
            raise OSError("stack file gone")
        return ORDERS_ONLY

    obs = DatabaseObserver(m, load, measurer({"orders": reading("orders", standby(), primary())}))
    obs.observe()
    assert samples(m, "orchestrator_database_primary_info")
    state["broken"] = True
    obs.observe()
    assert samples(m, "orchestrator_database_primary_info") == {}


def test_a_switch_moves_the_primary_series() -> None:
    m = Metrics()
    state = {"r": reading("orders", primary("group-a", A_EP), standby("group-b", B_EP, sender=A_EP))}
    obs = DatabaseObserver(m, lambda: ORDERS_ONLY, lambda pairs: state["r"])
    obs.observe()
    assert value(m, "orchestrator_database_primary_info", "orders", "group-a") == 1
    assert value(m, "orchestrator_database_wal_receiver_up", "orders", "group-b") == 1
    state["r"] = reading("orders", standby(), primary())
    obs.observe()
    assert samples(m, "orchestrator_database_primary_info") == {
        ("orders", "group-a"): 0.0,
        ("orders", "group-b"): 1.0,
    }
    # The old standby series is gone, not left at its last value.
    assert samples(m, "orchestrator_database_wal_receiver_up") == {("orders", "group-a"): 1.0}


def test_observations_closer_than_max_age_are_reused() -> None:
    m = Metrics()
    measure = measurer({"orders": reading("orders", standby(), primary())})
    t = [0.0]
    obs = DatabaseObserver(m, lambda: ORDERS_ONLY, measure, clock=lambda: t[0])
    obs.observe(max_age=5)
    obs.observe(max_age=5)
    assert len(measure.calls) == 1
    t[0] = 6.0
    obs.observe(max_age=5)
    assert len(measure.calls) == 2


# --- collected with the live zones ----------------------------------------------------------


def project(tmp_path: Path) -> Path:
    (tmp_path / "stacks").mkdir()
    (tmp_path / "stacks" / "Pulumi.e2e.yaml").write_text(
        json.dumps({"config": {"orchestrator:topology": {}}})
    )
    return tmp_path


def test_stack_metrics_measure_the_pairs_only_on_live_refreshes(tmp_path: Path) -> None:
    measure = measurer({"orders": reading("orders", standby(), primary())})
    sm = StackMetrics(project(tmp_path), "e2e", audit_path=tmp_path / "audit.jsonl")
    sm.live.load = lambda: ORDERS_ONLY
    sm.live.read = lambda t: live_of(("group-b",), ("group-b",))
    sm.databases.measure = measure
    sm.refresh(live=False)
    assert measure.calls == []
    sm.refresh(live=True, max_age=0)
    assert measure.calls == [("orders",)]
    assert value(sm.metrics, "orchestrator_database_primary_info", "orders", "group-b") == 1


def test_the_default_observer_shares_the_live_zone_topology(tmp_path: Path) -> None:
    sm = StackMetrics(project(tmp_path), "e2e", audit_path=tmp_path / "audit.jsonl")
    sm.live.load = lambda: ORDERS_ONLY
    assert sm.databases.load() is ORDERS_ONLY


def test_the_textfile_carries_the_database_metrics(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = project(tmp_path)
    monkeypatch.setenv("ORCHESTRATOR_AUDIT_LOG", str(tmp_path / "audit.jsonl"))
    path = tmp_path / "textfile" / "orchestrator.prom"
    pub = Publisher(root, "e2e", path)
    sm = pub._metrics()
    sm.live.load = lambda: ORDERS_ONLY
    sm.live.read = lambda t: live_of(("group-b",), ("group-b",))
    sm.databases.measure = measurer(
        {"orders": reading("orders", standby(lag_bytes=None, receiver_up=False, sender=None), primary())}
    )
    pub.publish(live=True)
    found = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for fam in text_string_to_metric_families(path.read_text())
        for s in fam.samples
    }
    assert found[("orchestrator_database_primary_info", (("group", "group-b"), ("pair", "orders")))] == 1
    assert found[("orchestrator_database_wal_receiver_up", (("group", "group-a"), ("pair", "orders")))] == 0
    assert not [k for k in found if k[0] == "orchestrator_database_replication_lag_bytes"]


# --- the database steps in the step-duration metric -------------------------------------------


def test_demote_and_promote_durations_are_recorded_like_every_step(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ORCHESTRATOR_USER", "alice@ops")
    log = AuditLog(tmp_path / "audit.jsonl")
    sid = "sw-20260101T000000Z-abcdef"
    log.append(ev.SWITCHOVER_REQUESTED, switch_id=sid, stack="prod", to_groups=["group-b"])
    log.append(ev.STEP_COMPLETED, switch_id=sid, step="demote-primary", duration_s=1.25)
    log.append(ev.STEP_COMPLETED, switch_id=sid, step="promote-primary", duration_s=2.5)
    m = Metrics()
    AuditFold(m, log.path).sync()
    for step, seconds in (("demote-primary", 1.25), ("promote-primary", 2.5)):
        labels = {"stack": "prod", "step": step}
        assert (
            m.registry.get_sample_value("orchestrator_switchover_last_step_duration_seconds", labels)
            == seconds
        )
        assert m.registry.get_sample_value("orchestrator_switchover_step_duration_seconds_count", labels) == 1
