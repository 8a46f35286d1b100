"""Tie Pulumi's stack history back to the switch journal (pure: no I/O).

Pulumi's update history is the authoritative record of what changed in a stack; the
journal knows why (which switch, which reviewed plan, from which groups to which). The
bridge is the update message: every `up` the orchestrator runs for a switch carries a
message naming the switch id and plan fingerprint. `update_message` is the only place
that format is written and `parse_update_message` the only place it is read.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, Protocol

from orchestrator.domain.switch.ids import FINGERPRINT_RE, KINDS, is_switch_id
from orchestrator.domain.timestamps import format_ts, parse_ts

NO_GROUPS = "(none)"


class SwitchRecord(Protocol):
    """What the history reads of a journal record (orchestrator.adapters.files.journal)."""

    id: str
    kind: str
    fingerprint: str
    status: str
    from_groups: tuple[str, ...]
    to_groups: tuple[str, ...]
    created_at: str


_MESSAGE_RE = re.compile(
    r"\borchestrator (?P<kind>" + "|".join(re.escape(k) for k in KINDS) + r") "
    r"(?P<switch_id>sw-\d{8}T\d{6}Z-[0-9a-f]{6}) plan=(?P<fingerprint>[0-9a-f]{16})(?![0-9a-zA-Z])"
)

# Pulumi's operation names, in the order a reader expects them; others follow alphabetically.
_OP_ORDER = ("create", "update", "replace", "delete", "same")

ROW_KEYS: tuple[str, ...] = (
    "version",
    "time",
    "kind",
    "result",
    "switch_id",
    "fingerprint",
    "switch_kind",
    "from_groups",
    "to_groups",
    "status",
    "changes",
    "note",
)


def update_message(
    switch_id: str,
    fingerprint: str,
    from_groups: Iterable[str],
    to_groups: Iterable[str],
    kind: str = "switch",
) -> str:
    """`orchestrator switch sw-20261121T101500Z-a1b2c3 plan=0123456789abcdef: group-a -> group-b`."""
    if kind not in KINDS:
        raise ValueError(f"kind {kind!r} is not one of {', '.join(KINDS)}")
    if not is_switch_id(switch_id):
        raise ValueError(f"{switch_id!r} is not a switch id")
    if FINGERPRINT_RE.fullmatch(fingerprint) is None:
        raise ValueError(f"fingerprint {fingerprint!r} is not 16 hex")
    return (
        f"orchestrator {kind} {switch_id} plan={fingerprint}: {_groups(from_groups)} -> {_groups(to_groups)}"
    )


def parse_update_message(message: str | None) -> tuple[str, str] | None:
    """(switch_id, fingerprint) from an update message, or None for any other message."""
    if not message:
        return None
    match = _MESSAGE_RE.search(message)
    return (match["switch_id"], match["fingerprint"]) if match else None


def summaries_to_updates(summaries: Iterable[Any]) -> list[dict[str, Any]]:
    """Pulumi automation UpdateSummary objects as the dicts join_history takes (duck-typed)."""
    keys = ("version", "kind", "result", "message", "start_time", "end_time", "resource_changes")
    return [{key: getattr(s, key, None) for key in keys} for s in summaries]


def join_history(updates: list[dict[str, Any]], records: list[SwitchRecord]) -> list[dict[str, Any]]:
    """One row per stack update and per journal record no update refers to, newest first.

    Pass the records of the same stack as the updates. An update naming a switch the
    journal does not hold (run on another machine, or pruned) keeps its id with a note;
    a record with no update (stopped before writing, or never wrote) appears on its own,
    at its creation time. Rows have the keys in ROW_KEYS.
    """
    by_id = {r.id: r for r in records}
    referenced: set[str] = set()
    rows: list[dict[str, Any]] = []
    for update in updates:
        parsed = parse_update_message(update.get("message"))
        switch_id, fingerprint = parsed if parsed else (None, None)
        record = by_id.get(switch_id) if switch_id else None
        note = None
        if switch_id and record is None:
            note = "no journal record here (switch run from another machine, or its journal pruned)"
        elif record is not None and record.fingerprint != fingerprint:
            note = f"this update applied plan {fingerprint}; the journal records plan {record.fingerprint}"
        if switch_id:
            referenced.add(switch_id)
        rows.append(
            _row(
                version=update.get("version"),
                time=_time(update.get("start_time")),
                kind=update.get("kind"),
                result=update.get("result"),
                switch_id=switch_id,
                fingerprint=fingerprint,
                record=record,
                changes=changes_summary(update.get("resource_changes")),
                note=note,
            )
        )
    for record in records:
        if record.id not in referenced:
            rows.append(
                _row(
                    version=None,
                    time=_time(record.created_at),
                    kind=None,
                    result=None,
                    switch_id=record.id,
                    fingerprint=record.fingerprint,
                    record=record,
                    changes=None,
                    note="no stack update recorded for this switch",
                )
            )
    rows.sort(key=lambda r: (r["time"] or "", -1 if r["version"] is None else r["version"]), reverse=True)
    return rows


def changes_summary(changes: Mapping[str, int] | None) -> str | None:
    """`create=1 update=3 same=10`: non-zero counts, in the order people read them."""
    if not changes:
        return None
    ops = sorted(changes, key=lambda op: (_OP_ORDER.index(op) if op in _OP_ORDER else len(_OP_ORDER), op))
    text = " ".join(f"{op}={changes[op]}" for op in ops if changes[op])
    return text or None


def _row(
    *,
    version: int | None,
    time: str | None,
    kind: str | None,
    result: str | None,
    switch_id: str | None,
    fingerprint: str | None,
    record: SwitchRecord | None,
    changes: str | None,
    note: str | None,
) -> dict[str, Any]:
    return {
        "version": version,
        "time": time,
        "kind": kind,
        "result": result,
        "switch_id": switch_id,
        "fingerprint": fingerprint,
        "switch_kind": record.kind if record else None,
        "from_groups": record.from_groups if record else None,
        "to_groups": record.to_groups if record else None,
        "status": record.status if record else None,
        "changes": changes,
        "note": note,
    }


def _groups(groups: Iterable[str]) -> str:
    names = list(groups)
    return ",".join(names) if names else NO_GROUPS


def _time(value: datetime | str | None) -> str | None:
    """One spelling for every time (Pulumi gives naive-UTC datetimes, the journal ISO text)."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return format_ts(value)
    try:
        return format_ts(parse_ts(value))
    except ValueError:
        return value
