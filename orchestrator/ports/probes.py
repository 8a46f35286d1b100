"""Probing from here: one HTTP GET of a health URL, one DNS question to a server.

orchestrator.adapters.probes implements them; services receive them (tests pass fakes).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple, Protocol


class HttpAnswer(NamedTuple):
    """What one GET found: the status (None when nothing answered), milliseconds, why not."""

    status: int | None
    millis: float
    error: str | None


class HttpProbe(Protocol):
    def __call__(self, url: str, timeout: float) -> HttpAnswer: ...


# (address, port, name, rtype, recursive, timeout) -> (rcode, values)
DnsQuery = Callable[[str, int, str, str, bool, float], tuple[str, set[str]]]
# (url, timeout) -> (HTTP status or None, milliseconds, error text or None): an HttpProbe.
HttpGet = Callable[[str, float], tuple[int | None, float, str | None]]
