"""The audit log in the shared database: the same methods as the file audit log.

Each event is one INSERT of one whole JSON line (the very line the file log would hold):
a row is there entirely or not at all, so concurrent writers on any machines never lose
or interleave events, and the sequence number orders them as the database committed them.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from orchestrator.adapters.files.audit import AuditLog, _check_event_type
from orchestrator.adapters.state.backend import connect, redacted


class PgAuditLog(AuditLog):
    """The audit table of one shared database (orchestrator_audit)."""

    def __init__(self, url: str) -> None:
        # `path` only names the store in messages; nothing is written there.
        super().__init__(Path(redacted(url)))
        self.url = url

    def _write(self, data: bytes) -> None:
        line = data.decode("utf-8").strip()
        event = json.loads(line)
        with connect(self.url) as conn:
            conn.execute(
                "INSERT INTO orchestrator_audit (switch_id, type, line) VALUES (%s, %s, %s)",
                (event.get("switch_id"), event["type"], line),
            )

    def read(self, switch_id: str | None = None, types: Iterable[str] | None = None) -> list[dict[str, Any]]:
        """Events in commit order, optionally only one switch's and/or some types."""
        wanted: list[str] | None = None
        if types is not None:
            wanted = sorted(set(types))
            for event_type in wanted:
                _check_event_type(event_type)
        with connect(self.url) as conn:
            rows = conn.execute(
                "SELECT seq, line FROM orchestrator_audit "
                "WHERE (%s::text IS NULL OR switch_id = %s) AND (%s::text[] IS NULL OR type = ANY(%s)) "
                "ORDER BY seq",
                (switch_id, switch_id, wanted, wanted),
            ).fetchall()
        events: list[dict[str, Any]] = []
        for seq, line in rows:
            try:
                events.append(json.loads(line))
            except json.JSONDecodeError:
                warnings.warn(f"{redacted(self.url)}: skipped unreadable audit row {seq}", stacklevel=2)
        return events
