"""Switch and lease metrics: a fold over the audit log, tailed from where it stopped."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchestrator.domain.timestamps import parse_ts
from orchestrator.ports import audit as ev
from orchestrator.services.metrics.registry import UNKNOWN_STACK, Metrics


def _epoch(ts: str | None) -> float | None:
    if not ts:
        return None
    try:
        return parse_ts(ts).timestamp()
    except (TypeError, ValueError):
        return None


@dataclass
class _Lease:
    held: bool = False
    epoch: int | None = None
    expires_at: float = 0.0


@dataclass
class AuditFold:
    """Applies audit events to the metrics; `sync()` reads only what was appended since."""

    metrics: Metrics
    path: Path
    stack_of: Callable[[str], str | None] = lambda _sid: None
    lease_ttl: float = 30.0
    offset: int = 0
    inode: int | None = None
    stacks: dict[str, str] = field(default_factory=dict)  # switch id -> stack
    started: dict[str, float] = field(default_factory=dict)  # switch id -> start (unix)
    running: dict[str, set[str]] = field(default_factory=dict)  # stack -> switch ids
    leases: dict[str, _Lease] = field(default_factory=dict)
    applied: int = 0

    def sync(self) -> int:
        """Apply the events appended since the last call; returns how many were applied."""
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return 0
        if self.inode is not None and (st.st_ino != self.inode or st.st_size < self.offset):
            # Rotated or truncated: the counters already hold what was read; start the new file.
            self.offset = 0
        self.inode = st.st_ino
        if st.st_size <= self.offset:
            return 0
        with self.path.open("rb") as fh:
            fh.seek(self.offset)
            data = fh.read(st.st_size - self.offset)
        end = data.rfind(b"\n")
        if end < 0:
            return 0  # a line still being written: wait for its newline
        self.offset += end + 1
        count = 0
        for raw in data[: end + 1].split(b"\n"):
            if not raw.strip():
                continue
            try:
                event = json.loads(raw)
            except ValueError:
                continue  # a fragment left by a crash mid-write (the audit log skips it too)
            if isinstance(event, dict):
                self.apply(event)
                count += 1
        self.applied += count
        return count

    def _stack(self, event: dict[str, Any]) -> str:
        sid = event.get("switch_id")
        if event.get("stack"):
            stack = str(event["stack"])
            if sid:
                self.stacks[sid] = stack
            return stack
        if sid and sid in self.stacks:
            return self.stacks[sid]
        if sid:
            found = self.stack_of(sid)
            if found:
                self.stacks[sid] = found
                return found
        return UNKNOWN_STACK

    def _set_running(self, stack: str) -> None:
        self.metrics.in_progress.labels(stack).set(len(self.running.get(stack, ())))

    def apply(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        sid = event.get("switch_id")
        when = _epoch(event.get("ts")) or time.time()
        m = self.metrics
        if kind in (ev.SWITCHOVER_REQUESTED, ev.RESUME_REQUESTED):
            stack = self._stack(event)
            if sid:
                self.started[sid] = when
                self.running.setdefault(stack, set()).add(sid)
            self._set_running(stack)
        elif kind == ev.STEP_COMPLETED:
            stack = self._stack(event)
            seconds = event.get("duration_s")
            step = event.get("step")
            if isinstance(seconds, int | float) and step:
                m.step_duration.labels(stack, step).observe(float(seconds))
                m.last_step.labels(stack, step).set(float(seconds))
        elif kind in (ev.SWITCHOVER_COMPLETED, ev.SWITCHOVER_FAILED):
            stack = self._stack(event)
            result = "completed" if kind == ev.SWITCHOVER_COMPLETED else "failed"
            m.switchovers.labels(stack, result).inc()
            start = self.started.pop(sid, None) if sid else None
            if start is not None:
                m.duration.labels(stack, result).observe(max(0.0, when - start))
            if result == "completed":
                m.last_success.labels(stack).set(when)
            if sid:
                self.running.get(stack, set()).discard(sid)
            self._set_running(stack)
        elif kind == ev.SWITCHOVER_NOOP:
            m.switchovers.labels(self._stack(event), "noop").inc()
        elif kind == ev.LEASE_ACQUIRED:
            stack = self._stack(event)
            epoch = event.get("epoch")
            self.leases[stack] = _Lease(
                True, epoch if isinstance(epoch, int) else None, when + self.lease_ttl
            )
            if isinstance(epoch, int):
                m.lease_epoch.labels(stack).set(epoch)
        elif kind == ev.LEASE_RENEWED:
            stack = self._stack(event)
            lease = self.leases.setdefault(stack, _Lease())
            lease.held = True
            expires = event.get("expires_at")
            lease.expires_at = float(expires) if isinstance(expires, int | float) else when + self.lease_ttl
            if isinstance(event.get("epoch"), int):
                lease.epoch = event["epoch"]
                m.lease_epoch.labels(stack).set(lease.epoch)
        elif kind in (ev.LEASE_RELEASED, ev.LEASE_LOST):
            stack = self._stack(event)
            self.leases.setdefault(stack, _Lease()).held = False
        elif kind == ev.LEASE_COLLISION:
            m.lease_collisions.labels(self._stack(event)).inc()

    def settle(self, now: float | None = None) -> None:
        """Time-dependent values: a lease nobody renewed is not held after its expiry."""
        now = time.time() if now is None else now
        for stack, lease in self.leases.items():
            self.metrics.lease_held.labels(stack).set(1 if lease.held and now < lease.expires_at else 0)
