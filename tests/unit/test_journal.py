"""The switch journal: ids, atomic saves, step transitions, resume and supersede rules."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from orchestrator.adapters.files import journal as journal_module
from orchestrator.adapters.files.journal import Journal, SwitchRecord, journal_dir, new_switch_id, next_step
from orchestrator.domain.errors import EXIT_USAGE, OrchestratorError, UsageError

STEPS = ["acquire-lease", "preflight", "lower-ttl", "flip-dns", "verify", "release-lease"]
FP = "0123456789abcdef"


class FakeClock:
    """Time stands still until a test moves it."""

    def __init__(self) -> None:
        self.now = datetime(2026, 11, 21, 10, 15, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def journal(tmp_path: Path, clock: FakeClock) -> Journal:
    return Journal(tmp_path / "journal", clock=clock)


def make(journal: Journal, clock: FakeClock, stack: str = "local", **kw) -> SwitchRecord:
    clock.advance(60)  # every record a minute after the previous one
    args = {"kind": "switch", "from_groups": ["group-a"], "to_groups": ["group-b"], "mode": "planned"}
    args.update(kw)
    return journal.create(stack, fingerprint=FP, steps=STEPS, **args)


def run_all(journal: Journal, record: SwitchRecord, status: str = "completed") -> SwitchRecord:
    while (name := next_step(record)) is not None:
        journal.start_step(record, name)
        journal.complete_step(record, name)
    return journal.finish(record, status) if status == "completed" else record


# -- ids and files ---------------------------------------------------------------------------


def test_switch_ids_carry_utc_time_and_sort() -> None:
    early = new_switch_id(datetime(2026, 11, 21, 10, 15, tzinfo=UTC))
    later = new_switch_id(datetime(2026, 11, 21, 11, 15, 1, tzinfo=UTC))
    assert early.startswith("sw-20261121T101500Z-") and len(early) == len("sw-20261121T101500Z-a1b2c3")
    assert journal_module.is_switch_id(early)
    assert early < later
    assert journal_module.is_switch_id("sw-20261121T101500Z-a1b2c3")
    assert not journal_module.is_switch_id("sw-20261121T101500Z-a1b2c")
    assert not journal_module.is_switch_id("../sw-20261121T101500Z-a1b2c3")


def test_journal_dir_is_under_the_state_dir(tmp_path: Path) -> None:
    assert journal_dir(tmp_path) == tmp_path / ".orchestrator" / "journal"
    assert Journal.for_root(tmp_path).directory == tmp_path / ".orchestrator" / "journal"


def test_create_saves_a_running_record_with_pending_steps(journal: Journal, clock: FakeClock) -> None:
    record = make(journal, clock, holder="alice@ops", epoch=4)
    assert record.id.startswith("sw-20261121T101600Z-")
    assert (record.status, record.kind, record.mode) == ("running", "switch", "planned")
    assert (record.from_groups, record.to_groups) == (("group-a",), ("group-b",))
    assert record.created_at == record.updated_at == "2026-11-21T10:16:00.000Z"
    assert (record.holder, record.epoch, record.rollback_of, record.error) == ("alice@ops", 4, None, None)
    assert [(s.name, s.status) for s in record.steps] == [(n, "pending") for n in STEPS]
    on_disk = json.loads(journal.path(record.id).read_text())
    assert (
        on_disk["format"] == 1
        and on_disk["from_groups"] == ["group-a"]
        and on_disk["steps"][0]
        == {
            "name": "acquire-lease",
            "status": "pending",
            "started_at": None,
            "finished_at": None,
            "duration_s": None,
            "detail": None,
        }
    )
    assert journal.load(record.id) == record


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"kind": "swap"}, "kind 'swap'"),
        ({"mode": "yolo"}, "mode 'yolo'"),
        ({"fingerprint": "0123"}, "not 16 hex"),
        ({"fingerprint": "0123456789ABCDEF"}, "not 16 hex"),
        ({"steps": []}, "at least one step"),
        ({"steps": ["a", "a"]}, "repeat"),
        ({"rollback_of": "sw-20261121T101500Z-a1b2c3"}, "only a rollback"),
    ],
)
def test_create_refuses_bad_arguments(journal: Journal, kw: dict, message: str) -> None:
    args = {"kind": "switch", "from_groups": ["a"], "to_groups": ["b"], "fingerprint": FP, "mode": "planned"}
    args["steps"] = STEPS
    args.update(kw)
    with pytest.raises(ValueError, match=message):
        journal.create("local", **args)
    assert journal.list() == []


def test_rollback_must_name_a_known_switch(journal: Journal, clock: FakeClock) -> None:
    with pytest.raises(UsageError, match="no switch 'sw-20261121T101500Z-a1b2c3'"):
        make(journal, clock, kind="rollback", rollback_of="sw-20261121T101500Z-a1b2c3")
    original = make(journal, clock)
    rollback = make(journal, clock, kind="rollback", rollback_of=original.id, from_groups=["group-b"])
    assert journal.load(rollback.id).rollback_of == original.id
    late = make(journal, clock, kind="rollback")  # or named after creation, saved with the record
    late.rollback_of = original.id
    journal.save(late)
    assert journal.load(late.id).rollback_of == original.id


def test_unknown_id_names_it_and_lists_the_newest(journal: Journal, clock: FakeClock) -> None:
    ids = [make(journal, clock).id for _ in range(7)]
    with pytest.raises(UsageError) as caught:
        journal.load("sw-20990101T000000Z-000000")
    err = caught.value
    assert err.exit_code == EXIT_USAGE
    assert "sw-20990101T000000Z-000000" in err.what
    assert err.why == f"known switches, newest first: {', '.join(ids[::-1][:5])} (and 2 older)"
    assert ids[0] not in str(err)


def test_malformed_id_never_touches_the_filesystem(journal: Journal, clock: FakeClock) -> None:
    make(journal, clock)
    (journal.directory.parent / "evil.json").write_text("{}")
    with pytest.raises(UsageError, match="looks like sw-"):
        journal.load("../evil")


def test_unknown_id_in_an_empty_journal(journal: Journal) -> None:
    with pytest.raises(UsageError, match="holds no switches yet"):
        journal.load("sw-20261121T101500Z-a1b2c3")


def test_a_leftover_tmp_file_from_a_crash_is_ignored(journal: Journal, clock: FakeClock) -> None:
    record = make(journal, clock)
    # What a save killed before its rename leaves behind: a partial temporary file.
    (journal.directory / f".{record.id}.json.4242.deadbeef.tmp").write_text('{"format": 1, "id": "sw-')
    assert [r.id for r in journal.list()] == [record.id]
    assert journal.load(record.id) == record


def test_a_save_that_dies_before_the_rename_leaves_the_old_version(
    journal: Journal, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    record = make(journal, clock)
    before = journal.path(record.id).read_bytes()

    def crash(src: object, dst: object) -> None:
        raise OSError("killed")

    monkeypatch.setattr(journal_module.os, "replace", crash)
    with pytest.raises(OSError, match="killed"):
        journal.start_step(record, "acquire-lease")
    assert journal.path(record.id).read_bytes() == before
    assert [p.name for p in journal.directory.iterdir()] == [f"{record.id}.json"]  # tmp cleaned up


def _save_forever(directory: str, record_id: str) -> None:
    journal = Journal(Path(directory))
    record = journal.load(record_id)
    n = 0
    while True:
        n += 1
        record.error = "x" * (n % 5000)  # files of varying size
        journal.save(record)


def test_kill_9_during_saves_leaves_a_whole_file(journal: Journal, clock: FakeClock) -> None:
    record = make(journal, clock)
    ctx = multiprocessing.get_context("fork")
    for _ in range(3):
        proc = ctx.Process(target=_save_forever, args=(str(journal.directory), record.id))
        proc.start()
        # Kill only once the child is saving (its records carry an error text), so the
        # SIGKILL lands among saves rather than before the first one.
        deadline = time.monotonic() + 10
        while not journal.load(record.id).error:
            assert time.monotonic() < deadline, "the child never saved"
            time.sleep(0.005)
        os.kill(proc.pid, signal.SIGKILL)
        proc.join(10)
        loaded = journal.load(record.id)  # never a torn file
        assert loaded.id == record.id and set(loaded.error or "") <= {"x"}
        assert [r.id for r in journal.list()] == [record.id]


def test_a_corrupt_journal_file_is_reported_not_guessed(journal: Journal, clock: FakeClock) -> None:
    record = make(journal, clock)
    journal.path(record.id).write_text('{"format": 1, "id": ')
    with pytest.raises(OrchestratorError, match="is unreadable") as caught:
        journal.load(record.id)
    assert "move it out of the journal directory" in caught.value.fix
    with pytest.raises(OrchestratorError, match="is unreadable"):
        journal.list()


def test_a_file_must_hold_the_switch_it_is_named_after(journal: Journal, clock: FakeClock) -> None:
    a, b = make(journal, clock), make(journal, clock)
    journal.path(a.id).write_text(journal.path(b.id).read_text())
    with pytest.raises(OrchestratorError, match=f"holds switch {b.id}"):
        journal.load(a.id)


def test_a_newer_format_is_refused(journal: Journal, clock: FakeClock) -> None:
    record = make(journal, clock)
    data = json.loads(journal.path(record.id).read_text())
    journal.path(record.id).write_text(json.dumps({**data, "format": 2}))
    with pytest.raises(OrchestratorError, match="unsupported journal format 2"):
        journal.load(record.id)


# -- steps ----------------------------------------------------------------------------------


def test_step_lifecycle_records_times_duration_and_detail(journal: Journal, clock: FakeClock) -> None:
    record = make(journal, clock)
    assert next_step(record) == "acquire-lease" and Journal.next_step(record) == "acquire-lease"
    journal.start_step(record, "acquire-lease")
    clock.advance(1.25)
    step = journal.complete_step(record, "acquire-lease", detail="epoch 7")
    assert (step.status, step.detail, step.duration_s) == ("completed", "epoch 7", 1.25)
    assert (step.started_at, step.finished_at) == ("2026-11-21T10:16:00.000Z", "2026-11-21T10:16:01.250Z")
    assert record.updated_at == "2026-11-21T10:16:01.250Z"
    assert next_step(record) == "preflight"
    assert journal.load(record.id) == record  # every transition is saved


def test_steps_start_in_order(journal: Journal, clock: FakeClock) -> None:
    record = make(journal, clock)
    with pytest.raises(ValueError, match=r"cannot start before step acquire-lease is done \(pending\)"):
        journal.start_step(record, "flip-dns")
    with pytest.raises(ValueError, match="no step 'flip-dsn'"):
        journal.start_step(record, "flip-dsn")


def test_skipped_steps_count_as_done(journal: Journal, clock: FakeClock) -> None:
    record = make(journal, clock)
    journal.skip_step(record, "lower-ttl", "ttl already 30s")
    for name in ("acquire-lease", "preflight"):
        journal.start_step(record, name)
        journal.complete_step(record, name)
    assert next_step(record) == "flip-dns"
    assert record.step("lower-ttl").detail == "ttl already 30s"
    with pytest.raises(ValueError, match="is completed, cannot skip"):
        journal.skip_step(record, "preflight")


def test_complete_needs_a_running_step(journal: Journal, clock: FakeClock) -> None:
    record = make(journal, clock)
    with pytest.raises(ValueError, match="is pending, not running"):
        journal.complete_step(record, "acquire-lease")


def test_failed_step_fails_the_record_and_resume_restarts_it(journal: Journal, clock: FakeClock) -> None:
    record = make(journal, clock)
    for name in ("acquire-lease", "preflight", "lower-ttl"):
        journal.start_step(record, name)
        journal.complete_step(record, name)
    journal.start_step(record, "flip-dns")
    clock.advance(2)
    step = journal.fail_step(record, "flip-dns", "pdns: connection refused")
    assert (step.status, step.detail, step.duration_s) == ("failed", "pdns: connection refused", 2.0)
    assert (record.status, record.error) == ("failed", "flip-dns: pdns: connection refused")
    assert next_step(record) == "flip-dns"
    reloaded = journal.load(record.id)  # as a later `resume` sees it
    journal.start_step(reloaded, "flip-dns")
    assert (reloaded.status, reloaded.error) == ("running", None)
    assert reloaded.step("flip-dns").detail is None and reloaded.step("flip-dns").duration_s is None


def test_a_step_left_running_by_a_crash_can_be_started_again(journal: Journal, clock: FakeClock) -> None:
    record = make(journal, clock)
    journal.start_step(record, "acquire-lease")
    reloaded = journal.load(record.id)
    assert next_step(reloaded) == "acquire-lease"
    journal.start_step(reloaded, "acquire-lease")
    assert reloaded.step("acquire-lease").status == "running"


def test_resume_may_run_a_completed_step_again(journal: Journal, clock: FakeClock) -> None:
    record = make(journal, clock)
    for name in ("acquire-lease", "preflight"):
        journal.start_step(record, name)
        journal.complete_step(record, name, detail="first run")
    journal.skip_step(record, "lower-ttl")
    journal.start_step(record, "flip-dns")
    journal.fail_step(record, "flip-dns", "lease lost")
    resumed = journal.load(record.id)
    step = journal.start_step(resumed, "acquire-lease")  # a new process needs a new lease
    assert (step.status, step.detail, resumed.status) == ("running", None, "running")
    assert next_step(resumed) == "acquire-lease"
    journal.complete_step(resumed, "acquire-lease", detail="epoch 8")
    assert next_step(resumed) == "flip-dns"
    assert resumed.step("preflight").detail == "first run"


def test_fail_step_accepts_a_step_that_never_started(journal: Journal, clock: FakeClock) -> None:
    record = make(journal, clock)
    step = journal.fail_step(record, "acquire-lease", "lease held by bob@ops")
    assert (step.status, step.started_at, step.duration_s) == ("failed", None, None)
    assert record.status == "failed"


def test_finish_completed_requires_every_step_done(journal: Journal, clock: FakeClock) -> None:
    record = make(journal, clock)
    with pytest.raises(ValueError, match="steps not done: acquire-lease, preflight"):
        journal.finish(record, "completed")
    run_all(journal, record)
    assert journal.load(record.id).status == "completed"
    assert next_step(record) is None


def test_finished_records_cannot_change(journal: Journal, clock: FakeClock) -> None:
    record = run_all(journal, make(journal, clock))
    with pytest.raises(ValueError, match="is completed: it cannot change"):
        journal.start_step(record, "verify")
    with pytest.raises(ValueError, match="is completed: it cannot change"):
        journal.finish(record, "failed")
    with pytest.raises(ValueError, match="finish status 'running'"):
        journal.finish(make(journal, clock), "running")


def test_finish_failed_and_abandoned_keep_the_error(journal: Journal, clock: FakeClock) -> None:
    record = make(journal, clock)
    journal.finish(record, "failed", error="lease lost")
    assert (record.status, record.error) == ("failed", "lease lost")
    journal.finish(record, "abandoned")
    assert journal.load(record.id).status == "abandoned"
    assert journal.load(record.id).error == "lease lost"


# -- listing, resume and supersede ------------------------------------------------------------


def test_list_is_newest_first_and_filters_by_stack(journal: Journal, clock: FakeClock) -> None:
    a = make(journal, clock, stack="local")
    b = make(journal, clock, stack="prod")
    c = make(journal, clock, stack="local")
    assert [r.id for r in journal.list()] == [c.id, b.id, a.id]
    assert [r.id for r in journal.list("local")] == [c.id, a.id]
    assert Journal(journal.directory / "missing").list() == []


def test_unfinished_is_the_newest_running_or_failed(journal: Journal, clock: FakeClock) -> None:
    assert journal.unfinished("local") is None
    done = run_all(journal, make(journal, clock))
    assert journal.unfinished("local") is None
    crashed = make(journal, clock)  # still "running": a kill -9 left it so
    assert journal.unfinished("local").id == crashed.id
    assert journal.unfinished("prod") is None
    journal.fail_step(crashed, "acquire-lease", "boom")
    assert journal.unfinished("local").id == crashed.id
    assert journal.last_completed("local").id == done.id


def test_a_later_completed_record_supersedes(journal: Journal, clock: FakeClock) -> None:
    failed = make(journal, clock)
    journal.fail_step(failed, "acquire-lease", "boom")
    other_stack = run_all(journal, make(journal, clock, stack="prod"))
    assert journal.unfinished("local").id == failed.id  # another stack moving on changes nothing
    later = run_all(journal, make(journal, clock))
    assert journal.unfinished("local") is None
    assert journal.last_completed("local").id == later.id
    assert journal.last_completed("prod").id == other_stack.id


def test_a_later_rolled_back_record_supersedes(journal: Journal, clock: FakeClock) -> None:
    failed = make(journal, clock)
    journal.fail_step(failed, "acquire-lease", "boom")
    later = make(journal, clock)
    journal.finish(later, "rolled-back")
    assert journal.unfinished("local") is None
    assert journal.last_completed("local") is None


def test_abandoned_records_neither_count_nor_supersede(journal: Journal, clock: FakeClock) -> None:
    failed = make(journal, clock)
    journal.fail_step(failed, "acquire-lease", "boom")
    journal.finish(make(journal, clock), "abandoned")
    assert journal.unfinished("local").id == failed.id
    journal.finish(failed, "abandoned")
    assert journal.unfinished("local") is None


def test_rollback_flow(journal: Journal, clock: FakeClock) -> None:
    original = make(journal, clock)
    journal.fail_step(original, "acquire-lease", "boom")
    rollback = make(
        journal,
        clock,
        kind="rollback",
        rollback_of=original.id,
        from_groups=["group-b"],
        to_groups=["group-a"],
    )
    assert journal.unfinished("local").id == rollback.id  # an interrupted rollback is resumed first
    run_all(journal, rollback)
    journal.finish(original, "rolled-back")
    assert journal.unfinished("local") is None
    assert journal.last_completed("local").id == rollback.id
    assert journal.last_completed("local", kind="switch") is None
