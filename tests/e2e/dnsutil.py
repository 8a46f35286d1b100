"""Asking real DNS servers what they serve (the client's view in tests)."""

from __future__ import annotations

import time
from collections.abc import Callable

from orchestrator.adapters.dns.query import query

__all__ = ["query", "wait_for"]


def wait_for(condition: Callable[[], bool], timeout: float, what: str, interval: float = 0.2) -> None:
    """Poll a condition until it holds, or fail naming what was awaited."""
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)
