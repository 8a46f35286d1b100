"""The engine event reader of the orchestrator's process (adapters/pulumi/event_stream.py)."""

from __future__ import annotations

import json
import threading
from importlib.metadata import version
from pathlib import Path

from pulumi.automation import _stack
from pulumi.automation.events import EngineEvent

from orchestrator.adapters.pulumi import event_stream
from orchestrator.adapters.pulumi import stack as _installs_the_reader  # noqa: F401

PRE = {
    "sequence": 1,
    "timestamp": 1,
    "resourcePreEvent": {"metadata": {"op": "update", "urn": "u", "type": "t", "provider": ""}},
}
OUTPUTS = {
    "sequence": 2,
    "timestamp": 1,
    "resOutputsEvent": {"metadata": {"op": "update", "urn": "u", "type": "t", "provider": ""}},
}
SUMMARY = {
    "sequence": 3,
    "timestamp": 1,
    "summaryEvent": {
        "maybeCorrupt": False,
        "durationSeconds": 1,
        "resourceChanges": {"update": 1},
        "policyPacks": {},
    },
}
CANCEL = {"sequence": 4, "timestamp": 1, "cancelEvent": {}}


def _line(event: dict[str, object]) -> str:
    return json.dumps(event) + "\n"


def test_the_reader_is_for_the_pinned_automation_api() -> None:
    # A new SDK must be measured again: this fails until MEASURED_ON follows the pin.
    assert version("pulumi") == event_stream.MEASURED_ON
    assert _stack._watch_logs is event_stream.watch_logs  # installed by adapters/pulumi/stack.py


def test_only_the_events_the_orchestrator_reads_are_decoded(tmp_path: Path) -> None:
    log = tmp_path / "events.log"
    log.write_text(_line(PRE) + _line(OUTPUTS) + _line(SUMMARY) + _line(CANCEL))
    seen: list[EngineEvent] = []
    event_stream.watch_logs(str(log), seen.append, threading.Event())
    assert [e.sequence for e in seen] == [1, 3, 4]
    assert seen[0].resource_pre_event is not None and seen[1].summary_event is not None


def test_lines_written_before_the_end_are_read_even_when_told_to_stop_first(tmp_path: Path) -> None:
    log = tmp_path / "events.log"
    log.write_text("")
    stop = threading.Event()
    seen: list[EngineEvent] = []
    reader = threading.Thread(target=event_stream.watch_logs, args=(str(log), seen.append, stop))
    reader.start()
    with log.open("a") as f:  # a line in two writes, then the end of the command
        text = _line(SUMMARY)
        f.write(text[:20])
        f.flush()
        f.write(text[20:])
    stop.set()
    reader.join(timeout=10)
    assert not reader.is_alive()
    assert [e.sequence for e in seen] == [3]


def test_a_line_is_decoded_whenever_it_may_hold_a_kept_event() -> None:
    assert event_stream.wanted(_line(PRE)) and event_stream.wanted(_line(CANCEL))
    assert not event_stream.wanted(_line(OUTPUTS))


def _refreshed(new: object, diffs: list[str] | None) -> dict[str, object]:
    state = {"type": "t", "urn": "u", "outputs": {"values": ["10.0.0.1"]}}
    meta = {"op": "refresh", "urn": "u", "type": "t", "provider": "", "old": state, "new": new}
    if diffs is not None:
        meta["diffs"] = diffs
    return {"sequence": 5, "timestamp": 1, "resOutputsEvent": {"metadata": meta}}


def test_a_refresh_step_is_passed_on_only_when_it_found_drift() -> None:
    same = {"type": "t", "urn": "u", "outputs": {"values": ["10.0.0.1"]}}
    for spaced in (False, True):  # the CLI writes compact JSON; the check must not depend on it
        dump = json.dumps if spaced else (lambda e: json.dumps(e, separators=(",", ":")))
        assert not event_stream.wanted(dump(_refreshed(same, None)))  # the server agrees
        assert event_stream.wanted(dump(_refreshed(same, ["values"])))  # it serves other values
        assert event_stream.wanted(dump(_refreshed(None, None)))  # it no longer serves it
    assert not event_stream.wanted(json.dumps(OUTPUTS))  # an update's outputs: not read


def test_the_stack_reports_drift_from_the_refresh_steps_it_kept() -> None:
    from orchestrator.adapters.pulumi.stack import ProjectStack

    kept: list[EngineEvent] = []
    collect = _installs_the_reader._collect(kept)
    collect(EngineEvent.from_json(PRE))
    assert not ProjectStack.found_drift(kept)
    collect(EngineEvent.from_json(_refreshed(None, None)))
    assert ProjectStack.found_drift(kept)


def test_the_automation_api_is_asked_for_the_file_log_the_reader_filters() -> None:
    # Above 3.205 it would stream over gRPC and decode every event in our process. No cancel
    # event here (as when a command fails before its operation starts): the reader is told
    # to stop at cleanup, reads what was written, and ends.
    got: list[EngineEvent] = []
    log_file, thread, stop, temp_dir, server = _stack.Stack._setup_event_log(
        None, "preview", got.append, "3.259.0"
    )
    try:
        assert not log_file.startswith("tcp://") and thread is not None and server is None
        with open(log_file, "a", encoding="utf-8") as f:
            f.write(json.dumps(OUTPUTS) + "\n" + json.dumps(PRE) + "\n")
    finally:
        _stack._cleanup(temp_dir, thread, stop, None, server)
    assert _stack._cleanup is event_stream.cleanup and not thread.is_alive()
    assert [bool(e.resource_pre_event) for e in got] == [True]


def test_a_kept_plan_step_holds_only_what_the_changes_are_read_from() -> None:
    from orchestrator.adapters.pulumi.stack import changes_from_events

    def state(inputs: dict[str, object], outputs: dict[str, object]) -> dict[str, object]:
        return {"type": "t", "urn": "urn:a::b::t::n", "inputs": inputs, "outputs": outputs}

    meta = {
        "op": "update",
        "urn": "urn:a::b::t::n",
        "type": "t",
        "provider": "",
        "old": state({"values": ["in-old"]}, {"values": ["10.0.0.1"], "id": "x"}),
        "new": state({"values": ["10.0.0.2"]}, {"values": ["out-new"]}),
        "diffs": ["values"],
    }
    event = {"sequence": 1, "timestamp": 1, "resourcePreEvent": {"metadata": meta}}
    whole = changes_from_events([EngineEvent.from_json(json.loads(json.dumps(event)))])
    kept: list[EngineEvent] = []
    _installs_the_reader._collect(kept)(EngineEvent.from_json(event))
    md = kept[0].resource_pre_event.metadata
    assert not md.old.inputs and not md.new.outputs  # the halves nobody reads are gone
    assert changes_from_events(kept) == whole  # and the changes read from it are the same
    assert whole[0].old == {"values": ["10.0.0.1"], "id": "x"} and whole[0].new == {"values": ["10.0.0.2"]}
