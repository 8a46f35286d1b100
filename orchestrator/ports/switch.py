"""The parts a switch is made of, as the switch service sees them (orchestrator.services.switch).

Adapters implement them (the Pulumi stack, the journal files, the audit log, the lease
servers, the health checks, the metrics textfile); orchestrator.interfaces.switch_wiring
puts the real ones together, tests pass fakes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from orchestrator.domain.switch.plan import SwitchPlan
from orchestrator.domain.topology import Topology


class Change(Protocol):
    """One resource step the engine planned (create/update/delete/replace/same)."""

    op: str
    urn: str
    name: str


class Preview(Protocol):
    """A previewed change of the active set: the plan, the engine's steps, the topology."""

    plan: SwitchPlan
    resource_changes: Sequence[Change]
    topology: Topology
    policy: Any  # the policy pack's verdict (orchestrator.services.policies.Verdict)
    state_current: bool  # it refreshed and found no drift: the state is what the servers serve


class Step(Protocol):
    name: str
    status: str


class Record(Protocol):
    """Where one switch stands (orchestrator.adapters.files.journal.SwitchRecord)."""

    id: str
    stack: str
    kind: str
    mode: str
    from_groups: tuple[str, ...]
    to_groups: tuple[str, ...]
    fingerprint: str
    status: str
    holder: str | None
    epoch: int | None
    rollback_of: str | None

    @property
    def steps(self) -> Sequence[Step]: ...


class JournalStore(Protocol):
    """The switch journal: every transition is saved before the next action."""

    def create(
        self,
        stack: str,
        kind: str,
        from_groups: Sequence[str],
        to_groups: Sequence[str],
        fingerprint: str,
        mode: str,
        steps: Sequence[str],
    ) -> Any: ...
    def save(self, record: Any) -> None: ...
    def load(self, switch_id: str) -> Any: ...
    def unfinished(self, stack: str) -> Any: ...
    def next_step(self, record: Any) -> str | None: ...
    def start_step(self, record: Any, name: str) -> Any: ...
    def complete_step(self, record: Any, name: str, detail: str | None = None) -> Any: ...
    def fail_step(self, record: Any, name: str, error: str) -> Any: ...
    def skip_step(self, record: Any, name: str, reason: str | None = None) -> Any: ...
    def finish(self, record: Any, status: str, error: str | None = None) -> Any: ...


class HeldLease(Protocol):
    """A lease this switch holds, renewed in the background until stop()."""

    holder: str
    epoch: int
    # What the writers in other processes check before each write (ORCHESTRATOR_FENCE).
    fence: Mapping[str, str]

    def assert_held(self) -> None: ...  # raises (a ConflictError) when the lease is gone
    def lost(self) -> bool: ...
    def stop(self) -> None: ...  # stop renewing
    def release(self) -> None: ...  # give it back (a tombstone keeps the epoch)


class SwitchLease(Protocol):
    def acquire(
        self,
        holder: str,
        switch_id: str,
        *,
        on_collision: Callable[[str, float], None],
        on_lost: Callable[[BaseException], None],
        on_renewed: Callable[[int, Any], None],
    ) -> HeldLease:
        """Take the lease (a dead process of the same switch may be taken over), or raise
        after calling on_collision(holder, expires_at)."""
        ...


class StackEngine(Protocol):
    """The stack's engine (Pulumi): preview with the policy pack, refresh, update."""

    def plan(
        self,
        *,
        kind: str,
        to_groups: tuple[str, ...] | None,
        mode: str,
        change: Callable[[tuple[str, ...]], tuple[str, ...]] | None = None,
        fence: Mapping[str, str] | None = None,
        refresh: bool = True,
    ) -> Preview: ...
    def refresh(self, *, fence: Mapping[str, str]) -> None: ...
    def up(
        self,
        *,
        to_groups: tuple[str, ...] | None,
        message: str,
        fence: Mapping[str, str],
        target: Sequence[str] | None = None,
        exclude: Sequence[str] | None = None,
        database_mode: str | None = None,
        refresh: bool = False,
    ) -> None: ...
    def database_urns(self, changes: Sequence[Change], sides: Sequence[tuple[str, str]]) -> list[str]:
        """The URNs of the database resources of (pair, group) that the plan changes."""
        ...

    def record_active_groups(self, groups: tuple[str, ...]) -> bool:
        """Write the active set to the stack file; False when it already says so."""
        ...


class HealthVerifier(Protocol):
    def baseline(self, record: Record, topology: Topology) -> None: ...
    def verify(self, record: Record, topology: Topology) -> None: ...  # raises when unhealthy


class MetricsPublisher(Protocol):
    def publish(self, live: bool = False) -> None: ...


# Monotonic seconds, for step durations.
Clock = Callable[[], float]
# A fault-injection point before each step (a test kills or steals the lease there).
Pauser = Callable[[str], None]
