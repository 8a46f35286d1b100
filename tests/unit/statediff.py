"""Test oracle: current vs desired record sets -> the changes between them (was domain/diff.py).

No production code diffs record sets itself (Pulumi does); the tests use this to state what a
switch between two desired states changes.

A change is per record set, never per value: a switch replaces a record set's values in
one MODIFY (an atomic replace), so a name never resolves to nothing in between
(DESIGN.md). `apply_changes` is the inverse check: current + diff == desired.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from orchestrator.domain.records import RecordSet, record_key

CREATE, MODIFY, DELETE = "CREATE", "MODIFY", "DELETE"
ACTIONS = (CREATE, MODIFY, DELETE)


@dataclass(frozen=True)
class Change:
    """One record set to create, modify or delete, with both sides for the preview."""

    action: str
    zone: str
    name: str
    type: str
    old_values: tuple[str, ...]
    new_values: tuple[str, ...]
    old_ttl: int | None
    new_ttl: int | None

    @property
    def key(self) -> str:
        return record_key(self.zone, self.name, self.type)

    @property
    def added(self) -> tuple[str, ...]:
        return tuple(v for v in self.new_values if v not in self.old_values)

    @property
    def removed(self) -> tuple[str, ...]:
        return tuple(v for v in self.old_values if v not in self.new_values)


def _by_key(records: Iterable[RecordSet], side: str) -> dict[str, RecordSet]:
    out: dict[str, RecordSet] = {}
    for r in records:
        if r.key in out:
            raise ValueError(f"{side} has two record sets for {r.key}")
        out[r.key] = r
    return out


def diff(current: Iterable[RecordSet], desired: Iterable[RecordSet]) -> list[Change]:
    """The changes that turn `current` into `desired`, sorted by key.

    Both sides are whole record sets; values compare as canonical sets (RecordSet sorts
    them), so order in a live answer never shows as a change. A TTL difference alone is a
    MODIFY. Records outside our concern must be filtered out by the caller.
    """
    cur = _by_key(current, "current")
    want = _by_key(desired, "desired")
    changes: list[Change] = []
    for key in sorted(cur.keys() | want.keys()):
        old, new = cur.get(key), want.get(key)
        if old is None and new is not None:
            changes.append(Change(CREATE, new.zone, new.name, new.type, (), new.values, None, new.ttl))
        elif new is None and old is not None:
            changes.append(Change(DELETE, old.zone, old.name, old.type, old.values, (), old.ttl, None))
        elif old is not None and new is not None and (old.values != new.values or old.ttl != new.ttl):
            changes.append(
                Change(MODIFY, new.zone, new.name, new.type, old.values, new.values, old.ttl, new.ttl)
            )
    return changes


def apply_changes(current: Iterable[RecordSet], changes: Iterable[Change]) -> list[RecordSet]:
    """`current` with `changes` applied, sorted by key; refuses a change that does not fit.

    A CREATE of an existing set, or a MODIFY/DELETE whose old side is not what is there,
    raises ValueError: the plan was made against another state.
    """
    state = _by_key(current, "current")
    for ch in changes:
        there = state.get(ch.key)
        if ch.action == CREATE:
            if there is not None:
                raise ValueError(f"CREATE {ch.key}: it already exists")
        elif ch.action in (MODIFY, DELETE):
            if there is None or there.values != ch.old_values or there.ttl != ch.old_ttl:
                raise ValueError(
                    f"{ch.action} {ch.key}: the current record set is not the one planned against"
                )
        else:
            raise ValueError(f"unknown action {ch.action!r}")
        if ch.action == DELETE:
            del state[ch.key]
        else:
            assert ch.new_ttl is not None
            state[ch.key] = RecordSet(ch.zone, ch.name, ch.type, ch.new_ttl, ch.new_values)
    return sorted(state.values(), key=lambda r: r.key)
