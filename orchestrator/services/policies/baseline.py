"""The record sets in the stack's state now: the policies' `before` and `activeBefore`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from orchestrator.domain.kuadrant import active_groups_of
from orchestrator.domain.records import RecordSet
from orchestrator.ports.stack import StackState


@dataclass(frozen=True)
class Baseline:
    """The record sets in the stack's state now (the policies' `before`)."""

    records: tuple[RecordSet, ...] = ()

    @property
    def active(self) -> tuple[str, ...]:
        """The groups the zones' active-groups records list now (unreadable ones list none)."""
        return active_groups_of(self.records)

    def before(self) -> list[dict[str, Any]]:
        """The `before` policy config: one object per record set."""
        return [
            {"zone": r.zone, "name": r.name, "type": r.type, "ttl": r.ttl, "values": list(r.values)}
            for r in self.records
        ]


def baseline_from_deployment(deployment: Mapping[str, Any] | None) -> Baseline:
    """Record sets from a `pulumi stack export` deployment (outputs: what was applied)."""
    records = []
    for res in (deployment or {}).get("resources") or []:
        if res.get("delete"):
            continue  # left over from an interrupted replace: about to go
        outs = res.get("outputs") or res.get("inputs") or {}
        if not all(k in outs for k in ("zone", "name", "type", "values")):
            continue
        values = outs["values"] if isinstance(outs["values"], list) else [outs["values"]]
        ttl = outs.get("ttl")
        records.append(
            RecordSet(
                str(outs["zone"]),
                str(outs["name"]),
                str(outs["type"]),
                ttl if isinstance(ttl, int) and not isinstance(ttl, bool) else None,
                tuple(str(v) for v in values if isinstance(v, str)),
            )
        )
    return Baseline(tuple(sorted(records, key=lambda r: (r.zone, r.name, r.type))))


def baseline_from_state(stack: Any, state: StackState) -> Baseline:
    """The baseline of `stack` (its engine, Parts.stack_engine) read through the StackState port."""
    return baseline_from_deployment(state(stack))
