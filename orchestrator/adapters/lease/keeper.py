"""LeaseKeeper: renews a held lease in the background and says when it is lost.

A switch runs for longer than one TTL (Pulumi updates, probes), so its lease is renewed
every `interval` seconds (10 by default, a third of the 30 s TTL: two renewals may fail
before the lease lapses). A renewal that cannot reach the servers is retried sooner, since
the lease still holds until it expires; a renewal that finds the lease taken, or that cannot
get through before the expiry, marks the lease lost: `.lost` is set, on_lost(exc) is called
once, and assert_held() raises from then on. The keeper never releases the lease: releasing
is the switch's `release-lease` step.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from types import TracebackType

from orchestrator.adapters.lease.base import DEFAULT_TTL, Lease, LeaseLost, LeaseRecord, iso
from orchestrator.domain.errors import OrchestratorError, UsageError

DEFAULT_INTERVAL = 10.0
MAX_RETRY_DELAY = 2.0

log = logging.getLogger(__name__)


class LeaseKeeper:
    """Context manager: `with LeaseKeeper(lease, record) as keeper: ... keeper.assert_held()`."""

    def __init__(
        self,
        lease: Lease,
        record: LeaseRecord,
        *,
        interval: float = DEFAULT_INTERVAL,
        ttl: float = DEFAULT_TTL,
        on_lost: Callable[[LeaseLost], None] | None = None,
        on_renewed: Callable[[LeaseRecord], None] | None = None,
        clock: Callable[[], float] = time.time,
    ):
        if not 0 < interval < ttl:
            raise UsageError(
                f"lease renewal interval {interval}s is not between 0 and the TTL ({ttl}s)",
                "the lease must be renewed before it expires",
                "renew at about a third of the TTL (interval=10, ttl=30)",
            )
        self.lease = lease
        self.interval = interval
        self.ttl = ttl
        self.on_lost = on_lost
        self.on_renewed = on_renewed
        self.clock = clock
        self.lost = threading.Event()
        self.error: LeaseLost | None = None
        self.renewals = 0
        self._record = record
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def record(self) -> LeaseRecord:
        """The latest record: same holder and epoch as acquired, the latest expiry."""
        with self._lock:
            return self._record

    # --- lifecycle -----------------------------------------------------------------------------

    def start(self) -> LeaseKeeper:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._run, name=f"lease-keeper-{self.record.epoch}", daemon=True
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop renewing (the lease then lapses at its expiry unless released)."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()

    def __enter__(self) -> LeaseKeeper:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # --- the fencing side ----------------------------------------------------------------------

    def assert_held(self, *, margin: float = 0.0) -> None:
        """Raise LeaseLost when the keeper lost the lease or the servers no longer show it ours."""
        if self.lost.is_set() and self.error is not None:
            raise self.error
        try:
            self.lease.check(self.record, margin=margin)
        except LeaseLost as exc:
            self._set_lost(exc)
            raise

    # --- the renewal loop ----------------------------------------------------------------------

    def _run(self) -> None:
        delay = self.interval
        while not self._stop.wait(delay):
            record = self.record
            try:
                renewed = self.lease.renew(record, self.ttl)
            except LeaseLost as exc:
                self._set_lost(exc)
                return
            except OrchestratorError as exc:
                # Servers unreachable: the lease holds until it expires; retry sooner until then.
                delay = min(self.interval, MAX_RETRY_DELAY)
                if self.clock() + delay < record.expires_at:
                    log.warning("lease renewal failed, retrying in %.1fs: %s", delay, exc.what)
                    continue
                self._set_lost(
                    LeaseLost(
                        f"the lease of {record.holder} (epoch {record.epoch}) is gone",
                        f"it could not be renewed before it expired at {iso(record.expires_at)}: {exc.what}",
                        current=record,
                    )
                )
                return
            except Exception as exc:  # a bug must not leave the switch believing it holds the lease
                self._set_lost(
                    LeaseLost(
                        f"the lease of {record.holder} (epoch {record.epoch}) can no longer be trusted",
                        f"renewing it failed unexpectedly: {type(exc).__name__}: {exc}",
                        current=record,
                    )
                )
                return
            with self._lock:
                self._record = renewed
                self.renewals += 1
            delay = self.interval
            self._call(self.on_renewed, renewed)

    def _set_lost(self, exc: LeaseLost) -> None:
        with self._lock:
            if self.lost.is_set():
                return
            self.error = exc
            self.lost.set()
        self._stop.set()
        self._call(self.on_lost, exc)

    @staticmethod
    def _call(callback: Callable[..., None] | None, arg: object) -> None:
        """Callbacks (metrics, audit) must not kill the keeper: their errors are logged."""
        if callback is None:
            return
        try:
            callback(arg)
        except Exception:
            log.exception("lease keeper callback %r failed", callback)
