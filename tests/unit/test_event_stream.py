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
