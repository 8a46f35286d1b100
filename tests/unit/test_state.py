"""The team's shared store, without servers: backend choice, URLs without passwords, version
numbers, the one-truth rule of the active set and its adoption by a resume. (The PostgreSQL
journal and audit log themselves run against a real server in tests/e2e/test_team.py.)"""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
import yaml

from orchestrator.adapters.files.audit import AuditLog, audit_for
from orchestrator.adapters.files.journal import Journal, SwitchRecord, journal_for
from orchestrator.adapters.state import PgAuditLog, PgJournal
from orchestrator.adapters.state import history as state_history
from orchestrator.adapters.state.activeset import (
    adopt_recorded,
    recorded_active,
    require_current,
    stale_checkout_error,
)
from orchestrator.adapters.state.backend import conninfo, redacted, shared_backend_url
from orchestrator.adapters.state.history import number_versions
from orchestrator.adapters.state.migrate import FileBucket, PgBucket, resolve
from orchestrator.devenv import statedb
from orchestrator.devenv.spec import DevSpec
from orchestrator.domain.errors import EXIT_CONFLICT, ConflictError, UsageError

URL = "postgres://orchestrator@127.0.0.1:5432/orchestrator_state?sslmode=disable"
FP = "0123456789abcdef"
STEPS = ["acquire-lease", "preflight", "flip-dns", "cleanup-inactive", "verify", "release-lease"]


def test_the_backend_url_picks_the_store(monkeypatch, tmp_path):
    monkeypatch.delenv("PULUMI_BACKEND_URL", raising=False)
    assert shared_backend_url() is None
    assert type(journal_for(tmp_path)) is Journal and type(audit_for(tmp_path)) is AuditLog
    monkeypatch.setenv("PULUMI_BACKEND_URL", (tmp_path / "state").as_uri())
    assert shared_backend_url() is None, "a file:// backend keeps the files"
    monkeypatch.setenv("PULUMI_BACKEND_URL", URL)
    assert shared_backend_url() == URL
    assert isinstance(journal_for(tmp_path), PgJournal) and isinstance(audit_for(tmp_path), PgAuditLog)


def test_conninfo_drops_pulumis_table_parameter_and_redacted_hides_a_password():
    info = conninfo(URL + "&table=my_state")
    assert "table=" not in info and "sslmode=disable" in info and "connect_timeout=" in info
    assert info.startswith("postgresql://orchestrator@127.0.0.1:5432/orchestrator_state?")
    assert redacted("postgres://u:s3cret@h:1/db") == "postgres://u:***@h:1/db"
    assert redacted(URL) == URL


def test_the_state_database_url_carries_no_password_and_the_pgpass_file_is_private(tmp_path):
    superuser, password = statedb.ensure_secrets(tmp_path)
    assert superuser != password and len(password) >= 32
    url = statedb.backend_url(5433)
    assert password not in url and superuser not in url
    assert url == "postgres://orchestrator@127.0.0.1:5433/orchestrator_state?sslmode=disable"
    pgpass = statedb.pgpass_file(tmp_path)
    assert pgpass.read_text() == f"127.0.0.1:*:orchestrator_state:orchestrator:{password}\n"
    assert stat.S_IMODE(pgpass.stat().st_mode) == 0o600
    assert statedb.ensure_secrets(tmp_path) == (superuser, password), "generated once"


def test_the_dev_spec_remembers_the_state_database():
    spec = DevSpec(state_db=True)
    assert DevSpec.from_dict(spec.to_dict()).state_db is True
    assert DevSpec.from_dict({}).state_db is False


def test_diy_updates_are_numbered_by_their_place_in_the_history():
    updates = [{"version": 0, "message": m} for m in ("third", "second", "first")]  # newest first
    assert [u["version"] for u in number_versions(updates)] == [3, 2, 1]
    cloud = [{"version": 7}, {"version": 6}]
    assert [u["version"] for u in number_versions(cloud)] == [7, 6], "a backend's own numbers stay"
    assert number_versions([]) == []


def test_the_whole_history_is_read_page_by_page(monkeypatch, tmp_path):
    # `pulumi stack history` stops at 10 updates unless given a page size: versions counted
    # from a truncated history would be wrong (11 updates once numbered themselves 10..1).
    total = state_history.PAGE * 2 + 3
    asked: list[tuple[int, int]] = []

    class Selected:
        def history(self, page_size: int, page: int) -> list[int]:
            asked.append((page_size, page))
            start = (page - 1) * page_size
            return list(range(total))[start : start + page_size]

    class Project:
        def __init__(self, root: Path, stack: str) -> None:
            pass

        def stack(self) -> Selected:
            return Selected()

    monkeypatch.setattr(state_history, "ProjectStack", Project)
    assert state_history.all_summaries(tmp_path, "s") == list(range(total))
    assert [page for _, page in asked] == [1, 2, 3]


def test_move_resolves_backends_and_refuses_others(tmp_path):
    assert resolve(tmp_path, "file") == (tmp_path / ".pulumi-state").as_uri()
    assert resolve(tmp_path, URL) == URL
    with pytest.raises(UsageError, match="cannot take part"):
        resolve(tmp_path, "s3://bucket")
    assert PgBucket(URL).prefix == "orchestrator_state/"
    assert PgBucket(URL + "&table=t").table == "t"


def test_the_file_bucket_reads_objects_and_skips_metadata_sidecars(tmp_path):
    bucket = FileBucket(tmp_path)
    bucket.write(".pulumi/history/p/s/s-1.history.json", b"{}")
    (tmp_path / ".pulumi/history/p/s/s-1.history.json.attrs").write_bytes(b"meta")
    assert bucket.read_prefix(".pulumi/history/p/s/") == {".pulumi/history/p/s/s-1.history.json": b"{}"}
    assert bucket.read_prefix(".pulumi/history/p/s/s-1.history.json") == {
        ".pulumi/history/p/s/s-1.history.json": b"{}"
    }
    assert bucket.read_prefix(".pulumi/nothing/") == {}


# -- one truth for the active set ---------------------------------------------------------------


def project(tmp_path: Path, active: list[str]) -> Path:
    (tmp_path / "Pulumi.yaml").write_text("name: orchestrator\nruntime: python\n")
    (tmp_path / "stacks").mkdir(exist_ok=True)
    doc = {"config": {"orchestrator:activeGroups": active, "orchestrator:topology": {"ttl": 30}}}
    (tmp_path / "stacks" / "Pulumi.local.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    return tmp_path


def switched(
    journal: Journal, to: str, *, through: str | None = None, status: str = "completed"
) -> SwitchRecord:
    """A switch that completed every step up to and including `through` (all of them by default)."""
    frm = "group-a" if to == "group-b" else "group-b"
    record = journal.create("local", "switch", [frm], [to], FP, "planned", STEPS, holder=f"ann@host1:42/{to}")
    for step in STEPS:
        journal.start_step(record, step)
        journal.complete_step(record, step)
        if step == through:
            break
    if status == "completed" and through is None:
        journal.finish(record, "completed")
    return record


def test_the_newest_flipped_switch_is_the_truth(tmp_path):
    journal = Journal(tmp_path / "journal")
    assert recorded_active(journal.list("local")) is None
    first = switched(journal, "group-b")
    assert recorded_active(journal.list("local")).id == first.id
    switched(journal, "group-a", through="preflight")  # killed before its flip: not live
    assert recorded_active(journal.list("local")).id == first.id
    flipped = switched(journal, "group-a", through="flip-dns")  # killed after its flip: live
    assert recorded_active(journal.list("local")).id == flipped.id


def test_a_stale_checkout_is_refused_naming_the_switch_and_who_ran_it(tmp_path):
    root = project(tmp_path, ["group-a"])
    journal = Journal(tmp_path / ".orchestrator" / "journal")
    require_current("local", root, journal)  # no switch yet: nothing to disagree with
    record = switched(journal, "group-b")
    with pytest.raises(ConflictError) as err:
        require_current("local", root, journal)
    text = err.value.render()
    assert record.id in text and "ann@host1:42" in text and "git pull" in text and "group-b" in text
    assert err.value.exit_code == EXIT_CONFLICT
    project(tmp_path, ["group-b"])  # pulled
    require_current("local", root, journal)


def test_the_check_is_off_for_the_file_backend(tmp_path, monkeypatch):
    monkeypatch.delenv("PULUMI_BACKEND_URL", raising=False)
    root = project(tmp_path, ["group-a"])
    switched(Journal(tmp_path / ".orchestrator" / "journal"), "group-b")
    require_current("local", root)  # the file backend has one checkout: its file is the truth


def test_a_resume_adopts_the_flipped_active_set_once_and_audits_it(tmp_path):
    root = project(tmp_path, ["group-a"])
    journal = Journal(tmp_path / "journal")
    audit = AuditLog(tmp_path / "audit.jsonl")
    before = switched(journal, "group-b", through="preflight")
    assert adopt_recorded(root, "local", before, audit) is False, "not flipped: the resume flips itself"
    record = switched(journal, "group-b", through="flip-dns")
    assert adopt_recorded(root, "local", record, audit) is True
    doc = yaml.safe_load((root / "stacks" / "Pulumi.local.yaml").read_text())
    assert doc["config"]["orchestrator:activeGroups"] == ["group-b"]
    assert adopt_recorded(root, "local", record, audit) is False, "already says so"
    events = audit.read(types=["active-groups.changed"])
    assert len(events) == 1 and events[0]["adopted_by_resume"] is True and events[0]["switch_id"] == record.id


def test_stale_error_says_what_why_and_fix():
    record = SwitchRecord(
        id="sw-20261121T101500Z-a1b2c3",
        stack="local",
        kind="switch",
        from_groups=("group-a",),
        to_groups=("group-b",),
        fingerprint=FP,
        mode="planned",
        status="completed",
        created_at="2026-11-21T10:15:00.000Z",
        updated_at="2026-11-21T10:16:00.000Z",
        holder="bob@laptop:7/sw-20261121T101500Z-a1b2c3",
    )
    err = stale_checkout_error("local", ["group-a"], record)
    assert err.what and err.why and err.fix
    assert "bob@laptop" in err.what and "undo" in err.why
