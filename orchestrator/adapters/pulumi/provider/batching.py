"""Batched writes and whole-zone reads, per zone of one DNS server.

The engine calls Create/Update/Delete for many record sets at once (up to its
parallelism). Writes to one zone that arrive within WINDOW of the first become one
PowerDNS PATCH or one RFC 2136 UPDATE message (split at 64 KiB by the client). One batch
per zone is in flight at a time; the writes that arrive meanwhile form the next batch,
sent as soon as it returns (group commit). Why: a PowerDNS PATCH costs time in proportion
to the zone's size (a 10-rrset PATCH: 3 ms in a zone of 300 rrsets, 37 ms in one of
15,000), so the slower the server, the larger the batches should be; and one zone's
batches stay in order. Each caller still gets its own result: when a batch fails, its
changes are retried one by one so that the error lands on the record set that caused it.
The lease fence is checked once per batch, right before it is written.

Reads (a refresh) are answered from one whole-zone read (PowerDNS GET, or an AXFR signed
with the TSIG key), shared by every Read of that zone until this process writes to the
zone or READ_CACHE_SECONDS pass.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from orchestrator.adapters.dns.powerdns import Change, ZoneContent
from orchestrator.domain.errors import AuthError, EnvironmentProblem

# Long enough for the engine's steps in flight (stack.PLUGIN_PARALLEL) to join one batch,
# short against a switch: at 1,000 hostnames, 5 ms made 1,900 PATCHes, 30 ms about 200.
WINDOW = float(os.environ.get("ORCHESTRATOR_BATCH_WINDOW_MS", "30")) / 1000
MAX_BATCH = 1000
READ_CACHE_SECONDS = 30.0


class ZoneClient(Protocol):
    def apply(self, zone: str, changes: Sequence[Change]) -> None: ...

    def read_zone(self, zone: str) -> ZoneContent: ...


def _key(change: Change) -> tuple[str, str]:
    return change[1].rstrip(".").lower(), change[2]


def unique_runs(changes: Sequence[Change]) -> list[list[Change]]:
    """Consecutive runs with no record set twice (a server refuses a duplicate in one request)."""
    runs: list[list[Change]] = [[]]
    seen: set[tuple[str, str]] = set()
    for change in changes:
        if _key(change) in seen:
            runs.append([])
            seen = set()
        runs[-1].append(change)
        seen.add(_key(change))
    return [r for r in runs if r]


def apply_batch(
    client: ZoneClient, zone: str, changes: Sequence[Change], fence: Callable[[], None]
) -> list[BaseException | None]:
    """Writes the changes; one result per change (None: applied). Blocking: run it in a thread."""
    try:
        fence()
    except Exception as exc:  # a lost lease refuses the whole batch
        return [exc] * len(changes)
    results: list[BaseException | None] = []
    for run in unique_runs(changes):
        try:
            client.apply(zone, run)
            results += [None] * len(run)
            continue
        except (EnvironmentProblem, AuthError) as exc:
            results += [exc] * len(run)  # the server or the key, not a record set: same for all
            continue
        except Exception as exc:
            if len(run) == 1:
                results.append(exc)
                continue
        for change in run:  # which one? each alone (idempotent: a replace or a delete)
            try:
                client.apply(zone, [change])
                results.append(None)
            except Exception as exc:
                results.append(exc)
    return results


@dataclass
class ZoneWriter:
    """Collects the writes to one zone of one server and flushes them as batches."""

    client: ZoneClient
    zone: str
    fence: Callable[[], None]
    on_written: Callable[[], None] = lambda: None
    window: float = WINDOW
    max_batch: int = MAX_BATCH
    batches: list[int] = field(default_factory=list)  # sizes of the batches written (tests, logs)
    _pending: list[tuple[Change, asyncio.Future[None]]] = field(default_factory=list)
    _timer: asyncio.TimerHandle | None = None
    _in_flight: bool = False

    async def write(self, change: Change) -> None:
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        self._pending.append((change, done))
        if not self._in_flight:  # else it goes when the batch in flight returns
            if len(self._pending) >= self.max_batch:
                self._flush()
            elif self._timer is None:
                self._timer = loop.call_later(self.window, self._flush)
        await done

    def _flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._in_flight or not self._pending:
            return
        batch = self._pending[: self.max_batch]
        del self._pending[: self.max_batch]
        self._in_flight = True
        asyncio.get_running_loop().create_task(self._write(batch))

    async def _write(self, batch: list[tuple[Change, asyncio.Future[None]]]) -> None:
        changes = [c for c, _ in batch]
        self.batches.append(len(changes))
        try:
            results = await asyncio.to_thread(apply_batch, self.client, self.zone, changes, self.fence)
        except BaseException as exc:  # never leave a caller waiting
            results = [exc] * len(batch)
        self.on_written()
        for (_, done), error in zip(batch, results, strict=True):
            if done.done():
                continue
            if error is None:
                done.set_result(None)
            else:
                done.set_exception(error)
        self._in_flight = False
        self._flush()  # what arrived meanwhile: it has waited long enough


@dataclass
class ZoneReader:
    """One whole-zone read shared by every Read of the zone (a refresh)."""

    client: ZoneClient
    zone: str
    ttl: float = READ_CACHE_SECONDS
    reads: int = 0  # whole-zone reads made (tests)
    _content: ZoneContent | None = None
    _at: float = 0.0
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def invalidate(self) -> None:
        self._content = None

    async def get(self, name: str, rtype: str) -> tuple[int, list[str]] | None:
        async with self._lock:  # concurrent Reads wait for the one read in flight
            if self._content is None or time.monotonic() - self._at > self.ttl:
                self._content = await asyncio.to_thread(self.client.read_zone, self.zone)
                self._at = time.monotonic()
                self.reads += 1
            content = self._content
        return content.get((name.rstrip(".").lower(), rtype))


@dataclass
class Zones:
    """The writer and reader of every (server, zone) this process has touched."""

    fence: Callable[[], None]
    writers: dict[tuple[Any, str], ZoneWriter] = field(default_factory=dict)
    readers: dict[tuple[Any, str], ZoneReader] = field(default_factory=dict)

    def reader(self, client: ZoneClient, zone: str) -> ZoneReader:
        key = (client, zone)
        if key not in self.readers:
            self.readers[key] = ZoneReader(client, zone)
        return self.readers[key]

    def writer(self, client: ZoneClient, zone: str) -> ZoneWriter:
        key = (client, zone)
        if key not in self.writers:
            reader = self.reader(client, zone)
            self.writers[key] = ZoneWriter(client, zone, self.fence, on_written=reader.invalidate)
        return self.writers[key]
