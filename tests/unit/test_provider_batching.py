"""The provider plugin's batching: concurrent writes to a zone become one request, each
caller still gets its own result, the fence is checked once per batch, reads share one
whole-zone read. (The same against real PowerDNS and BIND: tests/e2e/test_provider.py.)"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

import pytest

from orchestrator.adapters.dns.errors import ProviderError, ServerUnreachable
from orchestrator.adapters.dns.powerdns import Change, ZoneContent
from orchestrator.adapters.pulumi.provider.batching import ZoneReader, Zones, ZoneWriter, unique_runs
from orchestrator.domain.errors import OrchestratorError


class FakeZone:
    """A zone that refuses values containing 'bad' (one request fails as a whole)."""

    def __init__(self, down: bool = False) -> None:
        self.requests: list[list[Change]] = []
        self.content: ZoneContent = {}
        self.down = down
        self.zone_reads = 0

    def apply(self, zone: str, changes: Sequence[Change]) -> None:
        self.requests.append(list(changes))
        if self.down:
            raise ServerUnreachable("server down", "refused", "start it")
        if any("bad" in v for c in changes for v in c[4]):
            raise ProviderError("the server refused a value", "malformed", "fix it")
        for op, name, rtype, ttl, values in changes:
            if op == "delete":
                self.content.pop((name, rtype), None)
            else:
                self.content[(name, rtype)] = (ttl, list(values))

    def read_zone(self, zone: str) -> ZoneContent:
        self.zone_reads += 1
        return dict(self.content)


def change(i: int, value: str = "") -> Change:
    return ("replace", f"h{i}.z.test", "A", 30, [value or f"10.0.0.{i}"])


async def write_all(writer: ZoneWriter, changes: list[Change]) -> list[BaseException | None]:
    results = await asyncio.gather(*(writer.write(c) for c in changes), return_exceptions=True)
    return list(results)


def test_concurrent_writes_become_one_request_and_the_fence_is_checked_once():
    zone, fences = FakeZone(), []
    writer = ZoneWriter(zone, "z.test", fence=lambda: fences.append(1), window=0.01)
    results = asyncio.run(write_all(writer, [change(i) for i in range(40)]))
    assert results == [None] * 40
    assert [len(r) for r in zone.requests] == [40]
    assert writer.batches == [40] and len(fences) == 1
    assert zone.content[("h7.z.test", "A")] == (30, ["10.0.0.7"])


def test_a_batch_is_bounded_by_max_batch():
    zone = FakeZone()
    writer = ZoneWriter(zone, "z.test", fence=lambda: None, window=0.05, max_batch=16)
    assert asyncio.run(write_all(writer, [change(i) for i in range(40)])) == [None] * 40
    assert writer.batches == [16, 16, 8]


def test_a_failed_batch_is_retried_one_by_one_and_the_error_lands_on_its_record_set():
    zone = FakeZone()
    writer = ZoneWriter(zone, "z.test", fence=lambda: None, window=0.01)
    changes = [change(i) for i in range(5)]
    changes[3] = change(3, "bad-value")
    results = asyncio.run(write_all(writer, changes))
    assert [type(r).__name__ if r else None for r in results] == [None, None, None, "ProviderError", None]
    assert ("h3.z.test", "A") not in zone.content and ("h4.z.test", "A") in zone.content
    assert "the server refused a value" in str(results[3])


def test_an_unreachable_server_fails_every_change_once_without_retrying_each():
    zone = FakeZone(down=True)
    writer = ZoneWriter(zone, "z.test", fence=lambda: None, window=0.01)
    results = asyncio.run(write_all(writer, [change(i) for i in range(10)]))
    assert all(isinstance(r, ServerUnreachable) for r in results)
    assert len(zone.requests) == 1


def test_a_lost_lease_refuses_the_whole_batch_before_anything_is_written():
    def lost() -> None:
        raise OrchestratorError("write refused: the lease is gone", "taken over", "stop")

    zone = FakeZone()
    writer = ZoneWriter(zone, "z.test", fence=lost, window=0.01)
    results = asyncio.run(write_all(writer, [change(i) for i in range(3)]))
    assert all("write refused" in str(r) for r in results)
    assert zone.requests == []


def test_the_same_record_set_twice_goes_in_two_requests_in_order():
    runs = unique_runs([change(1), change(2), ("delete", "h1.z.test", "A", 0, ()), change(3)])
    assert [[c[1] for c in r] for r in runs] == [["h1.z.test", "h2.z.test"], ["h1.z.test", "h3.z.test"]]


def test_reads_of_a_zone_share_one_whole_zone_read_until_a_write():
    zone = FakeZone()
    zone.content = {(f"h{i}.z.test", "A"): (30, [f"10.0.0.{i}"]) for i in range(20)}
    zones = Zones(fence=lambda: None)

    async def scenario() -> tuple[list, list]:
        reader = zones.reader(zone, "z.test")
        first = await asyncio.gather(*(reader.get(f"H{i}.z.test.", "A") for i in range(25)))
        await zones.writer(zone, "z.test").write(change(1, "10.9.9.9"))
        second = [await reader.get("h1.z.test", "A")]
        return first, second

    first, second = asyncio.run(scenario())
    assert first[3] == (30, ["10.0.0.3"]) and first[24] is None
    assert second == [(30, ["10.9.9.9"])]
    assert zone.zone_reads == 2  # one for the 25 reads, one after the write


def test_a_failed_zone_read_fails_the_reads_with_its_error():
    class Down(FakeZone):
        def read_zone(self, zone: str) -> ZoneContent:
            raise ServerUnreachable("DNS server 127.0.0.1:1 is unreachable", "refused", "start it")

    reader = ZoneReader(Down(), "z.test")
    with pytest.raises(ServerUnreachable, match="unreachable"):
        asyncio.run(reader.get("h1.z.test", "A"))


def test_writes_arriving_during_a_batch_form_the_next_one_sent_when_it_returns():
    class SlowZone(FakeZone):
        """Each request takes a while; records how many were in flight at once."""

        def __init__(self) -> None:
            super().__init__()
            self.in_flight = self.most = 0

        def apply(self, zone: str, changes: Sequence[Change]) -> None:
            self.in_flight += 1
            self.most = max(self.most, self.in_flight)
            time.sleep(0.05)  # a slow server's request time (in a worker thread), not a wait for anything
            self.in_flight -= 1
            super().apply(zone, changes)

    zone = SlowZone()
    writer = ZoneWriter(zone, "z.test", fence=lambda: None, window=0.001)

    async def trickle() -> list[BaseException | None]:
        tasks = []
        for i in range(30):  # one write per ms, while the first batch takes 50 ms
            tasks.append(asyncio.ensure_future(writer.write(change(i))))
            await asyncio.sleep(0.001)
        return list(await asyncio.gather(*tasks, return_exceptions=True))

    assert asyncio.run(trickle()) == [None] * 30
    assert zone.most == 1  # one batch of a zone in flight at a time
    assert len(writer.batches) < 10 and sum(writer.batches) == 30
    # In order: the last write of each record set is what the zone holds.
    assert zone.content[("h29.z.test", "A")] == (30, ["10.0.0.29"])
