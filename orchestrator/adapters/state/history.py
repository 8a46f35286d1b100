"""Stack updates with their real version numbers, from any backend.

Pulumi Cloud numbers a stack's updates 1, 2, 3, ...; the DIY backends (file, S3,
PostgreSQL) keep every update but report version 0 for each. Their history is complete
and ordered (one history object per update, named by time), so the version of an update
is its position in that history: the same number on every machine reading the same backend.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from orchestrator.adapters.pulumi.stack import ProjectStack


def number_versions(updates: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Updates newest first, the whole history: versions the backend left at 0 become positions."""
    total = len(updates)
    return [{**u, "version": u.get("version") or total - index} for index, u in enumerate(updates)]


# `pulumi stack history` returns 10 updates unless asked for a page size: read whole pages.
PAGE = 500


def all_summaries(root: Path, stack: str) -> list[Any]:
    """Every update summary of the stack, newest first (page by page: the CLI's default is 10)."""
    selected = ProjectStack(root, stack).stack()
    summaries: list[Any] = []
    page = 1
    while True:
        batch = selected.history(page_size=PAGE, page=page)
        summaries.extend(batch)
        if len(batch) < PAGE:
            return summaries
        page += 1


def stack_updates(root: Path, stack: str, limit: int) -> list[dict[str, Any]]:
    """The newest `limit` updates of the stack as plain dicts, with real version numbers."""
    updates = [
        {
            "version": u.version,
            "kind": u.kind,
            "result": u.result,
            "message": u.message,
            "start_time": u.start_time.isoformat() if u.start_time else None,
            "end_time": u.end_time.isoformat() if u.end_time else None,
            "resource_changes": dict(u.resource_changes or {}),
        }
        # The whole history: a version is a position counted from the first update.
        for u in all_summaries(root, stack)
    ]
    return number_versions(updates)[:limit]
