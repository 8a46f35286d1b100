"""The switch journal in the shared database: the same methods as the file journal.

A record is one row, replaced whole by each save (one UPSERT is atomic, like the file
journal's rename): after a kill -9 the row is the previous or the next complete version.
Any checkout that reaches the database sees every switch of every machine, so
`switch --resume` and `--rollback` work from another machine.
"""

from __future__ import annotations

import builtins
import json
from pathlib import Path

from orchestrator.adapters.files.journal import Clock, Journal, SwitchRecord, is_switch_id
from orchestrator.adapters.state.backend import connect, redacted
from orchestrator.domain.errors import OrchestratorError, UsageError


class PgJournal(Journal):
    """The journal table of one shared database (orchestrator_journal)."""

    def __init__(self, url: str, clock: Clock | None = None) -> None:
        # `directory` only names the store in messages inherited from the file journal.
        super().__init__(Path(redacted(url)), clock)
        self.url = url

    def load(self, switch_id: str) -> SwitchRecord:
        if not is_switch_id(switch_id):
            raise self._unknown(switch_id)
        with connect(self.url) as conn:
            row = conn.execute(
                "SELECT record FROM orchestrator_journal WHERE id = %s", (switch_id,)
            ).fetchone()
        if row is None:
            raise self._unknown(switch_id)
        return self._parse(switch_id, row[0])

    def save(self, record: SwitchRecord, *, touch: bool = True) -> None:
        """Replace the record's row in one statement (atomic)."""
        if not is_switch_id(record.id):
            raise ValueError(f"{record.id!r} is not a switch id")
        if touch:
            record.updated_at = self._now()
        from psycopg.types.json import Jsonb  # here, not at import: most runs never connect

        data = record.to_dict()
        with connect(self.url) as conn:
            conn.execute(
                "INSERT INTO orchestrator_journal (id, stack, created_at, record) VALUES (%s, %s, %s, %s) "
                "ON CONFLICT (id) DO UPDATE SET record = EXCLUDED.record, saved_at = now()",
                (record.id, record.stack, record.created_at, Jsonb(data)),
            )

    def list(self, stack: str | None = None) -> builtins.list[SwitchRecord]:
        """Every record (of one stack), newest first."""
        with connect(self.url) as conn:
            rows = conn.execute(
                "SELECT id, record FROM orchestrator_journal WHERE %s::text IS NULL OR stack = %s "
                "ORDER BY created_at DESC, id DESC",
                (stack, stack),
            ).fetchall()
        return [self._parse(sid, data) for sid, data in rows]

    def _parse(self, switch_id: str, data: object) -> SwitchRecord:
        try:
            record = SwitchRecord.from_dict(data if isinstance(data, dict) else json.loads(str(data)))
        except (ValueError, KeyError, TypeError) as exc:
            raise OrchestratorError(
                f"journal row {switch_id} in {redacted(self.url)} is unreadable",
                f"{type(exc).__name__}: {exc} (written by another version, or edited by hand)",
                "restore it from a backup of the state database, or delete the row and run again",
            ) from exc
        if record.id != switch_id:
            raise OrchestratorError(
                f"journal row {switch_id} in {redacted(self.url)} holds switch {record.id}",
                "a journal row is keyed by the switch it records",
                "restore the row from a backup of the state database",
            )
        return record

    def _unknown(self, switch_id: str, show: int = 5) -> UsageError:
        with connect(self.url) as conn:
            names = [
                r[0] for r in conn.execute("SELECT id FROM orchestrator_journal ORDER BY id DESC").fetchall()
            ]
        if names:
            more = f" (and {len(names) - show} older)" if len(names) > show else ""
            why = f"known switches, newest first: {', '.join(names[:show])}{more}"
        else:
            why = f"the shared journal in {redacted(self.url)} holds no switches yet"
        if not is_switch_id(switch_id):
            why = f"a switch id looks like sw-20261121T101500Z-a1b2c3; {why}"
        return UsageError(
            f"no switch {switch_id!r} in the journal",
            why,
            "pass one of the ids above (copy it from the switch's output or `orchestrator history`)",
        )
