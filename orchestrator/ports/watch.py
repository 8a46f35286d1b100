"""What `orchestrator watch` needs from the outside world (services/watch.py)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from orchestrator.domain.publish import AutoSwitch, Block, Verdict, WatchSettings
from orchestrator.domain.topology import Topology


class VerdictBoard(Protocol):
    """Where observers publish verdicts and the stack's anti-flap block lives (shared)."""

    def verdicts(self) -> list[Verdict]: ...

    def publish(self, verdict: Verdict) -> None: ...

    def withdraw(self, observer: str) -> None: ...

    def block(self) -> Block | None: ...

    def set_block(self, block: Block) -> None: ...

    def clear_block(self) -> None: ...

    def last_auto(self) -> AutoSwitch | None: ...

    def set_last_auto(self, last: AutoSwitch) -> None: ...


@dataclass(frozen=True)
class Probe:
    """One observer's measurement of one group: healthy (None: cannot tell) and why."""

    healthy: bool | None
    evidence: str


class GroupProber(Protocol):
    def __call__(self, topology: Topology, groups: tuple[str, ...]) -> Mapping[str, Probe]: ...


@dataclass(frozen=True)
class SwitchResult:
    """How a switch run by watch ended: the CLI's exit code (docs/exit-codes.md) and its words."""

    exit_code: int
    switch_id: str | None = None
    output: str = ""
    blockers: tuple[str, ...] = ()
    fingerprint: str | None = None

    @property
    def ok(self) -> bool:
        return self.exit_code == 0


@dataclass(frozen=True)
class Unfinished:
    switch_id: str
    holder: str
    to_groups: tuple[str, ...]
    by_watch: bool
    holder_alive: bool


class SwitchExecutor(Protocol):
    """Runs the same switch a person runs (dry-run, policy, lease, make-before-break, verify, audit)."""

    def dry_run(self, to_groups: tuple[str, ...], *, failover: bool) -> SwitchResult: ...

    def switch(self, to_groups: tuple[str, ...], *, failover: bool, reason: str) -> SwitchResult: ...

    def resume(self) -> SwitchResult: ...

    def unfinished(self) -> Unfinished | None: ...


class AuditSink(Protocol):
    def append(self, event_type: str, **fields: Any) -> Any: ...


@dataclass(frozen=True)
class StackView:
    """The stack as watch reads it each round."""

    topology: Topology
    active: tuple[str, ...]
    settings: WatchSettings
    extra: Mapping[str, Any] = field(default_factory=dict)


class StackReader(Protocol):
    def __call__(self) -> StackView: ...
