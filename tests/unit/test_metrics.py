"""Metrics: the audit fold, the live-zone view and cleanup counter, health, the textfile (no servers)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from orchestrator.adapters.files import audit as ev
from orchestrator.adapters.files.audit import AuditLog
from orchestrator.domain.desired import desired_state
from orchestrator.domain.records import RecordSet
from orchestrator.interfaces.wiring import real_parts
from orchestrator.services.metrics import (
    METRIC_NAMES,
    AuditFold,
    LiveZoneObserver,
    Metrics,
    Publisher,
    live_view,
    publisher,
    update_health,
)
from tests.unit.test_health import topo

DOCS = Path(__file__).resolve().parents[2] / "docs" / "metrics.md"
SID = "sw-20260101T000000Z-abcdef"
SID2 = "sw-20260101T000100Z-123456"
HOSTS = ("www.app.example.test", "shop.app.example.test", "api.svc.example.test")


def value(m: Metrics, name: str, **labels: str) -> float | None:
    return m.registry.get_sample_value(name, labels)


@pytest.fixture
def log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AuditLog:
    monkeypatch.setenv("ORCHESTRATOR_USER", "alice@ops")
    return AuditLog(tmp_path / "audit.jsonl")


def fold(log: AuditLog) -> tuple[Metrics, AuditFold]:
    m = Metrics()
    return m, AuditFold(m, log.path)


# --- the audit fold --------------------------------------------------------------------------


def test_a_switch_in_the_audit_log_becomes_counters_histograms_and_gauges(log: AuditLog) -> None:
    m, f = fold(log)
    log.append(ev.SWITCHOVER_REQUESTED, switch_id=SID, stack="prod", to_groups=["group-b"])
    log.append(ev.LEASE_ACQUIRED, switch_id=SID, holder="alice", epoch=42)
    log.append(ev.STEP_COMPLETED, switch_id=SID, step="acquire-lease", duration_s=0.4)
    log.append(ev.STEP_COMPLETED, switch_id=SID, step="flip-dns", duration_s=4.5)
    assert f.sync() == 4
    f.settle()
    assert value(m, "orchestrator_switchover_in_progress", stack="prod") == 1
    assert value(m, "orchestrator_lease_held", stack="prod") == 1
    assert value(m, "orchestrator_lease_epoch", stack="prod") == 42
    assert (
        value(m, "orchestrator_switchover_last_step_duration_seconds", stack="prod", step="flip-dns") == 4.5
    )
    assert (
        value(
            m, "orchestrator_switchover_step_duration_seconds_bucket", stack="prod", step="flip-dns", le="5.0"
        )
        == 1
    )
    log.append(ev.LEASE_RELEASED, switch_id=SID, epoch=42)
    log.append(ev.SWITCHOVER_COMPLETED, switch_id=SID, to_groups=["group-b"])
    assert f.sync() == 2  # only what was appended since
    f.settle()
    assert value(m, "orchestrator_switchovers_total", stack="prod", result="completed") == 1
    assert value(m, "orchestrator_switchover_in_progress", stack="prod") == 0
    assert value(m, "orchestrator_lease_held", stack="prod") == 0
    assert value(m, "orchestrator_switchover_duration_seconds_count", stack="prod", result="completed") == 1
    assert value(m, "orchestrator_switchover_last_success_timestamp_seconds", stack="prod") > 1.7e9


def test_failures_noops_and_collisions_are_counted_by_stack(log: AuditLog) -> None:
    m, f = fold(log)
    log.append(ev.SWITCHOVER_REQUESTED, switch_id=SID, stack="prod")
    log.append(ev.LEASE_COLLISION, switch_id=SID, holder="bob", expires_at=1.0)
    log.append(ev.SWITCHOVER_FAILED, switch_id=SID, error="lease held")
    log.append(ev.SWITCHOVER_NOOP, stack="prod", to_groups=["group-a"])
    log.append(ev.RESUME_REQUESTED, switch_id=SID2, next_step="verify")  # stack from the journal
    f.stack_of = lambda sid: "staging" if sid == SID2 else None
    f.sync()
    assert value(m, "orchestrator_lease_collisions_total", stack="prod") == 1
    assert value(m, "orchestrator_switchovers_total", stack="prod", result="failed") == 1
    assert value(m, "orchestrator_switchovers_total", stack="prod", result="noop") == 1
    assert value(m, "orchestrator_switchover_in_progress", stack="staging") == 1


def test_the_fold_waits_for_a_whole_line_and_survives_truncation(log: AuditLog) -> None:
    m, f = fold(log)
    log.append(ev.SWITCHOVER_NOOP, stack="prod")
    with log.path.open("ab") as fh:
        fh.write(b'{"type":"switchover.noop","stack":"prod"')  # a writer mid-line
    assert f.sync() == 1
    with log.path.open("ab") as fh:
        fh.write(b',"ts":"2026-01-01T00:00:00.000Z"}\n')
    assert f.sync() == 1
    assert value(m, "orchestrator_switchovers_total", stack="prod", result="noop") == 2
    log.path.write_text("")  # rotated away
    log.append(ev.SWITCHOVER_NOOP, stack="prod")
    assert f.sync() == 1
    assert value(m, "orchestrator_switchovers_total", stack="prod", result="noop") == 3


def test_a_lease_nobody_renews_is_not_held_after_its_expiry(log: AuditLog) -> None:
    m, f = fold(log)
    log.append(ev.SWITCHOVER_REQUESTED, switch_id=SID, stack="prod")
    log.append(ev.LEASE_ACQUIRED, switch_id=SID, epoch=3)
    f.sync()
    start = f.leases["prod"].expires_at - f.lease_ttl
    f.settle(now=start + 10)
    assert value(m, "orchestrator_lease_held", stack="prod") == 1
    f.settle(now=start + f.lease_ttl + 1)  # the process died: the lease lapsed
    assert value(m, "orchestrator_lease_held", stack="prod") == 0
    log.append(ev.LEASE_RENEWED, switch_id=SID, epoch=3, expires_at=start + 1000)
    f.sync()
    f.settle(now=start + 500)
    assert value(m, "orchestrator_lease_held", stack="prod") == 1


# --- the live zones --------------------------------------------------------------------------


def live_of(active: tuple[str, ...], registry_groups: tuple[str, ...]) -> dict[str, RecordSet]:
    """What the servers serve: records and TXT of `active`, registry entries of `registry_groups`."""
    t = topo()
    served = desired_state(t, active)
    owned = desired_state(t, registry_groups)
    out = {}
    for rs in (*served.record_sets, *served.active_groups_txt, *owned.registry):
        out[rs.key] = RecordSet(rs.zone, rs.name, rs.type, rs.ttl, rs.values)
    return out


def test_live_view_marks_the_group_that_serves_each_record() -> None:
    t = topo()
    before = live_view(t, live_of(("group-a",), ("group-a",)))
    for host in HOSTS:
        zone = host.split(".", 1)[1]
        assert before.series[(host, zone, "group-a")] == 1
        assert before.series[(host, zone, "group-b")] == 0
    after = live_view(t, live_of(("group-b",), ("group-a", "group-b")))  # flipped, not cleaned up
    assert all(after.series[(h, h.split(".", 1)[1], "group-b")] == 1 for h in HOSTS)
    assert all(after.series[(h, h.split(".", 1)[1], "group-a")] == 0 for h in HOSTS)
    # The zone says group-b is active but still serves group-a: neither is "active" (drift shows).
    drift = live_of(("group-a",), ("group-a",))
    for key, rec in list(drift.items()):
        if "kuadrant-active-groups" in key:
            drift[key] = RecordSet(rec.zone, rec.name, rec.type, rec.ttl, ("version=1;groups=group-b",))
    assert set(live_view(t, drift).series.values()) == {0}


def observer(state: dict) -> tuple[Metrics, LiveZoneObserver]:
    m = Metrics()

    def read(topology):  # noqa: ANN001, ANN202
        if state.get("down"):
            raise OSError("PowerDNS unreachable")
        return state["live"]

    return m, LiveZoneObserver(m, "e2e", topo, read)


def test_the_cleanup_counter_rises_when_inactive_registry_entries_disappear() -> None:
    state = {"live": live_of(("group-a",), ("group-a",))}
    m, obs = observer(state)
    obs.observe()
    labels = {"dns_record_name": "www.app.example.test", "zone": "app.example.test"}
    assert value(m, "dns_record_group_active", **labels, group="group-a") == 1
    assert value(m, "dns_record_group_info", **labels, group="group-b") == 1
    state["live"] = live_of(("group-b",), ("group-a", "group-b"))  # after flip-dns
    obs.observe()
    assert value(m, "dns_record_group_active", **labels, group="group-b") == 1
    assert (
        value(m, "orchestrator_inactive_group_registry_entries", zone="app.example.test", group="group-a")
        == 2
    )
    assert value(m, "dns_record_inactive_group_cleanup_total", **labels, group="group-a") is None
    state["live"] = live_of(("group-b",), ("group-b",))  # after cleanup-inactive
    obs.observe()
    for host in HOSTS:
        zone = host.split(".", 1)[1]
        got = value(
            m, "dns_record_inactive_group_cleanup_total", dns_record_name=host, zone=zone, group="group-a"
        )
        assert got == 1, host
    assert (
        value(m, "orchestrator_inactive_group_registry_entries", zone="app.example.test", group="group-a")
        is None
    )
    obs.observe()  # nothing new disappeared
    assert value(m, "dns_record_inactive_group_cleanup_total", **labels, group="group-a") == 1


def test_an_unreadable_zone_clears_the_record_metrics_and_says_so() -> None:
    state = {"live": live_of(("group-a",), ("group-a",))}
    m, obs = observer(state)
    obs.observe()
    assert value(m, "orchestrator_live_zone_up", stack="e2e") == 1
    state["down"] = True
    assert obs.observe() is None
    assert value(m, "orchestrator_live_zone_up", stack="e2e") == 0
    assert (
        value(
            m, "dns_record_group_active", dns_record_name=HOSTS[0], zone="app.example.test", group="group-a"
        )
        is None
    )


def test_observations_closer_than_max_age_are_reused() -> None:
    calls = []
    m = Metrics()
    obs = LiveZoneObserver(m, "e2e", topo, lambda t: calls.append(1) or live_of(("group-a",), ("group-a",)))
    obs.observe(max_age=60)
    obs.observe(max_age=60)
    assert len(calls) == 1
    obs.observe(max_age=0)
    assert len(calls) == 2


# --- health ---------------------------------------------------------------------------------


def test_health_status_is_a_state_set_per_check(tmp_path: Path) -> None:
    from orchestrator.services.health import CheckResult, Condition, HealthReport, save_report

    checks = (
        CheckResult("replicas-healthy", "Deferred", "no databases"),
        CheckResult("dns-probes", "True", "ok"),
        CheckResult("latency-normal", "False", "503"),
        CheckResult("audit-posted", "True", "ok"),
    )
    report = HealthReport(
        "e2e",
        SID,
        "0" * 16,
        ("group-a",),
        ("group-b",),
        "2026-01-01T00:00:00.000Z",
        "2026-01-01T00:00:05.000Z",
        checks,
        Condition("False", "CheckFailed", "latency-normal False: 503"),
    )
    save_report(tmp_path, report)
    m = Metrics()
    update_health(m, tmp_path, "e2e", real_parts())
    assert (
        value(m, "orchestrator_health_check_status", stack="e2e", check="latency-normal", status="False") == 1
    )
    assert (
        value(m, "orchestrator_health_check_status", stack="e2e", check="latency-normal", status="True") == 0
    )
    assert value(m, "orchestrator_last_switchover_healthy", stack="e2e", status="False") == 1
    assert value(m, "orchestrator_last_switchover_healthy", stack="e2e", status="True") == 0
    assert value(m, "orchestrator_health_checked_timestamp_seconds", stack="e2e") == 1767225605.0


# --- the textfile -----------------------------------------------------------------------------


def project(tmp_path: Path) -> Path:
    (tmp_path / "stacks").mkdir()
    (tmp_path / "stacks" / "Pulumi.e2e.yaml").write_text(
        json.dumps({"config": {"orchestrator:topology": {}}})
    )
    return tmp_path


def test_no_textfile_is_written_unless_configured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ORCHESTRATOR_METRICS_TEXTFILE", raising=False)
    pub = publisher(tmp_path, "e2e")
    assert not pub.enabled
    pub.publish(live=True)
    assert list(tmp_path.iterdir()) == []


def test_the_textfile_carries_the_fold_and_keeps_the_cleanup_counter_rising(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = project(tmp_path)
    monkeypatch.setenv("ORCHESTRATOR_AUDIT_LOG", str(tmp_path / "audit.jsonl"))
    monkeypatch.setenv("ORCHESTRATOR_USER", "alice@ops")
    path = tmp_path / "textfile" / "orchestrator.prom"
    AuditLog(tmp_path / "audit.jsonl").append(ev.SWITCHOVER_REQUESTED, switch_id=SID, stack="e2e")
    AuditLog(tmp_path / "audit.jsonl").append(ev.SWITCHOVER_COMPLETED, switch_id=SID)
    state = {"live": live_of(("group-a",), ("group-a",))}
    first = Publisher(root, "e2e", path)
    first._metrics().live.read = lambda t: state["live"]
    first._metrics().live.load = topo
    first.publish(live=True)
    state["live"] = live_of(("group-b",), ("group-b",))
    first.publish(live=True)
    text = path.read_text()
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for fam in text_string_to_metric_families(text)
        for s in fam.samples
    }
    assert samples[("orchestrator_switchovers_total", (("result", "completed"), ("stack", "e2e")))] == 1
    key = (
        "dns_record_inactive_group_cleanup_total",
        (("dns_record_name", HOSTS[0]), ("group", "group-a"), ("zone", "app.example.test")),
    )
    assert samples[key] == 1
    # The next one-shot run starts from the previous file: the counter does not fall back.
    second = Publisher(root, "e2e", path)
    second._metrics().live.read = lambda t: state["live"]
    second._metrics().live.load = topo
    second.publish(live=True)
    again = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for fam in text_string_to_metric_families(path.read_text())
        for s in fam.samples
    }
    assert again[key] == 1
    assert not [p for p in path.parent.iterdir() if p != path]  # written atomically, no leftovers


def test_a_broken_publisher_never_raises(tmp_path: Path) -> None:
    pub = Publisher(tmp_path / "no-project", "e2e", tmp_path / "x.prom")
    pub.publish(live=True)  # no stack file, no audit log: logged, not raised


# --- names ------------------------------------------------------------------------------------


def exposition_names(m: Metrics) -> set[str]:
    names = set()
    for fam in m.registry.collect():
        kind = fam.type
        names.add(fam.name + ("_total" if kind == "counter" else ""))
    return names


def test_metric_names_are_the_documented_set() -> None:
    m = Metrics()
    assert exposition_names(m) == set(METRIC_NAMES)
    for fam in m.registry.collect():
        full = fam.name + ("_total" if fam.type == "counter" else "")
        assert METRIC_NAMES[full] == fam.type, full
    text = DOCS.read_text()
    missing = [n for n in METRIC_NAMES if f"`{n}`" not in text]
    assert not missing, f"docs/metrics.md does not describe {missing}"


def test_kuadrant_compatible_names_and_labels() -> None:
    m = Metrics()
    m.group_info.labels("www.example.com", "example.com", "group-a").set(1)
    m.group_active.labels("www.example.com", "example.com", "group-a").set(1)
    m.cleanup.labels("www.example.com", "example.com", "group-a").inc()
    text = m.render()[0].decode()
    for name in (
        "dns_record_group_info",
        "dns_record_group_active",
        "dns_record_inactive_group_cleanup_total",
    ):
        assert re.search(
            rf'^{name}\{{dns_record_name="www.example.com",group="group-a",zone="example.com"\}} 1.0$',
            text,
            re.M,
        ), name


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool (Debian prometheus) is not installed")
def test_promtool_accepts_the_exposition() -> None:
    m = Metrics()
    m.group_info.labels("www.example.com", "example.com", "group-a").set(1)
    m.switchovers.labels("prod", "completed").inc()
    m.duration.labels("prod", "completed").observe(12)
    m.step_duration.labels("prod", "flip-dns").observe(4)
    m.health_status.labels("prod", "dns-probes", "True").set(1)
    proc = subprocess.run(
        ["promtool", "check", "metrics"], input=m.render()[0], capture_output=True, timeout=60
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_openmetrics_is_served_when_asked_for() -> None:
    body, content_type = Metrics().render("application/openmetrics-text; version=1.0.0")
    assert content_type.startswith("application/openmetrics-text") and body.endswith(b"# EOF\n")
    body, content_type = Metrics().render(None)
    assert content_type.startswith("text/plain")
