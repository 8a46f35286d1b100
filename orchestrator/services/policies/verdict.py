"""What the engine reported: policy violations become blockers (mandatory) or warnings."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

ADVISORY = "advisory"
MANDATORY = "mandatory"


@dataclass(frozen=True)
class Violation:
    policy: str
    level: str  # mandatory | advisory (as the engine reports it)
    message: str
    urn: str | None = None

    @property
    def mandatory(self) -> bool:
        return self.level in (MANDATORY, "remediate")


def violations_from_events(events: Iterable[Any]) -> list[Violation]:
    """The policy violations among engine events, in order, without repeats.

    The engine's message is the policy's description, a newline, then the violation's own
    message: only the latter is kept.
    """
    out: list[Violation] = []
    for ev in events:
        pe = getattr(ev, "policy_event", None)
        if pe is None:
            continue
        lines = [ln.strip() for ln in (pe.message or "").splitlines() if ln.strip()]
        message = " ".join(lines[1:]) if len(lines) > 1 else "".join(lines)
        level = str(pe.enforcement_level or "").lower()
        v = Violation(pe.policy_name, level, message, pe.resource_urn or None)
        if v not in out:
            out.append(v)
    return out


@dataclass(frozen=True)
class Verdict:
    blockers: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    overridden: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # policy -> let through
    violations: tuple[Violation, ...] = ()


def verdict(violations: Iterable[Violation], overrides: Mapping[str, str] | None = None) -> Verdict:
    overrides = overrides or {}
    blockers, warnings = [], []
    overridden: dict[str, list[str]] = {name: [] for name in overrides}
    seen = tuple(violations)
    for v in seen:
        if v.policy in overrides:
            warnings.append(f"policy {v.policy} OVERRIDDEN ({overrides[v.policy]}): {v.message}")
            overridden[v.policy].append(v.message)
        elif v.mandatory:
            blockers.append(f"policy {v.policy}: {v.message}")
        else:
            warnings.append(f"policy {v.policy} ({v.level or ADVISORY}): {v.message}")
    return Verdict(
        blockers=tuple(blockers),
        warnings=tuple(warnings),
        overridden={k: tuple(v) for k, v in overridden.items()},
        violations=seen,
    )
