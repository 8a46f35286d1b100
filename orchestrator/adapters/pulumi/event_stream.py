"""The Automation API's reader of the engine's event log, doing only what the orchestrator needs.

Measured on a 1,000-hostname preview: the engine writes about 15,000 JSON events (a refresh
step, an update step, their outputs and a policy summary for every resource), and the
Automation API (3.259.0, `pulumi.automation._stack._watch_logs`) decodes each one into an
`EngineEvent` in the orchestrator's process, about a second of CPU on a 2-core machine
that the engine, the program, the plugin and the policy pack need at the same time. The
orchestrator reads three kinds: resource pre-events (the plan), policy events (the verdict)
and the summary (the Automation API's own result). `watch_logs` decodes the lines that can be
one of those (or the cancel event that ends the stream) and skips the rest unread.

For a CLI newer than 3.205 the Automation API streams the events over gRPC instead
(`--event-log tcp://...`), and its servicer decodes every event too: each one a message
through Python gRPC, about 1 s of the orchestrator's CPU per 1,000-hostname preview. So
`apply` also has it ask for the file log, which 3.259 still writes (`FILE_LOG_VERSION`), and
this reader skips what is not read without decoding it. (Until this was noticed, the reader
of the file had not been in use at all.)

Two more differences in the file reader's loop:
- a partially written line is read again after 10 ms, not 100 ms;
- when the command has ended, the lines written since the last read are read before the
  reader stops (the original stops as soon as it is told to, if it was waiting then).

Applies only to the Automation API version it was measured on (`MEASURED_ON`); under
another one the original reader runs (slower, still correct), and a unit test fails so that
the pin and this module move together.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from importlib.metadata import version
from typing import Any

from pulumi.automation import _stack
from pulumi.automation.events import EngineEvent

MEASURED_ON = "3.259.0"
# The JSON keys of the events that are read (EngineEvent's wire names).
KEPT = ('"resourcePreEvent"', '"policyEvent"', '"summaryEvent"', '"cancelEvent"')
POLL = 0.01
FILE_LOG_VERSION = "3.205.0"  # the newest CLI for which the Automation API reads a log file


# A refresh step's outputs event: read only when the refresh found the server different from
# the state (drift), which is what a switch needs to know to refresh again before it writes.
REFRESHED = ('"resOutputsEvent"', '"refresh"')


def wanted(line: str) -> bool:
    """Whether a line of the event log may hold an event the orchestrator reads. A property
    value that happens to contain one of the keys only costs a decode."""
    if any(key in line for key in KEPT):
        return True
    if all(key in line for key in REFRESHED):
        return drifted(json.loads(line))
    return False


def drifted(event: Any) -> bool:
    """A refresh step's outputs event (wire JSON) that changed the state: the resource is gone
    from its server (no `new`) or its outputs differ (`diffs`). Anything unreadable counts."""
    try:
        meta = event["resOutputsEvent"]["metadata"]
    except (KeyError, TypeError):
        return True
    return meta.get("op") == "refresh" and (not meta.get("new") or bool(meta.get("diffs")))


def watch_logs(
    filename: str, callback: Callable[[EngineEvent], Any], stopEvent: threading.Event | None = None
) -> None:  # noqa: N803 (the Automation API's parameter name)
    partial = ""
    stopping = False
    with open(filename, encoding="utf-8") as f:
        while True:
            line = f.readline()
            if not line:
                if stopping:
                    return  # everything written before the command ended has been read
                if stopEvent is not None:
                    stopping = stopEvent.wait(POLL * 10)
                else:
                    time.sleep(POLL * 10)
                continue
            if not line.endswith("\n"):
                partial += line
                time.sleep(POLL)
                continue
            line, partial = partial + line, ""
            if not wanted(line):
                continue
            event = EngineEvent.from_json(json.loads(line))
            callback(event)
            if event.cancel_event:
                return


def apply() -> bool:
    """Installs the readers in this (orchestrator) process; False for another API version."""
    if version("pulumi") != MEASURED_ON:
        return False
    _stack._watch_logs = watch_logs  # noqa: SLF001
    original = _stack.Stack._setup_event_log  # noqa: SLF001

    def setup_event_log(self: Any, command: str, on_event: Any, pulumi_version: str) -> Any:
        return original(self, command, on_event, FILE_LOG_VERSION)

    _stack.Stack._setup_event_log = setup_event_log  # noqa: SLF001
    _stack._cleanup = cleanup  # noqa: SLF001
    return True


def cleanup(
    temp_dir: Any, thread: Any, stop_event: Any, on_exit_fn: Any = None, grpc_server: Any = None
) -> None:
    """The Automation API's `_cleanup`, telling the reader to stop before it waits for it.

    The original waits up to 5 s for the reader to see the engine's cancel event, which a
    command that fails before its operation starts never writes: 5 s added to every such
    error. `watch_logs`, told to stop, still reads everything written before it returns."""
    if on_exit_fn:
        on_exit_fn()
    if grpc_server:
        grpc_server.stop(grace=5)
    if stop_event:
        stop_event.set()
    if thread:
        thread.join(5)
    if temp_dir:
        temp_dir.cleanup()
