"""Stale Pulumi stack locks left by a crashed run (file backend).

Pulumi's file backend locks a stack with a JSON file naming the pid and host of the
holder. A process killed with SIGKILL never removes it, and every later update then
fails with "the stack is currently locked". A lock is stale when its holder is a
process on this host that no longer exists; locks of live processes, or of other
hosts, are never touched.
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path
from typing import Any

from orchestrator.adapters.processes import alive


def _state_root(root: Path) -> Path | None:
    url = os.environ.get("PULUMI_BACKEND_URL")
    if url and not url.startswith("file://"):
        return None  # other backends handle their own locks (`pulumi cancel`)
    return Path(url[len("file://") :]) if url else root / ".pulumi-state"


def stack_locks(root: Path, stack: str) -> list[tuple[Path, dict[str, Any]]]:
    if url := _shared_url():  # the PostgreSQL backend keeps its locks in its table
        return [(Path(key), info) for key, info in _pg().pg_stack_locks(url, stack)]
    base = _state_root(root)
    if base is None:
        return []
    out = []
    for path in sorted((base / ".pulumi" / "locks").rglob(f"{stack}/*.json")):
        try:
            out.append((path, json.loads(path.read_text())))
        except (OSError, ValueError):
            out.append((path, {}))
    return out


def is_stale(info: dict[str, Any]) -> bool:
    pid = info.get("pid")
    return isinstance(pid, int) and info.get("hostname") == socket.gethostname() and not alive(pid)


def clear_stale_locks(root: Path, stack: str) -> list[dict[str, Any]]:
    """Remove the stack's locks whose holder process is gone; returns what was removed."""
    if url := _shared_url():
        return _pg().clear_stale_pg_locks(url, stack)
    removed = []
    for path, info in stack_locks(root, stack):
        if is_stale(info):
            path.unlink(missing_ok=True)
            removed.append(info)
    return removed


def _shared_url() -> str | None:
    url = os.environ.get("PULUMI_BACKEND_URL", "")
    return url if url.startswith(("postgres://", "postgresql://")) else None


def _pg():  # noqa: ANN202
    # Imported here: orchestrator.adapters.state.locks imports is_stale from this module.
    from orchestrator.adapters.state import locks

    return locks
