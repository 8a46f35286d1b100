"""Where post-switchover health reports and latency baselines are kept (per project root)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from orchestrator.domain.health import Condition, HealthReport


class HealthStore(Protocol):
    """orchestrator.adapters.files.health_store keeps them as JSON files under .orchestrator/."""

    def load_report(self, root: Path, stack: str) -> HealthReport | None: ...
    def save_report(self, root: Path, report: HealthReport) -> Path: ...
    def condition_for(self, root: Path, stack: str) -> Condition: ...
    def load_baseline(self, root: Path, switch_id: str | None) -> dict[str, Any] | None: ...
    def save_baseline(self, root: Path, switch_id: str, data: dict[str, Any]) -> Path: ...
