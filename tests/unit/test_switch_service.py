"""The switch service with fakes: step order, resume from every step, rollback, the lease,
preflight, the reviewed fingerprint, failure marking and audit events — in milliseconds.

The journal is the real one (files under tmp_path, fast); everything else is a fake that
records what the service asked of it. A kill -9 is simulated by keeping the journal file as
it was at the pause point (no exception handler of a killed process runs) and resuming
with a new service.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from orchestrator.adapters.files.journal import Journal
from orchestrator.domain.databases import PrimaryMove
from orchestrator.domain.errors import ConflictError, OrchestratorError
from orchestrator.domain.switch import steps as S
from orchestrator.domain.switch.plan import EndpointChange, SwitchPlan, build_plan
from orchestrator.ports import audit as ev
from orchestrator.services.policies import Verdict
from orchestrator.services.switch.service import PreflightBlocked, SwitchDeps, SwitchService

STACK = "unit"
A, B = ("group-a",), ("group-b",)


@dataclass
class FakeChange:
    op: str
    urn: str
    name: str


@dataclass
class FakePreview:
    plan: SwitchPlan
    resource_changes: list[FakeChange]
    topology: Any = None
    policy: Verdict = field(default_factory=Verdict)
    state_current: bool = False


class FakeEngine:
    """The stack: `applied` is what the DNS servers serve, `config` the stack file's active set."""

    def __init__(self, active: tuple[str, ...] = A) -> None:
        self.applied = active
        self.config = active
        self.calls: list[tuple[Any, ...]] = []
        self.blockers: list[str] = []
        self.drift = False  # someone changed the live zones after the review
        self.databases: tuple[PrimaryMove, ...] = ()
        self.fail_up: OrchestratorError | None = None
        self.refreshed_in_update = 0  # refreshes done by the flip's update itself
        self.state_current = False  # a refreshing plan found no drift

    def plan(
        self,
        *,
        kind: str,
        to_groups: tuple[str, ...] | None,
        mode: str,
        change: Callable[[tuple[str, ...]], tuple[str, ...]] | None = None,
        fence: Mapping[str, str] | None = None,
        refresh: bool = True,
    ) -> FakePreview:
        self.calls.append(("plan", refresh, bool(fence)))
        target = to_groups if to_groups is not None else change(self.config)  # type: ignore[misc]
        moving = self.applied != target
        changes = (
            [EndpointChange("MODIFY", "z.test", "www.z.test", "A", ("10.0.0.1",), ("10.0.0.2",))]
            if moving
            else []
        )
        if self.drift:
            changes.append(
                EndpointChange("MODIFY", "z.test", "api.z.test", "A", ("10.9.9.9",), ("10.0.0.3",))
            )
        plan = build_plan(
            stack=STACK,
            kind=kind,
            mode=mode,
            from_groups=self.config,
            to_groups=target,
            changes=changes,
            extra_blockers=list(self.blockers),
            has_databases=bool(self.databases),
            databases=self.databases if moving else (),
        )
        ops = (
            [FakeChange("update", "urn:www", "www"), FakeChange("delete", "urn:old", "old")] if moving else []
        )
        ops += [FakeChange("update", f"urn:db:{m.pair}", f"db-{m.pair}") for m in plan.databases]
        return FakePreview(plan, ops, state_current=refresh and self.state_current)

    def refresh(self, *, fence: Mapping[str, str]) -> None:
        assert fence, "the refresh runs under the lease"
        self.calls.append(("refresh",))

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
    ) -> None:
        assert fence and message
        if refresh:  # the update refreshes first (only its targets, if it has any)
            self.calls.append(("refresh", *(target or ())))
            self.refreshed_in_update += 1
        self.calls.append(("up", to_groups, tuple(target or ()), tuple(exclude or ()), database_mode))
        if self.fail_up is not None:
            raise self.fail_up
        if not target:
            self.applied = to_groups if to_groups is not None else self.config

    def database_urns(self, changes: Sequence[FakeChange], sides: Sequence[tuple[str, str]]) -> list[str]:
        return [f"urn:db:{pair}:{group}" for pair, group in sides]

    def record_active_groups(self, groups: tuple[str, ...]) -> bool:
        changed = groups != self.config
        self.config = groups
        return changed

    def ups(self) -> list[tuple[Any, ...]]:
        return [c for c in self.calls if c[0] == "up"]


class FakeHeld:
    def __init__(self, lease: FakeLease, holder: str, epoch: int, on_lost: Callable[[BaseException], None]):
        self.lease, self.holder, self.epoch = lease, holder, epoch
        self.fence = {"ORCHESTRATOR_FENCE": f"epoch={epoch}"}
        self.on_lost = on_lost
        self.gone = False
        self.released = False
        self.stopped = False

    def assert_held(self) -> None:
        if self.gone:
            exc = ConflictError(f"the lease of {self.holder} is gone", "taken by another holder", "resume")
            self.on_lost(exc)
            raise exc

    def lost(self) -> bool:
        return self.gone

    def stop(self) -> None:
        self.stopped = True

    def release(self) -> None:
        self.released = True
        self.lease.holder = None


class FakeLease:
    def __init__(self) -> None:
        self.holder: str | None = None  # the live holder, None when free
        self.epoch = 0
        self.dead: set[str] = set()  # holders whose process is gone
        self.held: list[FakeHeld] = []

    def acquire(
        self,
        holder: str,
        switch_id: str,
        *,
        on_collision: Callable[[str, float], None],
        on_lost: Callable[[BaseException], None],
        on_renewed: Callable[[int, Any], None],
    ) -> FakeHeld:
        if self.holder is not None and not (self.holder in self.dead and self.holder.endswith(switch_id)):
            on_collision(self.holder, 1234.5)
            raise ConflictError(f"the lease is held by {self.holder}", "another switch", "wait")
        self.epoch += 1
        self.holder = holder
        held = FakeHeld(self, holder, self.epoch, on_lost)
        self.held.append(held)
        return held


class FakeAudit:
    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def append(self, event_type: str, **fields: Any) -> dict[str, Any]:
        assert event_type in ev.EVENT_TYPES, event_type
        event = {"type": event_type, **fields}
        self.events.append(event)
        return event

    def types(self) -> list[str]:
        return [e["type"] for e in self.events]


class FakeHealth:
    def __init__(self, engine: FakeEngine) -> None:
        self.engine = engine
        self.calls: list[str] = []
        self.fail: OrchestratorError | None = None

    def baseline(self, record: Any, topology: Any) -> None:
        self.calls.append("baseline")
        assert self.engine.applied == tuple(record.from_groups), "the baseline is measured before the flip"

    def verify(self, record: Any, topology: Any) -> None:
        self.calls.append("verify")
        assert self.engine.applied == tuple(record.to_groups), "verify runs after the flip"
        if self.fail is not None:
            raise self.fail


class FakeMetrics:
    def __init__(self) -> None:
        self.published = 0

    def publish(self, live: bool = False) -> None:
        self.published += 1


class Killed(BaseException):
    """A kill -9 at a pause point (the journal file is put back as the kill left it)."""


class Rig:
    """One stack's fakes, shared by successive services (a switch, then its resume)."""

    def __init__(self, tmp_path: Path) -> None:
        self.dir = tmp_path / "journal"
        self.journal = Journal(self.dir)
        self.engine = FakeEngine()
        self.lease = FakeLease()
        self.audit = FakeAudit()
        self.health = FakeHealth(self.engine)
        self.metrics = FakeMetrics()
        self.ticks = 0.0
        self.kill_at: str | None = None
        self.on_pause: dict[str, Callable[[], None]] = {}
        self.pid = 100

    def clock(self) -> float:
        self.ticks += 0.5
        return self.ticks

    def pause(self, step: str) -> None:
        if step in self.on_pause:
            self.on_pause[step]()
        if step == self.kill_at:
            self.kill_at = None
            (record_file,) = self.dir.glob("sw-*.json")
            shutil.copy(record_file, self.dir / "killed.bak")
            raise Killed(step)

    def service(self, overrides: Mapping[str, str] | None = None) -> SwitchService:
        self.pid += 1
        pid = self.pid
        deps = SwitchDeps(
            engine=self.engine,
            journal=self.journal,
            audit=self.audit,
            lease=self.lease,
            health=self.health,
            metrics=self.metrics,
            clock=self.clock,
            pause=self.pause,
            holder=lambda sid: f"op@host:{pid}/{sid}",
        )
        return SwitchService(STACK, deps, lambda _m: None, overrides)

    def switch(self, to: tuple[str, ...] = B, *, kind: str = "switch", **kw: Any) -> Any:
        service = self.service()
        reviewed = service.dry_run(kind=kind, to_groups=to, mode="planned")
        return service.execute(reviewed, reviewed_fingerprint=reviewed.plan.fingerprint, **kw)

    def unreviewed(self, frm: tuple[str, ...] = A, to: tuple[str, ...] = B, **kw: Any) -> Any:
        """`switch --yes`: the lease first, one preview under it (execute_unreviewed)."""
        kw.setdefault("show", lambda _plan: None)
        return self.service().execute_unreviewed(
            kind="switch", from_groups=frm, to_groups=to, mode="planned", **kw
        )

    def kill(self, step: str, start: Callable[[], Any] | None = None) -> Any:
        """Switch to group-b (`start`, else a reviewed switch), killed at `step`: returns the
        journal record as the kill left it."""
        self.kill_at = step
        with pytest.raises(Killed):
            (start or self.switch)()
        (record_file,) = self.dir.glob("sw-*.json")
        shutil.move(self.dir / "killed.bak", record_file)
        # A killed process neither releases its lease nor runs its handlers: the lease stays
        # with it, and it is dead.
        self.lease.holder = self.lease.held[-1].holder
        self.lease.dead.add(self.lease.holder)
        return self.journal.load(record_file.stem)


@pytest.fixture
def rig(tmp_path: Path) -> Rig:
    return Rig(tmp_path)


def statuses(record: Any) -> dict[str, str]:
    return {s.name: s.status for s in record.steps}


def test_no_refresh_before_the_flip_when_the_preflight_refresh_found_no_drift(rig: Rig) -> None:
    # The preflight previews with a refresh under the lease; when it finds every server as the
    # state says, the flip's update writes without reading all record sets back again.
    rig.engine.state_current = True
    outcome = rig.switch()
    assert outcome.record.status == "completed"
    assert rig.engine.calls == [("plan", True, False), ("plan", True, True), ("up", B, (), (), None)]
    assert rig.engine.refreshed_in_update == 0
    assert rig.engine.applied == B


def test_step_order_one_refresh_one_update(rig: Rig) -> None:
    outcome = rig.switch()
    record = rig.journal.load(outcome.record.id)
    assert record.status == "completed"
    assert statuses(record) == {
        S.ACQUIRE_LEASE: "completed",
        S.PREFLIGHT: "completed",
        S.LOWER_TTL: "skipped",
        S.DEMOTE_PRIMARY: "skipped",
        S.PROMOTE_PRIMARY: "skipped",
        S.FLIP_DNS: "completed",
        S.CLEANUP_INACTIVE: "completed",
        S.VERIFY: "completed",
        S.RELEASE_LEASE: "completed",
    }
    # The review (refreshing in memory), then under the lease: the same check again (a
    # refused switch writes nothing), one state refresh once it passed, and one update
    # (creates/updates, then deletes) with the new set. With no database to move, the
    # refresh is the update's own (one engine run fewer).
    assert rig.engine.calls == [
        ("plan", True, False),
        ("plan", True, True),
        ("refresh",),
        ("up", B, (), (), None),
    ]
    assert rig.engine.refreshed_in_update == 1
    assert rig.engine.applied == B and rig.engine.config == B
    assert rig.health.calls == ["baseline", "verify"]
    held = rig.lease.held[-1]
    assert held.stopped and held.released and rig.lease.holder is None
    assert rig.audit.types() == [
        ev.SWITCHOVER_REQUESTED,
        ev.STEP_STARTED,
        ev.LEASE_ACQUIRED,
        ev.STEP_COMPLETED,
        ev.STEP_STARTED,
        ev.PREFLIGHT_PASSED,
        ev.STEP_COMPLETED,
        ev.STEP_STARTED,
        ev.ACTIVE_GROUPS_CHANGED,
        ev.STEP_COMPLETED,
        ev.STEP_STARTED,
        ev.STEP_COMPLETED,
        ev.STEP_STARTED,
        ev.STEP_COMPLETED,
        ev.STEP_STARTED,
        ev.LEASE_RELEASED,
        ev.STEP_COMPLETED,
        ev.SWITCHOVER_COMPLETED,
    ]
    steps = [e["step"] for e in rig.audit.events if e["type"] == ev.STEP_STARTED]
    assert steps == [S.ACQUIRE_LEASE, S.PREFLIGHT, S.FLIP_DNS, S.CLEANUP_INACTIVE, S.VERIFY, S.RELEASE_LEASE]
    assert all(e.get("switch_id") == record.id for e in rig.audit.events)
    assert set(outcome.durations) >= {S.ACQUIRE_LEASE, S.PREFLIGHT, S.FLIP_DNS, S.VERIFY}


@pytest.mark.parametrize(
    "step", [S.ACQUIRE_LEASE, S.PREFLIGHT, S.FLIP_DNS, S.CLEANUP_INACTIVE, S.VERIFY, S.RELEASE_LEASE]
)
def test_resume_from_every_step(rig: Rig, step: str) -> None:
    killed = rig.kill(step)
    assert killed.status == "running" and statuses(killed)[step] in ("running", "completed")
    assert rig.lease.holder is not None, "a killed switch leaves its lease behind"
    service = rig.service()
    record = service.unfinished()
    assert record is not None and record.id == killed.id
    rig.engine.calls.clear()
    outcome = service.resume(record)
    done = rig.journal.load(killed.id)
    assert done.status == "completed"
    assert all(s in ("completed", "skipped") for s in statuses(done).values())
    assert rig.engine.applied == B and rig.engine.config == B
    assert rig.lease.holder is None and rig.lease.held[-1].epoch == 2  # took over the dead holder's
    # The resume refreshes the state once under the lease: first of all once preflight had
    # passed (the killed run may have written), after preflight's own check otherwise.
    if step in (S.ACQUIRE_LEASE, S.PREFLIGHT):
        assert rig.engine.calls[:2] == [("plan", True, True), ("refresh",)]
    else:
        assert rig.engine.calls[0] == ("refresh",)
    assert rig.engine.calls.count(("refresh",)) == 1
    if step in (S.CLEANUP_INACTIVE, S.VERIFY, S.RELEASE_LEASE):
        # The killed run's flip applied everything; the refreshed plan shows nothing left.
        assert rig.engine.ups() == []
    else:
        assert rig.engine.ups() == [("up", B, (), (), None)]
    types = rig.audit.types()
    assert types.count(ev.SWITCHOVER_REQUESTED) == 1 and types.count(ev.RESUME_REQUESTED) == 1
    assert types[-1] == ev.SWITCHOVER_COMPLETED
    assert outcome.record.id == killed.id


def test_rollback_of_a_completed_switch(rig: Rig) -> None:
    first = rig.switch().record
    service = rig.service()
    reviewed = service.dry_run(kind="rollback", to_groups=A, mode="planned")
    outcome = service.execute(reviewed, reviewed_fingerprint=reviewed.plan.fingerprint, rollback_of=first.id)
    assert rig.engine.applied == A and rig.engine.config == A
    assert rig.journal.load(first.id).status == "completed"  # final: the journal never reopens it
    assert rig.journal.load(outcome.record.id).status == "completed"
    assert rig.audit.types()[-1] == ev.ROLLBACK_COMPLETED


def test_rollback_marks_an_unfinished_original(rig: Rig) -> None:
    rig.engine.fail_up = OrchestratorError("the update failed", "boom", "retry")
    with pytest.raises(OrchestratorError):
        rig.switch(to=("group-a", "group-b"))
    (first,) = rig.journal.list()
    rig.engine.fail_up = None
    service = rig.service()
    reviewed = service.dry_run(kind="rollback", to_groups=A, mode="planned")
    outcome = service.execute(reviewed, reviewed_fingerprint=reviewed.plan.fingerprint, rollback_of=first.id)
    assert rig.engine.applied == A and rig.engine.config == A
    assert rig.journal.load(first.id).status == "rolled-back"
    assert rig.journal.load(outcome.record.id).rollback_of == first.id
    types = rig.audit.types()
    assert types.index(ev.ROLLBACK_REQUESTED) < len(types) - 1
    assert types[-1] == ev.ROLLBACK_COMPLETED
    assert rig.audit.events[-1]["rollback_of"] == first.id


def test_lease_collision_changes_nothing(rig: Rig) -> None:
    rig.lease.holder = "bob@elsewhere:1/sw-other"
    with pytest.raises(ConflictError, match="held by bob"):
        rig.switch()
    assert [c for c in rig.engine.calls if c[0] != "plan"] == []  # no refresh, no update
    assert rig.engine.applied == A
    (record,) = rig.journal.list()
    assert record.status == "failed" and statuses(record)[S.ACQUIRE_LEASE] == "running"
    collision = next(e for e in rig.audit.events if e["type"] == ev.LEASE_COLLISION)
    assert collision["holder"] == "bob@elsewhere:1/sw-other"
    assert rig.audit.types()[-1] == ev.SWITCHOVER_FAILED
    assert rig.lease.holder == "bob@elsewhere:1/sw-other"  # never released someone else's


def test_lease_lost_between_steps_stops_before_the_flip_writes(rig: Rig) -> None:
    rig.on_pause[S.FLIP_DNS] = lambda: setattr(rig.lease.held[-1], "gone", True)
    with pytest.raises(ConflictError, match="is gone"):
        rig.switch()
    assert rig.engine.ups() == [] and rig.engine.applied == A
    (record,) = rig.journal.list()
    assert record.status == "failed" and statuses(record)[S.FLIP_DNS] == "failed"
    held = rig.lease.held[-1]
    assert not held.released, "a lost lease is not ours to release"
    types = rig.audit.types()
    assert ev.LEASE_LOST in types and ev.STEP_FAILED in types and types[-1] == ev.SWITCHOVER_FAILED
    assert ev.LEASE_RELEASED not in types


def test_preflight_blocked_under_the_lease(rig: Rig) -> None:
    service = rig.service()
    reviewed = service.dry_run(kind="switch", to_groups=B, mode="planned")
    rig.engine.blockers = ["group-b endpoint www.z.test is unhealthy"]
    with pytest.raises(PreflightBlocked, match="blocked by preflight") as err:
        service.execute(reviewed, reviewed_fingerprint=reviewed.plan.fingerprint)
    assert err.value.exit_code == 7
    assert rig.engine.ups() == [] and rig.engine.applied == A
    blocked = next(e for e in rig.audit.events if e["type"] == ev.PREFLIGHT_BLOCKED)
    assert blocked["blockers"] == ["group-b endpoint www.z.test is unhealthy"]
    assert rig.lease.held[-1].released and rig.lease.holder is None
    (record,) = rig.journal.list()
    assert record.status == "failed" and statuses(record)[S.PREFLIGHT] == "failed"


def test_plan_changed_since_review(rig: Rig) -> None:
    service = rig.service()
    reviewed = service.dry_run(kind="switch", to_groups=B, mode="planned")
    rig.engine.drift = True
    with pytest.raises(ConflictError, match="changed since it was reviewed"):
        service.execute(reviewed, reviewed_fingerprint=reviewed.plan.fingerprint)
    assert rig.engine.ups() == [] and rig.engine.applied == A
    changed = next(e for e in rig.audit.events if e["type"] == ev.CONFIG_CHANGED_SINCE_PREVIEW)
    assert changed["reviewed"] == reviewed.plan.fingerprint and changed["current"] != changed["reviewed"]


def test_check_reviewed_before_anything_is_written(rig: Rig) -> None:
    service = rig.service()
    reviewed = service.dry_run(kind="switch", to_groups=B, mode="planned")
    with pytest.raises(ConflictError, match="--plan " + reviewed.plan.fingerprint):
        service.check_reviewed(reviewed.plan, "0123456789abcdef")
    rig.engine.blockers = ["no"]
    blocked = service.dry_run(kind="switch", to_groups=B, mode="planned").plan
    with pytest.raises(PreflightBlocked):  # blockers win over a changed fingerprint
        service.check_reviewed(blocked, "0123456789abcdef")
    assert rig.audit.types() == [ev.CONFIG_CHANGED_SINCE_PREVIEW, ev.PREFLIGHT_BLOCKED]
    assert rig.journal.list() == [] and rig.lease.held == [] and rig.engine.ups() == []


def test_failed_update_marks_step_and_record_then_resume_finishes(rig: Rig) -> None:
    rig.engine.fail_up = OrchestratorError("PowerDNS at 127.0.0.1:8081 is unreachable", "down", "start it")
    with pytest.raises(OrchestratorError, match="PowerDNS"):
        rig.switch()
    (record,) = rig.journal.list()
    assert record.status == "failed" and "PowerDNS" in (record.error or "")
    assert statuses(record)[S.FLIP_DNS] == "failed"
    failed = next(e for e in rig.audit.events if e["type"] == ev.STEP_FAILED)
    assert failed["step"] == S.FLIP_DNS and "PowerDNS" in failed["error"]
    assert rig.audit.types()[-2:] == [ev.SWITCHOVER_FAILED, ev.LEASE_RELEASED]
    assert rig.lease.holder is None
    rig.engine.fail_up = None
    service = rig.service()
    service.resume(service.unfinished())
    assert rig.journal.load(record.id).status == "completed" and rig.engine.applied == B


def test_cleanup_after_a_resumed_flip_applies_what_is_left(rig: Rig) -> None:
    killed = rig.kill(S.CLEANUP_INACTIVE)
    rig.engine.applied = ("group-a", "group-b")  # e.g. the old group's records still there
    rig.engine.calls.clear()
    rig.service().resume(killed)
    assert rig.engine.ups() == [("up", None, (), (), None)]  # the stack file's set: group-b
    assert rig.engine.applied == B


def test_verify_failure_keeps_the_switch_resumable(rig: Rig) -> None:
    rig.health.fail = OrchestratorError("verify: not healthy", "latency", "fix it")
    with pytest.raises(OrchestratorError, match="not healthy"):
        rig.switch()
    (record,) = rig.journal.list()
    assert statuses(record)[S.FLIP_DNS] == "completed" and statuses(record)[S.VERIFY] == "failed"
    rig.health.fail = None
    rig.engine.calls.clear()
    service = rig.service()
    service.resume(service.unfinished())
    assert rig.journal.load(record.id).status == "completed"
    assert rig.engine.ups() == []  # nothing left to apply: verify runs again, no update


def test_database_moves_demote_then_promote_then_flip(rig: Rig) -> None:
    rig.engine.databases = (PrimaryMove("orders", "group-a", "group-b"),)
    record = rig.switch().record
    assert rig.engine.ups() == [
        ("up", B, ("urn:db:orders:group-a",), (), "planned"),
        ("up", B, ("urn:db:orders:group-b",), (), "planned"),
        ("up", B, (), (), None),
    ]
    # Each update refreshes what it changes, in the same engine run: a targeted refresh reads
    # only its targets, so the flip's update refreshes everything before it writes.
    assert [c for c in rig.engine.calls if c[0] != "plan"] == [
        ("refresh", "urn:db:orders:group-a"),
        ("up", B, ("urn:db:orders:group-a",), (), "planned"),
        ("refresh", "urn:db:orders:group-b"),
        ("up", B, ("urn:db:orders:group-b",), (), "planned"),
        ("refresh",),
        ("up", B, (), (), None),
    ]
    assert rig.engine.refreshed_in_update == 3
    done = statuses(rig.journal.load(record.id))
    assert done[S.DEMOTE_PRIMARY] == "completed" and done[S.PROMOTE_PRIMARY] == "completed"


def test_noop_is_audited_without_a_journal_record(rig: Rig) -> None:
    service = rig.service()
    plan = service.dry_run(kind="switch", to_groups=A, mode="planned").plan
    assert plan.noop
    service.record_noop(plan)
    assert rig.audit.types() == [ev.SWITCHOVER_NOOP] and rig.journal.list() == []


def test_execute_without_a_review_is_refused(rig: Rig) -> None:
    with pytest.raises(ValueError):
        rig.service().execute(None, reviewed_fingerprint=None)


def test_an_unreviewed_switch_plans_once_under_the_lease(rig: Rig) -> None:
    """`--yes` without `--plan`: no preview outside the lease; the preflight's is the report."""
    shown: list[Any] = []
    outcome = rig.unreviewed(show=shown.append)
    assert rig.engine.calls == [("plan", True, True), ("refresh",), ("up", B, (), (), None)]
    (plan,) = shown
    record = rig.journal.load(outcome.record.id)
    assert record.status == "completed" and record.fingerprint == plan.fingerprint
    requested = next(e for e in rig.audit.events if e["type"] == ev.SWITCHOVER_REQUESTED)
    assert requested["fingerprint"] is None and requested["to_groups"] == list(B)
    passed = next(e for e in rig.audit.events if e["type"] == ev.PREFLIGHT_PASSED)
    assert passed["fingerprint"] == plan.fingerprint


def test_an_unreviewed_switch_refused_under_the_lease_writes_nothing(rig: Rig) -> None:
    rig.engine.blockers = ["group-b endpoint www.z.test is unhealthy"]
    shown: list[Any] = []
    with pytest.raises(PreflightBlocked):
        rig.unreviewed(show=shown.append)
    assert [p.blockers for p in shown] == [("group-b endpoint www.z.test is unhealthy",)], (
        "shown, then refused"
    )
    assert rig.engine.ups() == [] and ("refresh",) not in rig.engine.calls and rig.engine.applied == A
    assert rig.lease.held[-1].released and rig.lease.holder is None
    # Nothing was written, so nothing is left to resume (a watch would resume it forever).
    (record,) = rig.journal.list()
    assert record.status == "abandoned" and rig.service().unfinished() is None


def test_a_reviewed_plan_with_yes_is_checked_under_the_lease_only(rig: Rig) -> None:
    reviewed = rig.service().dry_run(kind="switch", to_groups=B, mode="planned").plan.fingerprint
    rig.engine.calls.clear()
    shown: list[Any] = []
    outcome = rig.unreviewed(show=shown.append, reviewed_fingerprint=reviewed)
    assert rig.engine.calls[0] == ("plan", True, True) and [p.fingerprint for p in shown] == [reviewed]
    assert rig.journal.load(outcome.record.id).fingerprint == reviewed
    rig.engine.drift = True  # the plan under the lease is no longer the reviewed one
    with pytest.raises(ConflictError, match="changed since it was reviewed"):
        rig.unreviewed(B, A, reviewed_fingerprint=reviewed)
    assert rig.engine.applied == B and rig.lease.holder is None


def test_an_unreviewed_switch_killed_in_preflight_resumes_with_its_plan_fingerprint(rig: Rig) -> None:
    killed = rig.kill(S.PREFLIGHT, start=rig.unreviewed)
    assert killed.fingerprint == "" and killed.status == "running"
    outcome = rig.service().resume(killed)
    done = rig.journal.load(outcome.record.id)
    assert done.status == "completed" and done.fingerprint == outcome.plan.fingerprint
    assert rig.engine.applied == B
