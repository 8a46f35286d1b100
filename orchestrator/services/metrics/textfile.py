"""One-shot CLI runs: the node-exporter textfile, rewritten atomically after each event."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterable
from pathlib import Path

from prometheus_client import Counter
from prometheus_client.exposition import write_to_textfile
from prometheus_client.parser import text_string_to_metric_families

from orchestrator.services.metrics.registry import RECORD_LABELS, TEXTFILE_ENV
from orchestrator.services.metrics.stack import StackMetrics

log = logging.getLogger("orchestrator.services.metrics")  # one logger for the package


def textfile_path(environ: dict[str, str] | None = None) -> Path | None:
    env = os.environ if environ is None else environ
    value = env.get(TEXTFILE_ENV)
    return Path(value) if value else None


def seed_counter_from_textfile(counter: Counter, name: str, path: Path, labels: Iterable[str]) -> None:
    """Carry a counter over from the previous textfile (so it keeps rising across runs)."""
    try:
        text = path.read_text()
    except OSError:
        return
    labels = tuple(labels)
    try:
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == name and sample.value > 0:
                    counter.labels(*(sample.labels.get(k, "") for k in labels)).inc(sample.value)
    except ValueError as exc:
        log.warning("the previous metrics textfile %s is unreadable: %s", path, exc)


class Publisher:
    """Writes the textfile of a one-shot run; does nothing when no path is configured.

    Each publish() catches up with the audit log and rewrites the file atomically; with
    live=True it also reads the live zones (at the start and the end of a switch, so the
    cleanup between the two is counted).
    """

    def __init__(self, root: Path, stack: str, path: Path | None) -> None:
        self.root = root
        self.stack = stack
        self.path = path
        self._stack_metrics: StackMetrics | None = None
        self._lock = threading.Lock()  # the lease keeper's thread publishes too

    @property
    def enabled(self) -> bool:
        return self.path is not None

    def _metrics(self) -> StackMetrics:
        if self._stack_metrics is None:
            sm = StackMetrics(self.root, self.stack)
            assert self.path is not None
            seed_counter_from_textfile(
                sm.metrics.cleanup, "dns_record_inactive_group_cleanup_total", self.path, RECORD_LABELS
            )
            self._stack_metrics = sm
        return self._stack_metrics

    def publish(self, *, live: bool = False) -> None:
        if self.path is None:
            return
        try:
            with self._lock:
                sm = self._metrics()
                sm.refresh(live=live, max_age=0.0)
                self.path.parent.mkdir(parents=True, exist_ok=True)
                with sm.lock:
                    write_to_textfile(str(self.path), sm.metrics.registry)
        except Exception as exc:  # noqa: BLE001 — metrics never break a switch
            log.warning("writing the metrics textfile %s failed: %s", self.path, exc)


def publisher(root: Path, stack: str, path: Path | None = None) -> Publisher:
    """The CLI's publisher: `path`, else $ORCHESTRATOR_METRICS_TEXTFILE, else a no-op."""
    return Publisher(root, stack, path or textfile_path())
