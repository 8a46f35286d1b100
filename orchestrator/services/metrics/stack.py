"""All sources of one stack's metrics, refreshed on demand (`serve` and the CLI's textfile)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from orchestrator.domain.health import CHECKS, CONDITION_STATUSES, STATUSES
from orchestrator.services.deploy import load as load_stack
from orchestrator.services.metrics.audit_fold import AuditFold, _epoch
from orchestrator.services.metrics.databases import DatabaseObserver
from orchestrator.services.metrics.live import LiveZoneObserver
from orchestrator.services.metrics.registry import LIVE_MAX_AGE, Metrics
from orchestrator.services.parts import Parts, installed

log = logging.getLogger("orchestrator.services.metrics")  # one logger for the package


def update_journal(metrics: Metrics, root: Path, stack: str, parts: Parts) -> None:
    try:
        unfinished = parts.unfinished_switch(root, stack)
    except Exception as exc:  # noqa: BLE001
        log.warning("reading the journal failed: %s", exc)
        return
    metrics.unfinished.labels(stack).set(0 if unfinished is None else 1)


def update_health(metrics: Metrics, root: Path, stack: str, parts: Parts) -> None:
    report = parts.health_store.load_report(root, stack)
    if report is None:
        return
    by_name = {c.name: c.status for c in report.checks}
    for check in CHECKS:
        for status in STATUSES:
            metrics.health_status.labels(stack, check, status).set(1 if by_name.get(check) == status else 0)
    for status in CONDITION_STATUSES:
        metrics.healthy.labels(stack, status).set(1 if report.condition.status == status else 0)
    if (when := _epoch(report.finished_at)) is not None:
        metrics.health_checked.labels(stack).set(when)


def _journal_stack(root: Path, parts: Parts) -> Callable[[str], str | None]:
    def stack_of(switch_id: str) -> str | None:
        try:
            return str(parts.switch_record(root, switch_id).stack)
        except Exception:  # noqa: BLE001
            return None

    return stack_of


def _live_loader(root: Path, stack: str, parts: Parts) -> tuple[Callable[[], Any], Callable[[Any], Any]]:
    def load() -> Any:
        return load_stack(root, stack, parts)[0]

    return load, parts.live_zone


class StackMetrics:
    """All sources for one stack of one project, refreshed on demand (serve and the CLI)."""

    def __init__(
        self,
        root: Path,
        stack: str,
        *,
        audit_path: Path | None = None,
        live: LiveZoneObserver | None = None,
        databases: DatabaseObserver | None = None,
        parts: Parts | None = None,
    ) -> None:
        self.parts = parts or installed()
        self.root = root
        self.stack = stack
        self.metrics = Metrics()
        self.lock = threading.Lock()
        self.fold = AuditFold(
            self.metrics, audit_path or self.parts.audit_path(root), stack_of=_journal_stack(root, self.parts)
        )
        if live is None:
            load, read = _live_loader(root, stack, self.parts)
            live = LiveZoneObserver(self.metrics, stack, load, read)
        self.live = live
        if databases is None:
            # The same topology as the live zones (tests that replace live.load replace this too).
            databases = DatabaseObserver(self.metrics, lambda: self.live.load(), self.parts.replication)
        self.databases = databases

    def refresh(self, *, live: bool = True, max_age: float = LIVE_MAX_AGE) -> None:
        with self.lock:
            self.fold.sync()
            self.fold.settle()
            update_journal(self.metrics, self.root, self.stack, self.parts)
            update_health(self.metrics, self.root, self.stack, self.parts)
            if live:
                self.live.observe(max_age=max_age)
                self.databases.observe(max_age=max_age)

    def render(self, accept: str | None = None, *, live: bool = True) -> tuple[bytes, str]:
        self.refresh(live=live)
        with self.lock:
            return self.metrics.render(accept)
