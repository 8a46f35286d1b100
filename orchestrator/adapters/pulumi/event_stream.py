"""The Automation API's reader of the engine's event log, doing only what the orchestrator needs.

Measured on a 1,000-hostname preview: the engine writes about 15,000 JSON events (a refresh
step, an update step, their outputs and a policy summary for every resource), and the
Automation API (3.259.0, `pulumi.automation._stack._watch_logs`) decodes each one into an
`EngineEvent` in the orchestrator's process, about a second of CPU on a 2-core machine
that the engine, the program, the plugin and the policy pack need at the same time. The
orchestrator reads three kinds: resource pre-events (the plan), policy events (the verdict)
and the summary (the Automation API's own result). `watch_logs` decodes the lines that can be
one of those (or the cancel event that ends the stream) and skips the rest unread.

Two more differences, both in the same loop:
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


def wanted(line: str) -> bool:
    """Whether a line of the event log may hold an event the orchestrator reads. A property
    value that happens to contain one of the keys only costs a decode."""
    return any(key in line for key in KEPT)


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
    """Installs the reader in this (orchestrator) process; False for another API version."""
    if version("pulumi") != MEASURED_ON:
        return False
    _stack._watch_logs = watch_logs  # noqa: SLF001
    return True
