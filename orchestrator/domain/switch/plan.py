"""The switch plan: what will change, what blocks it, and its fingerprint. Pure.

The fingerprint is the first 16 hex digits of SHA-256 over the canonical JSON of the
plan's content (stack, kind, mode, groups, changes, blockers, steps): equal inputs give
equal fingerprints; a changed target, a new blocker or another active set changes it.
Timestamps and durations measured at run time are not part of it.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from orchestrator.domain.canonical import canonical_json
from orchestrator.domain.databases import PrimaryMove
from orchestrator.domain.errors import UsageError
from orchestrator.domain.records import RecordSet
from orchestrator.domain.rules import (
    AT_LEAST_ONE_ACTIVE_GROUP,
    NO_EMPTY_HOSTNAME,
    hostnames_left_empty,
    leaves_no_active_group,
)
from orchestrator.domain.switch.steps import SKIPPED_WHY, STEPS, expected_seconds

FINGERPRINT_RE = re.compile(r"^[0-9a-f]{16}$")


@dataclass(frozen=True)
class EndpointChange:
    """One affected record set, as an operator reads it."""

    action: str  # CREATE | MODIFY | DELETE
    zone: str
    name: str
    type: str
    current: tuple[str, ...]
    new: tuple[str, ...]

    @property
    def is_txt(self) -> bool:
        return self.type == "TXT"


@dataclass(frozen=True)
class PlannedStep:
    name: str
    expected_seconds: float
    skipped: str | None = None  # why the step does nothing in this plan


@dataclass(frozen=True)
class SwitchPlan:
    stack: str
    kind: str  # switch | add-active-group | remove-active-group | rollback
    mode: str  # planned | failover
    from_groups: tuple[str, ...]
    to_groups: tuple[str, ...]
    changes: tuple[EndpointChange, ...]
    blockers: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    steps: tuple[PlannedStep, ...] = field(default_factory=tuple)
    databases: tuple[PrimaryMove, ...] = ()  # database primaries that change group

    @property
    def noop(self) -> bool:
        return self.from_groups == self.to_groups and not self.changes and not self.databases

    def content(self) -> dict[str, Any]:
        """The canonical content the fingerprint covers."""
        return {
            "stack": self.stack,
            "kind": self.kind,
            "mode": self.mode,
            "from_groups": list(self.from_groups),
            "to_groups": list(self.to_groups),
            # vars(), not asdict(): the fields are flat, and asdict's deep copy of 3,000 changes
            # took 0.1 s per call at 1,000 hostnames.
            "changes": [vars(c) | {"current": list(c.current), "new": list(c.new)} for c in self.changes],
            "blockers": list(self.blockers),
            "steps": [s.name for s in self.steps if s.skipped is None],
        } | ({"databases": [asdict(m) for m in self.databases]} if self.databases else {})

    @property
    def fingerprint(self) -> str:
        return _fingerprint(self.content())

    @property
    def expected_seconds(self) -> float:
        return sum(s.expected_seconds for s in self.steps if s.skipped is None)

    def to_dict(self) -> dict[str, Any]:
        content = self.content()
        return content | {
            "fingerprint": _fingerprint(content),
            "noop": self.noop,
            "warnings": list(self.warnings),
            "steps": [asdict(s) for s in self.steps],
            "expected_seconds": self.expected_seconds,
        }


def _fingerprint(content: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_json(content).encode()).hexdigest()[:16]


def planned_steps(
    *, has_databases: bool = False, moves_primaries: bool = False, changes: int = 0
) -> tuple[PlannedStep, ...]:
    out = []
    for name in STEPS:
        why = SKIPPED_WHY.get(name)
        if name in ("demote-primary", "promote-primary") and has_databases:
            why = None if moves_primaries else "no database primary changes group in this plan"
        out.append(PlannedStep(name, expected_seconds(name, changes) if why is None else 0.0, why))
    return tuple(out)


def rule_blockers(changes: tuple[EndpointChange, ...], to_groups: tuple[str, ...]) -> list[tuple[str, str]]:
    """Invariant 3, as (rule, blocker): no active group, or a published hostname left with no
    targets, is refused. The rules are orchestrator.domain.rules, shared with the policy pack."""
    out = []
    if leaves_no_active_group(to_groups):
        out.append(
            (
                AT_LEAST_ONE_ACTIVE_GROUP,
                "the change leaves no active group: at least one group must stay active",
            )
        )
    before = [RecordSet(c.zone, c.name, c.type, None, c.current) for c in changes if c.action != "CREATE"]
    after = [RecordSet(c.zone, c.name, c.type, None, c.new) for c in changes if c.action != "DELETE"]
    left_empty = {r.name for r in hostnames_left_empty(before, after)}
    for ch in changes:
        if ch.action == "DELETE" and not ch.is_txt and ch.name in left_empty:
            out.append(
                (
                    NO_EMPTY_HOSTNAME,
                    f"{ch.name} {ch.type} would be left with no targets (only the groups being deactivated "
                    f"publish it: {', '.join(ch.current)})",
                )
            )
    return out


def blockers_for(changes: tuple[EndpointChange, ...], to_groups: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(message for _, message in rule_blockers(changes, to_groups))


def build_plan(
    *,
    stack: str,
    kind: str,
    mode: str,
    from_groups: tuple[str, ...],
    to_groups: tuple[str, ...],
    changes: list[EndpointChange],
    warnings: list[str] | None = None,
    extra_blockers: list[str] | None = None,
    has_databases: bool = False,
    databases: tuple[PrimaryMove, ...] = (),
    overrides: Mapping[str, str] | None = None,
) -> SwitchPlan:
    """The plan; `overrides` ({policy: reason}) lowers the plan's own blockers of an overridden
    rule to warnings, as the policy of the same name is lowered (an empty active set cannot be
    overridden: it cannot even be published, see topology validation)."""
    ordered = tuple(sorted(changes, key=lambda c: (c.zone, c.name, c.type)))
    overrides = overrides or {}
    own, lowered = [], []
    for rule, message in rule_blockers(ordered, tuple(to_groups)):
        if rule == NO_EMPTY_HOSTNAME and rule in overrides:
            lowered.append(f"OVERRIDDEN ({rule}: {overrides[rule]}): {message}")
        else:
            own.append(message)
    return SwitchPlan(
        stack=stack,
        kind=kind,
        mode=mode,
        from_groups=tuple(sorted(from_groups)),
        to_groups=tuple(sorted(to_groups)),
        changes=ordered,
        blockers=tuple(own) + tuple(extra_blockers or ()),
        warnings=tuple(warnings or ()) + tuple(lowered),
        steps=planned_steps(
            has_databases=has_databases, moves_primaries=bool(databases), changes=len(ordered)
        ),
        databases=tuple(databases),
    )


def check_fingerprint(value: str) -> str:
    """A reviewed plan's fingerprint as given on the command line."""
    value = value.strip().lower()
    if not FINGERPRINT_RE.match(value):
        raise UsageError(
            f"'{value}' is not a plan fingerprint",
            "a fingerprint is the 16 hex digits the dry-run prints (first 16 of SHA-256 of the plan)",
            "copy it from `orchestrator switch --to <group> --dry-run`",
        )
    return value
