"""The audit log: envelope, refusals, concurrent appends, crash tolerance, file location."""

from __future__ import annotations

import json
import multiprocessing
import re
from collections import Counter
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from orchestrator.adapters.files import audit
from orchestrator.adapters.files.audit import EVENT_TYPES, AuditLog, default_audit_log, format_ts, parse_ts

TS_RE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
DOCS = Path(__file__).resolve().parents[2] / "docs" / "audit.md"


@pytest.fixture
def log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AuditLog:
    monkeypatch.setenv("ORCHESTRATOR_USER", "alice@ops")
    return AuditLog(tmp_path / "state" / "audit.jsonl")


def lines(log: AuditLog) -> list[str]:
    return log.path.read_text().splitlines()


def test_event_types_are_the_documented_stable_set() -> None:
    required = {
        "switchover.requested", "lease.acquired", "lease.renewed", "lease.lost", "lease.released",
        "lease.collision", "preflight.passed", "preflight.blocked", "step.started", "step.completed",
        "step.failed", "switchover.completed", "switchover.failed", "switchover.noop",
        "config.changed-since-preview", "rollback.requested", "rollback.completed", "resume.requested",
        "policy.overridden", "active-groups.changed",
    }  # fmt: skip
    assert required <= set(EVENT_TYPES)
    assert len(set(EVENT_TYPES)) == len(EVENT_TYPES)
    assert audit.CONFIG_CHANGED_SINCE_PREVIEW == "config.changed-since-preview"
    assert audit.ACTIVE_GROUPS_CHANGED == "active-groups.changed"


def test_every_event_type_is_documented() -> None:
    text = DOCS.read_text()
    missing = [t for t in EVENT_TYPES if f"`{t}`" not in text]
    assert not missing, f"docs/audit.md does not describe {missing}"


def test_append_writes_one_sorted_json_line_with_the_envelope(log: AuditLog) -> None:
    event = log.append(audit.STEP_COMPLETED, switch_id="sw-20261121T101500Z-a1b2c3", step="flip-dns", n=3)
    assert event["type"] == "step.completed"
    assert event["switch_id"] == "sw-20261121T101500Z-a1b2c3"
    assert event["user"] == "alice@ops"
    assert isinstance(event["pid"], int)
    assert TS_RE.fullmatch(event["ts"])
    assert (event["step"], event["n"]) == ("flip-dns", 3)
    [line] = lines(log)
    assert json.loads(line) == event
    assert list(json.loads(line)) == sorted(event)  # keys sorted on disk
    assert line == json.dumps(event, sort_keys=True, separators=(",", ":"))


def test_switch_id_defaults_to_null(log: AuditLog) -> None:
    event = log.append(audit.LEASE_COLLISION, holder="bob@ops")
    assert event["switch_id"] is None
    assert json.loads(lines(log)[0])["switch_id"] is None


def test_appends_accumulate_and_read_back_in_order(log: AuditLog) -> None:
    log.append(audit.SWITCHOVER_REQUESTED, switch_id="sw-1", to=["group-b"])
    log.append(audit.LEASE_ACQUIRED, switch_id="sw-1", epoch=7)
    log.append(audit.SWITCHOVER_REQUESTED, switch_id="sw-2")
    assert [e["type"] for e in log.read()] == [
        "switchover.requested",
        "lease.acquired",
        "switchover.requested",
    ]
    assert [e["type"] for e in log.read(switch_id="sw-1")] == ["switchover.requested", "lease.acquired"]
    assert [e["switch_id"] for e in log.read(types=[audit.SWITCHOVER_REQUESTED])] == ["sw-1", "sw-2"]
    assert log.read(switch_id="sw-2", types=[audit.LEASE_ACQUIRED]) == []
    assert log.read()[0]["to"] == ["group-b"]


def test_user_falls_back_to_login_at_hostname(log: AuditLog, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ORCHESTRATOR_USER")
    monkeypatch.setattr(audit.getpass, "getuser", lambda: "carol")
    monkeypatch.setattr(audit.socket, "gethostname", lambda: "bastion-1")
    assert log.append(audit.RESUME_REQUESTED)["user"] == "carol@bastion-1"


def test_unknown_event_type_is_refused_and_nothing_written(log: AuditLog) -> None:
    with pytest.raises(ValueError, match="unknown audit event type 'switchover.started'"):
        log.append("switchover.started")
    assert not log.path.exists()
    with pytest.raises(ValueError, match="unknown audit event type"):
        log.read(types=["lease.taken"])


@pytest.mark.parametrize(
    "fields",
    [
        {"password": "hunter2"},
        {"api_key": "abc"},
        {"TSIG_SECRET": "c2VjcmV0"},
        {"demotion_token": "tok"},
        {"server": {"apiKey": "abc"}},
        {"servers": [{"name": "pdns", "tsig": {"secret": "x"}}]},
    ],
)
def test_secret_looking_fields_are_refused(log: AuditLog, fields: dict) -> None:
    with pytest.raises(ValueError, match="looks like a secret"):
        log.append(audit.POLICY_OVERRIDDEN, **fields)
    assert not log.path.exists()


def test_secret_words_with_non_string_values_are_allowed(log: AuditLog) -> None:
    event = log.append(audit.LEASE_RENEWED, token_count=2, key_rotated=True, keys=["a", "b"], password=None)
    assert event["token_count"] == 2 and event["keys"] == ["a", "b"]


def test_envelope_keys_cannot_be_overridden(log: AuditLog) -> None:
    with pytest.raises(ValueError, match="reserved"):
        log.append(audit.LEASE_LOST, user="mallory")
    with pytest.raises(ValueError, match="reserved"):
        log.append(audit.LEASE_LOST, ts="2000-01-01T00:00:00.000Z")


def test_non_json_values_are_refused(log: AuditLog) -> None:
    with pytest.raises(ValueError, match="not plain JSON"):
        log.append(audit.LEASE_LOST, when=object())
    with pytest.raises(ValueError, match="not plain JSON"):
        log.append(audit.LEASE_LOST, ratio=float("nan"))
    assert not log.path.exists()


def test_missing_file_reads_empty(tmp_path: Path) -> None:
    assert AuditLog(tmp_path / "nope.jsonl").read() == []


def test_truncated_last_line_is_skipped(log: AuditLog) -> None:
    log.append(audit.STEP_STARTED, switch_id="sw-1", step="flip-dns")
    log.append(audit.STEP_COMPLETED, switch_id="sw-1", step="flip-dns")
    with open(log.path, "ab") as fh:  # a process killed in the middle of its write
        fh.write(b'{"pid":1,"step":"verify","switch_id":"sw-1","ts":"2026-11-21T10:15:0')
    assert [e["type"] for e in log.read()] == ["step.started", "step.completed"]


def test_append_after_a_crash_fragment_keeps_the_new_line_whole(log: AuditLog) -> None:
    log.append(audit.STEP_STARTED, step="verify")
    with open(log.path, "ab") as fh:
        fh.write(b'{"pid":1,"type":"step.comp')
    log.append(audit.SWITCHOVER_FAILED, error="killed")
    raw = lines(log)
    assert raw[1] == '{"pid":1,"type":"step.comp'
    assert json.loads(raw[2])["type"] == "switchover.failed"
    with pytest.warns(UserWarning, match=r"audit.jsonl:2: skipped an unreadable audit line"):
        events = log.read()
    assert [e["type"] for e in events] == ["step.started", "switchover.failed"]


def test_a_whole_last_line_without_newline_is_kept(log: AuditLog) -> None:
    log.path.parent.mkdir(parents=True)
    log.path.write_text('{"type":"lease.acquired","switch_id":null}')
    assert log.read() == [{"type": "lease.acquired", "switch_id": None}]


def _writer(path: str, worker: int, count: int) -> None:
    log = AuditLog(Path(path))
    # Odd workers write lines longer than PIPE_BUF (4096): only the lock keeps those whole.
    padding = "x" * (6000 if worker % 2 else 10)
    for seq in range(count):
        log.append(audit.LEASE_RENEWED, worker=worker, seq=seq, padding=padding)


def test_concurrent_appends_from_several_processes_never_interleave(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    workers, per_worker = 4, 200
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_writer, args=(str(path), w, per_worker)) for w in range(workers)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    raw = path.read_bytes().split(b"\n")
    assert raw[-1] == b""
    events = [json.loads(line) for line in raw[:-1]]  # every line is valid JSON
    assert len(events) == workers * per_worker
    assert Counter(e["worker"] for e in events) == {w: per_worker for w in range(workers)}
    for w in range(workers):  # each process's lines appear in its own order
        assert [e["seq"] for e in events if e["worker"] == w] == list(range(per_worker))
    assert len(AuditLog(path).read()) == workers * per_worker


def test_default_audit_log_location(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ORCHESTRATOR_AUDIT_LOG", raising=False)
    assert default_audit_log(tmp_path) == tmp_path / ".orchestrator" / "audit.jsonl"
    monkeypatch.setenv("ORCHESTRATOR_AUDIT_LOG", str(tmp_path / "elsewhere.jsonl"))
    assert default_audit_log(tmp_path) == tmp_path / "elsewhere.jsonl"


def test_timestamps_are_utc_with_milliseconds() -> None:
    cet = timezone(timedelta(hours=1))
    assert format_ts(datetime(2026, 11, 21, 11, 15, 0, 123456, tzinfo=cet)) == "2026-11-21T10:15:00.123Z"
    assert format_ts(datetime(2026, 11, 21, 10, 15)) == "2026-11-21T10:15:00.000Z"  # naive means UTC
    assert parse_ts("2026-11-21T10:15:00.123Z") == datetime(2026, 11, 21, 10, 15, 0, 123000, tzinfo=UTC)
    assert parse_ts("2026-11-21T10:15:00") == datetime(2026, 11, 21, 10, 15, tzinfo=UTC)
