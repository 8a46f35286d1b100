"""The lease's interface and types, and the pure decisions every implementation shares.

A lease makes a switch exclusive: one holder at a time, for a limited time (its TTL), with a
fencing epoch that strictly increases on every acquisition. Writers carry (holder, epoch) and
call check() before each write, so a writer whose lease expired or was taken stops before it
writes (DESIGN.md, "The switch", invariant 4).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol, runtime_checkable

from orchestrator.domain.errors import ConflictError, EnvironmentProblem, UsageError

DEFAULT_TTL = 30.0
MAX_HOLDER_LENGTH = 200
# Characters a holder cannot contain: the record's separators and quoting, and whitespace
# other than a plain space (a holder is shown in one line of an error message).
_FORBIDDEN_IN_HOLDER = set(';"\\')


@dataclass(frozen=True)
class LeaseRecord:
    """One state of the lease, as stored on a server.

    holder: who holds it ("alice@host:pid/switch-<id>"); "" for a released lease (a tombstone
    that keeps the last epoch, see docs/lease.md). epoch: the fencing epoch. Times are unix
    seconds, rounded to milliseconds so that a record survives encoding unchanged.
    """

    holder: str
    epoch: int
    expires_at: float
    acquired_at: float

    @property
    def released(self) -> bool:
        """A tombstone: nobody holds the lease; only the epoch is remembered."""
        return self.holder == ""

    def is_live(self, now: float) -> bool:
        """Held by someone (not a tombstone) and not expired at `now`."""
        return not self.released and self.expires_at > now

    def same_lease(self, other: LeaseRecord | None) -> bool:
        """The same acquisition: same holder and epoch (expiry may differ after a renew)."""
        return other is not None and (other.holder, other.epoch) == (self.holder, self.epoch)


def stamp(t: float) -> float:
    """A time as the record stores it (milliseconds)."""
    return round(t, 3)


def iso(t: float) -> str:
    """UTC ISO 8601 to the second, for messages."""
    if not math.isfinite(t) or t <= 0:
        return "never"
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def describe(record: LeaseRecord | None, now: float) -> str:
    """One phrase naming who holds the lease (for messages)."""
    if record is None:
        return "nobody holds the lease (no record)"
    if record.released:
        return f"nobody holds the lease (released at epoch {record.epoch})"
    if record.expires_at <= now:
        return f"{record.holder} held it at epoch {record.epoch}; it expired at {iso(record.expires_at)}"
    left = record.expires_at - now
    return (
        f"{record.holder} holds it at epoch {record.epoch} until {iso(record.expires_at)} ({left:.0f}s left)"
    )


# --- errors -----------------------------------------------------------------------------------


class LeaseCollision(ConflictError):
    """Someone else holds the lease: acquire refused. Names the holder and when it expires."""

    def __init__(
        self,
        holder: str,
        expires_at: float,
        *,
        epoch: int | None = None,
        now: float,
        where: str = "",
        why: str = "",
    ):
        self.holder = holder
        self.expires_at = expires_at
        self.epoch = epoch
        left = max(0.0, expires_at - now)
        at = f" (epoch {epoch})" if epoch is not None else ""
        super().__init__(
            f"the lease is held by {holder}{at} until {iso(expires_at)} ({left:.0f}s left)",
            why
            or "only one switch may change the zones at a time"
            + (f"; the lease lives on {where}" if where else ""),
            f"wait for that switch to finish (the lease expires at {iso(expires_at)} unless it is "
            f"renewed), or check who it is: the holder names user@host:pid and the switch id",
        )


class LeaseLost(ConflictError):
    """Our lease expired, was taken over, or its epoch moved on: stop before writing."""

    def __init__(self, what: str, why: str = "", fix: str = "", *, current: LeaseRecord | None = None):
        self.current = current
        super().__init__(
            what,
            why,
            fix
            or "stop this switch: it no longer holds the lease and another switch may be running "
            "(the holder is named above); resume or roll back this switch once the lease is free",
        )


class LeaseUnavailable(EnvironmentProblem):
    """The lease servers cannot be reached (or not enough of them for a majority)."""

    def __init__(self, what: str, why: str = "", fix: str = "", *, failed: Mapping[str, str] | None = None):
        self.failed = dict(failed or {})
        super().__init__(
            what,
            why or "; ".join(f"{name}: {reason}" for name, reason in self.failed.items()),
            fix
            or "start the lease servers (`orchestrator dev up` locally) or fix their address/port in "
            "the lease configuration, then run again",
        )


def lost(record: LeaseRecord, current: LeaseRecord | None, now: float, where: str = "") -> LeaseLost:
    """The LeaseLost for `record` given what the server shows now."""
    on = f" on {where}" if where else ""
    if record.same_lease(current) and current is not None and not current.released:
        reason = f"it expired at {iso(current.expires_at)}{on} and was not renewed in time"
    else:
        reason = describe(current, now) + on
    return LeaseLost(
        f"the lease of {record.holder} (epoch {record.epoch}) is gone",
        reason,
        current=current,
    )


# --- the interface ----------------------------------------------------------------------------


@runtime_checkable
class Lease(Protocol):
    """A lease: dns (one server) and dns-quorum (a majority of N servers) implement it."""

    def acquire(
        self, holder: str, ttl: float = DEFAULT_TTL, *, take_over: TakeOver | None = None
    ) -> LeaseRecord:
        """Take the lease with a new epoch; LeaseCollision while someone else holds it."""
        ...

    def renew(self, record: LeaseRecord, ttl: float = DEFAULT_TTL) -> LeaseRecord:
        """Same epoch, new expiry (now + ttl); LeaseLost unless it is still ours and unexpired."""
        ...

    def release(self, record: LeaseRecord) -> None:
        """Give it up (a tombstone keeps the epoch); a no-op unless still ours; idempotent."""
        ...

    def read(self) -> LeaseRecord | None:
        """Who holds it (possibly expired); None when nobody does (no record, or released)."""
        ...

    def check(self, record: LeaseRecord, *, margin: float = 0.0) -> None:
        """The fencing check: LeaseLost unless `record`'s holder and epoch hold it for > margin s."""
        ...


# --- pure decisions ---------------------------------------------------------------------------


def validate_holder(holder: str) -> str:
    """A holder fits in the record: non-empty, printable, no separators, not too long."""
    bad = sorted({c for c in holder if c in _FORBIDDEN_IN_HOLDER or not c.isprintable()})
    if not holder.strip() or holder != holder.strip() or bad or len(holder) > MAX_HOLDER_LENGTH:
        raise UsageError(
            f"lease holder {holder!r} cannot be stored",
            f'a holder is 1-{MAX_HOLDER_LENGTH} printable characters without ; " \\ '
            "or surrounding spaces" + (f" (found {''.join(bad)!r})" if bad else ""),
            "use a holder such as user@host:pid/switch-<id>",
        )
    return holder


def validate_ttl(ttl: float) -> float:
    if not (math.isfinite(ttl) and ttl > 0):
        raise UsageError(
            f"lease TTL {ttl} is not a positive number of seconds",
            "the lease expires ttl seconds after each acquire or renew",
            "use a TTL such as 30 (renewed every 10 s by LeaseKeeper)",
        )
    return ttl


TakeOver = Callable[[LeaseRecord], bool]


def acquire_epoch(
    current: LeaseRecord | None, holder: str, now: float, where: str = "", take_over: TakeOver | None = None
) -> int:
    """The epoch to acquire at over `current`, or LeaseCollision while it is live.

    A live lease blocks everyone, its own holder included: a holder string names one process
    and switch, so a second acquire under the same name is a bug or a stale retry, and
    fencing it with a new epoch would silently cut off the first. The one exception is
    `take_over(current)` saying yes: a resume taking over the lease of its own switch
    whose process is known dead (the new epoch fences that process off for good).
    """
    if current is None:
        return 1
    if current.is_live(now) and not (take_over and take_over(current)):
        raise LeaseCollision(current.holder, current.expires_at, epoch=current.epoch, now=now, where=where)
    return current.epoch + 1


def next_epoch(epochs: Iterable[int]) -> int:
    """One more than any epoch seen (1 when none): the quorum's epoch for all of its servers."""
    return max(epochs, default=0) + 1


def majority(n: int) -> int:
    """The smallest strict majority of n servers."""
    if n < 1:
        raise ValueError("a quorum needs at least one server")
    return n // 2 + 1


def quorum_expiry(expiries: Iterable[float], n: int) -> float | None:
    """When a lease stored with these expiries on some of n servers stops holding a majority.

    The lease holds while a majority of the n servers show it unexpired: that is the
    majority-th latest expiry (None when fewer than a majority show it at all).
    """
    latest_first = sorted(expiries, reverse=True)
    need = majority(n)
    return latest_first[need - 1] if len(latest_first) >= need else None
