"""Where health results are kept: <root>/.orchestrator/health/ (gitignored local state).

- `<stack>.json`: the last HealthReport of the stack (what `status`, `/v1/health` and the
  metrics show);
- `baseline-<switch id>.json`: the latency baseline measured before that switch's flip,
  so a resumed switch (or a later `orchestrator health`) compares with the same baseline.
Files are replaced atomically (tmp + rename): a reader never sees half a report.
"""

from __future__ import annotations

import json
import os
import secrets
import warnings
from pathlib import Path
from typing import Any

from orchestrator.adapters.files.paths import state_dir
from orchestrator.domain.health import NO_REPORT, Condition, HealthReport


def health_dir(root: Path) -> Path:
    return state_dir(root) / "health"


def report_path(root: Path, stack: str) -> Path:
    return health_dir(root) / f"{stack}.json"


def baseline_path(root: Path, switch_id: str) -> Path:
    return health_dir(root) / f"baseline-{switch_id}.json"


def _write_json(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        warnings.warn(f"{path} is unreadable and is ignored: {exc}", stacklevel=3)
        return None
    return data if isinstance(data, dict) else None


def save_report(root: Path, report: HealthReport) -> Path:
    path = report_path(root, report.stack)
    _write_json(path, report.to_dict())
    return path


def load_report(root: Path, stack: str) -> HealthReport | None:
    data = _read_json(report_path(root, stack))
    if data is None:
        return None
    try:
        return HealthReport.from_dict(data)
    except (KeyError, TypeError, ValueError) as exc:
        warnings.warn(
            f"{report_path(root, stack)} is not a health report and is ignored: {exc}", stacklevel=2
        )
        return None


def condition_for(root: Path, stack: str) -> Condition:
    """LastSwitchoverHealthy of the stack: from the last report, Unknown when there is none."""
    report = load_report(root, stack)
    return report.condition if report else NO_REPORT


def save_baseline(root: Path, switch_id: str, data: dict[str, Any]) -> Path:
    path = baseline_path(root, switch_id)
    _write_json(path, data)
    return path


def load_baseline(root: Path, switch_id: str | None) -> dict[str, Any] | None:
    if not switch_id:
        return None
    return _read_json(baseline_path(root, switch_id))


class FileHealthStore:
    """The HealthStore port (orchestrator.ports.health_store) over the functions above."""

    load_report = staticmethod(load_report)
    save_report = staticmethod(save_report)
    condition_for = staticmethod(condition_for)
    load_baseline = staticmethod(load_baseline)
    save_baseline = staticmethod(save_baseline)
