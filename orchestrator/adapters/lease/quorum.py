"""The `dns-quorum` lease: the dns lease on N >= 3 independent servers, held with a strict majority.

Acquire reads every server, picks one epoch above any it saw, and compare-and-swaps that
record onto every server that is free; it holds the lease only when a majority accepted
(otherwise it gives back what it got). Two majorities of the same N servers always share a
server, and each server accepts one writer per state, so two holders can never both have a
majority; and because a new acquirer must read a majority, it sees the last acquisition's
epoch and goes above it. One of three servers down still leaves a majority.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

from orchestrator.adapters.lease.base import (
    DEFAULT_TTL,
    LeaseCollision,
    LeaseLost,
    LeaseRecord,
    LeaseUnavailable,
    TakeOver,
    acquire_epoch,
    describe,
    iso,
    majority,
    next_epoch,
    quorum_expiry,
    stamp,
    validate_holder,
    validate_ttl,
)
from orchestrator.adapters.lease.dnslease import DnsLease, Observation, too_short
from orchestrator.domain.errors import OrchestratorError, UsageError

MIN_SERVERS = 3
ACQUIRE_ATTEMPTS = 2


@dataclass(frozen=True)
class _Outcome:
    """What one server did: a value, or the error that it failed with."""

    member: DnsLease
    value: object = None
    error: OrchestratorError | None = None


class QuorumLease:
    """A lease on N servers (kind `dns-quorum`): held while a majority of them show it."""

    def __init__(self, members: Sequence[DnsLease], *, clock: Callable[[], float] = time.time):
        if len(members) < MIN_SERVERS:
            raise UsageError(
                f"a dns-quorum lease needs at least {MIN_SERVERS} servers, got {len(members)}",
                "a majority of 1 or 2 servers does not survive one server down",
                "list 3 (or 5) servers, or use kind `dns` for a single server",
            )
        self.members = list(members)
        self.clock = clock
        self.need = majority(len(self.members))

    def __repr__(self) -> str:
        return f"QuorumLease({', '.join(m.where for m in self.members)})"

    @property
    def n(self) -> int:
        return len(self.members)

    # --- the Lease interface -------------------------------------------------------------------

    def acquire(
        self, holder: str, ttl: float = DEFAULT_TTL, *, take_over: TakeOver | None = None
    ) -> LeaseRecord:
        validate_holder(holder)
        validate_ttl(ttl)
        for attempt in range(ACQUIRE_ATTEMPTS):
            observed, unreached = self._observe("acquire the lease")
            now = self.clock()
            epoch = next_epoch(o.record.epoch for o in observed.values() if o.record)
            record = LeaseRecord(holder, epoch, stamp(now + ttl), stamp(now))

            def claim(
                member: DnsLease,
                record: LeaseRecord = record,
                now: float = now,
                observed: dict[str, Observation] = observed,
            ) -> bool:
                seen = observed[member.where]
                acquire_epoch(seen.record, holder, now, member.where, take_over)  # LeaseCollision while live
                return member.swap(seen, record)

            outcomes = self._each(claim, [m for m in self.members if m.where in observed])
            won = [o.member for o in outcomes if o.value is True]
            if len(won) >= self.need:
                return record
            self._each(lambda m, record=record: m.release(record), won)  # give back a minority
            failed = {
                o.member.where: _reason(o.error)
                for o in outcomes
                if o.error is not None and not isinstance(o.error, LeaseCollision)
            } | unreached
            others = self._others(outcomes, holder, now)
            if others:
                raise self._collision(others, now, won, failed)
            raced = [o.member.where for o in outcomes if o.value is False]
            if not raced or attempt + 1 == ACQUIRE_ATTEMPTS:
                raise self._no_majority_to_acquire(won, raced, failed, now)
        raise AssertionError("unreachable")  # pragma: no cover

    def renew(self, record: LeaseRecord, ttl: float = DEFAULT_TTL) -> LeaseRecord:
        validate_ttl(ttl)
        observed, unreached = self._observe("renew the lease", allow_short=True)
        now = self.clock()
        if record.expires_at <= now:  # even if nobody took it: an expired lease is never revived
            current = self._view([o.record for o in observed.values() if o.record], now)
            raise LeaseLost(
                f"the lease of {record.holder} (epoch {record.epoch}) is gone",
                f"it expired at {iso(record.expires_at)} and was not renewed in time"
                + ("" if record.same_lease(current) else f"; {describe(current, now)}"),
                current=current,
            )
        renewed = replace(record, expires_at=stamp(now + ttl))

        def extend(member: DnsLease) -> bool | LeaseRecord | None:
            seen = observed[member.where]
            current = seen.record
            ours = record.same_lease(current)
            # A server that missed our acquire or renewals (it was down) and is free again below our
            # epoch gets our record too: the lease is then replicated on every server again.
            free_below = current is None or (not current.is_live(now) and current.epoch < record.epoch)
            if not (ours or free_below):
                return current  # not ours there
            return member.swap(seen, renewed) or member.observe().record

        outcomes = self._each(extend, [m for m in self.members if m.where in observed])
        won = sum(1 for o in outcomes if o.value is True)
        if won >= self.need:
            return renewed
        refused = [o for o in outcomes if o.error is None and o.value is not True]
        failed = self._failed(outcomes) | unreached
        if self.n - len(refused) < self.need:
            current = self._view([o.value for o in refused if isinstance(o.value, LeaseRecord)], now)
            raise LeaseLost(
                f"the lease of {record.holder} (epoch {record.epoch}) is gone",
                f"{len(refused)} of {self.n} lease servers no longer show it; {describe(current, now)}",
                current=current,
            )
        raise LeaseUnavailable(
            f"could not renew the lease of {record.holder} (epoch {record.epoch}) on a majority "
            f"({self.need} of {self.n}) of lease servers",
            f"renewed on {won}; unreachable: {_names(failed)}; it still holds until "
            f"{iso(record.expires_at)} unless renewed",
            failed=failed,
        )

    def release(self, record: LeaseRecord) -> None:
        outcomes = self._each(lambda m: m.release(record), self.members)
        failed = self._failed(outcomes)
        if self.n - len(failed) < self.need:
            raise LeaseUnavailable(
                f"could not release the lease of {record.holder} (epoch {record.epoch}) on a majority "
                f"({self.need} of {self.n}) of lease servers",
                f"unreachable: {_names(failed)}; the lease expires by itself at {iso(record.expires_at)}",
                "start the lease servers again; until then the lease blocks other switches until it expires",
                failed=failed,
            )

    def read(self) -> LeaseRecord | None:
        observed, _ = self._observe("read the lease")
        return self._view([o.record for o in observed.values() if o.record], self.clock())

    def check(self, record: LeaseRecord, *, margin: float = 0.0) -> None:
        observed, unreached = self._observe("check the lease", allow_short=True)
        now = self.clock()
        mine = [o.record for o in observed.values() if o.record and record.same_lease(o.record)]
        if sum(1 for r in mine if r.expires_at > now + margin) >= self.need:
            return
        held = [r for r in mine if r.is_live(now)]
        if len(held) >= self.need:  # ours, but it ends within the margin
            soonest = quorum_expiry([r.expires_at for r in held], self.n) or now
            current = replace(held[0], expires_at=soonest)
            raise too_short(record, current, now, margin) or LeaseLost("the lease is about to expire")
        if len(held) + len(unreached) >= self.need:
            raise LeaseUnavailable(
                f"cannot check the lease of {record.holder} (epoch {record.epoch}): too few lease "
                "servers answer to tell whether it still holds",
                f"it shows on {len(held)} of the {self.need} needed; unreachable: {_names(unreached)}",
                failed=unreached,
            )
        current = self._view([o.record for o in observed.values() if o.record], now)
        raise LeaseLost(
            f"the lease of {record.holder} (epoch {record.epoch}) is gone",
            f"it shows live on {len(held)} of {self.n} lease servers ({self.need} needed); "
            + describe(current, now),
            current=current,
        )

    # --- helpers -----------------------------------------------------------------------------

    def _each(self, fn: Callable[[DnsLease], object], members: Sequence[DnsLease]) -> list[_Outcome]:
        """Run fn on each member in parallel; an OrchestratorError is that member's outcome."""
        if not members:
            return []

        def one(member: DnsLease) -> _Outcome:
            try:
                return _Outcome(member, value=fn(member))
            except OrchestratorError as exc:
                return _Outcome(member, error=exc)

        with ThreadPoolExecutor(max_workers=len(members)) as pool:
            return list(pool.map(one, members))

    def _observe(
        self, action: str, *, allow_short: bool = False
    ) -> tuple[dict[str, Observation], dict[str, str]]:
        """What every reachable server stores (by server), and why the others failed.

        LeaseUnavailable when fewer than a majority answer, unless allow_short: then the caller
        decides (check tells "lost" from "cannot tell", renew needs what answered).
        """
        outcomes = self._each(lambda m: m.observe(), self.members)
        observed = {o.member.where: o.value for o in outcomes if isinstance(o.value, Observation)}
        failed = self._failed(outcomes)
        if len(observed) < self.need and not allow_short:
            raise LeaseUnavailable(
                f"cannot {action}: only {len(observed)} of {self.n} lease servers answer, "
                f"a majority is {self.need}",
                f"failed: {_names(failed)}",
                failed=failed,
            )
        return observed, failed

    @staticmethod
    def _failed(outcomes: list[_Outcome]) -> dict[str, str]:
        return {o.member.where: _reason(o.error) for o in outcomes if o.error is not None}

    def _others(self, outcomes: list[_Outcome], holder: str, now: float) -> list[LeaseRecord]:
        """Live records of other holders that blocked us (from LeaseCollision or a re-read)."""
        found: list[LeaseRecord] = []
        for o in outcomes:
            if isinstance(o.error, LeaseCollision):
                found.append(
                    LeaseRecord(o.error.holder, o.error.epoch or 0, o.error.expires_at, acquired_at=0.0)
                )
            elif o.value is False:
                try:
                    current = o.member.observe().record
                except OrchestratorError:
                    continue
                if current is not None and current.is_live(now) and current.holder != holder:
                    found.append(current)
        return found

    def _view(self, records: list[LeaseRecord], now: float) -> LeaseRecord | None:
        """The lease as the servers show it: the holder on a majority, else the newest holder seen."""
        held = [r for r in records if not r.released]
        if not held:
            return None
        counts = Counter((r.holder, r.epoch) for r in held)
        (holder, epoch), count = max(counts.items(), key=lambda item: (item[1], item[0][1]))
        same = [r for r in held if (r.holder, r.epoch) == (holder, epoch)]
        expiry = quorum_expiry([r.expires_at for r in same], self.n)
        if count < self.need or expiry is None:
            newest = max(held, key=lambda r: (r.epoch, r.expires_at))
            return newest
        return LeaseRecord(holder, epoch, expiry, min(r.acquired_at for r in same))

    def _collision(
        self, others: list[LeaseRecord], now: float, won: list[DnsLease], failed: dict[str, str]
    ) -> LeaseCollision:
        counts = Counter((r.holder, r.epoch) for r in others)
        (holder, epoch), count = max(counts.items(), key=lambda item: (item[1], item[0][1]))
        expires = max(r.expires_at for r in others if (r.holder, r.epoch) == (holder, epoch))
        why = (
            f"{holder} holds the lease on {count} of {self.n} lease servers, so this switch got "
            f"{len(won)} of the {self.need} it needs" + (f"; unreachable: {_names(failed)}" if failed else "")
        )
        return LeaseCollision(holder, expires, epoch=epoch, now=now, why=why)

    def _no_majority_to_acquire(
        self, won: list[DnsLease], raced: list[str], failed: dict[str, str], now: float
    ) -> OrchestratorError:
        parts = [f"got {len(won)} of the {self.need} needed"]
        if raced:
            parts.append(f"lost the race on {', '.join(raced)} to a switch that gave up too")
        if failed:
            parts.append(f"failed: {_names(failed)}")
        why = "; ".join(parts)
        if failed:
            return LeaseUnavailable(
                f"cannot acquire the lease: no majority of the {self.n} lease servers accepted it",
                why,
                failed=failed,
            )
        return LeaseCollision("another switch", now, now=now, why=why)


def _reason(error: OrchestratorError | None) -> str:
    if isinstance(error, LeaseUnavailable) and error.failed:
        return "; ".join(error.failed.values())
    return error.what if error else ""


def _names(failed: dict[str, str]) -> str:
    return ", ".join(f"{where} ({reason})" for where, reason in failed.items()) or "none"
