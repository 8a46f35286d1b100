"""Time, as the services see it: a monotonic clock for durations, the wall clock for records."""

from __future__ import annotations

from collections.abc import Callable

Clock = Callable[[], float]  # seconds, monotonic (time.monotonic)
Sleep = Callable[[float], None]  # time.sleep
UtcNow = Callable[[], str]  # the wall clock as orchestrator.domain.timestamps writes it
