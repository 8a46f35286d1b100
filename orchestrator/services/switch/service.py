"""The switch use case: lease, preflight, database moves, flip, cleanup, verify, release.

One module on purpose (about 500 lines): the step machine, its journaling and its resume
rules are one invariant (docs/switch.md); splitting the steps apart would hide their order.

Every part is passed in (orchestrator.ports.switch: stack engine, journal, audit sink,
lease, health verifier, metrics, clock, pauser); orchestrator.interfaces.switch_wiring
builds the real ones, tests/unit/test_switch_service.py fakes.

Make-before-break: one update applies every create and in-place update of the flip and
then, in the same update, the deletes of what the deactivated groups owned (the engine
runs deletes only after every other step has finished; docs/engine.md). Every write by
the providers is fenced by the lease epoch, and the lease is checked before every step, so
a writer whose lease is gone stops before it writes.

Engine work per switch (docs/engine.md, "Checkpoints and refreshes"): under the lease, once
the preflight accepted the plan, each update refreshes what it changes (a database update
its targets, the flip everything) in the same engine run; all skip per-step checkpoints. A
kill -9 in an update loses at most that update's state changes; --resume refreshes first
and re-applies them (every provider operation is idempotent).
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from orchestrator.domain.errors import EXIT_BLOCKED, EXIT_CONFLICT, ConflictError, OrchestratorError
from orchestrator.domain.switch import steps as S
from orchestrator.domain.switch.plan import SwitchPlan
from orchestrator.ports import audit as ev
from orchestrator.ports.audit import AuditSink
from orchestrator.ports.switch import (
    Clock,
    HealthVerifier,
    HeldLease,
    JournalStore,
    MetricsPublisher,
    Pauser,
    Preview,
    Record,
    StackEngine,
    SwitchLease,
)
from orchestrator.services.history import update_message
from orchestrator.services.policies import audit_overrides

Echo = Callable[[str], None]


class PreflightBlocked(OrchestratorError):
    exit_code = EXIT_BLOCKED


def holder_for(switch_id: str) -> str:
    user = os.environ.get("ORCHESTRATOR_USER") or os.environ.get("USER") or "operator"
    return f"{user}@{socket.gethostname()}:{os.getpid()}/{switch_id}"


_HOLDER = re.compile(r"^[^@]*@(?P<host>[^:]+):(?P<pid>\d+)/(?P<switch>\S+)$")


def dead_holder_of(switch_id: str, alive: Callable[[int], bool]) -> Callable[[Any], bool]:
    """Resume may take over the lease of its own switch when that process is gone.

    Only the same switch id, on this host, with a pid that no longer runs (`alive`: the
    wiring passes a check that counts a zombie as gone): anything else is another operator
    and gets a collision.
    """

    def take_over(current: Any) -> bool:
        m = _HOLDER.match(current.holder or "")
        if not m or m["switch"] != switch_id or m["host"] != socket.gethostname():
            return False
        return not alive(int(m["pid"]))

    return take_over


@dataclass
class SwitchDeps:
    engine: StackEngine
    journal: JournalStore
    audit: AuditSink
    lease: SwitchLease
    health: HealthVerifier
    metrics: MetricsPublisher
    clock: Clock
    pause: Pauser = field(default=lambda _step: None)
    holder: Callable[[str], str] = holder_for


@dataclass
class Outcome:
    record: Any
    plan: SwitchPlan
    durations: dict[str, float]


def record_step_done(record: Record, name: str) -> bool:
    return any(s.name == name and s.status in ("completed", "skipped") for s in record.steps)


class SwitchService:
    """One switch of one stack. `policy_overrides` ({policy: reason}) is this run's break-glass."""

    def __init__(
        self,
        stack: str,
        deps: SwitchDeps,
        echo: Echo,
        policy_overrides: Mapping[str, str] | None = None,
    ) -> None:
        self.stack = stack
        self.deps = deps
        self.echo = echo
        self.policy_overrides: dict[str, str] = dict(policy_overrides or {})
        self._durations: dict[str, float] = {}
        self._fence: Mapping[str, str] = {}
        self._deletes_done = False
        self._refresh_pending = False  # the preflight left the state refresh to the updates
        self._show: Callable[[SwitchPlan], None] | None = None

    @property
    def audit(self) -> AuditSink:
        return self.deps.audit

    @property
    def journal(self) -> JournalStore:
        return self.deps.journal

    # -- before anything is written -------------------------------------------------------
    def dry_run(
        self,
        *,
        kind: str,
        to_groups: tuple[str, ...] | None,
        mode: str,
        change: Callable[[tuple[str, ...]], tuple[str, ...]] | None = None,
    ) -> Preview:
        """The read-only preview an operator reviews (no lease, no journal, no audit)."""
        return self.deps.engine.plan(kind=kind, to_groups=to_groups, mode=mode, change=change)

    def record_noop(self, plan: SwitchPlan) -> None:
        self.audit.append(ev.SWITCHOVER_NOOP, stack=self.stack, to_groups=list(plan.to_groups))

    def check_reviewed(self, plan: SwitchPlan, reviewed: str | None) -> None:
        """Refuse a blocked plan (exit 7), then one that differs from the reviewed fingerprint.

        Blockers first: a refused plan is refused whether or not it also changed. Nothing has
        been written yet.
        """
        if plan.blockers:
            self.audit.append(ev.PREFLIGHT_BLOCKED, stack=self.stack, blockers=list(plan.blockers))
            raise PreflightBlocked(
                "the switch is blocked",
                "; ".join(plan.blockers),
                "fix the blockers listed above, then run again",
            )
        if reviewed and reviewed != plan.fingerprint:
            self.audit.append(
                ev.CONFIG_CHANGED_SINCE_PREVIEW, stack=self.stack, reviewed=reviewed, current=plan.fingerprint
            )
            raise ConflictError(
                f"the plan changed since it was reviewed (reviewed {reviewed}, now {plan.fingerprint})",
                "the topology, the live zones or the active groups changed after the dry-run",
                "review the plan above and run again with --plan " + plan.fingerprint,
            )

    # -- entry points -----------------------------------------------------------------------
    def unfinished(self) -> Any:
        return self.journal.unfinished(self.stack)

    def resume(self, record: Any) -> Outcome:
        """Finish an interrupted switch from its next step (plans again under the lease)."""
        self.audit.append(ev.RESUME_REQUESTED, switch_id=record.id, next_step=self.journal.next_step(record))
        # No preview before the lease: the preflight plans again under it (after its refresh).
        return self.execute(None, reviewed_fingerprint=None, resume=record)

    def execute_unreviewed(
        self,
        *,
        kind: str,
        from_groups: tuple[str, ...],
        to_groups: tuple[str, ...],
        mode: str,
        show: Callable[[SwitchPlan], None],
        reviewed_fingerprint: str | None = None,
    ) -> Outcome:
        """A switch with no confirmation to ask (`--yes`): the lease first, then one preview
        under it that is both the report and the preflight check.

        The preview outside the lease would be planned again under it anyway; skipping it
        saves one program run and one refresh. `show` gets the plan before anything is
        written; blockers refuse it as in any preflight (exit 7), and so does a plan that is
        not the reviewed one (`--plan`, exit 5).
        """
        self._show = show
        return self.execute(
            None,
            reviewed_fingerprint=reviewed_fingerprint,
            fresh=(kind, tuple(from_groups), tuple(sorted(set(to_groups))), mode),
        )

    def execute(
        self,
        reviewed: Preview | None,
        *,
        reviewed_fingerprint: str | None,
        resume: Any = None,
        rollback_of: str | None = None,
        fresh: tuple[str, tuple[str, ...], tuple[str, ...], str] | None = None,
    ) -> Outcome:
        """Run (or, with `resume`, finish) the switch of the reviewed preview."""
        if resume is None and reviewed is None and fresh is None:
            raise ValueError("a new switch needs the reviewed preview")
        if rollback_of and resume is None:
            self.audit.append(ev.ROLLBACK_REQUESTED, stack=self.stack, rollback_of=rollback_of)
        plan = reviewed.plan if reviewed is not None else None
        if resume is not None:
            record = resume
        else:
            # Unreviewed: the fingerprint is the reviewed one (--plan) or, with none, known once
            # the preflight has planned under the lease.
            kind, from_groups, to_groups, mode = (
                (plan.kind, plan.from_groups, plan.to_groups, plan.mode) if plan is not None else fresh  # type: ignore[misc]
            )
            record = self.journal.create(
                self.stack,
                kind,
                from_groups,
                to_groups,
                plan.fingerprint if plan is not None else reviewed_fingerprint or "",
                mode,
                list(S.STEPS),
            )
        if rollback_of and resume is None:
            record.rollback_of = rollback_of
            self.journal.save(record)
        sid = record.id
        if resume is None:
            self.audit.append(
                ev.SWITCHOVER_REQUESTED,
                switch_id=sid,
                stack=self.stack,
                kind=record.kind,
                mode=record.mode,
                from_groups=list(record.from_groups),
                to_groups=list(record.to_groups),
                fingerprint=record.fingerprint or None,
            )
        durations = self._durations = {}
        self._deletes_done = False
        lease: HeldLease | None = None
        try:
            lease = self._acquire(record)
            current = self._preflight(record, reviewed_fingerprint, lease)
            self._skip(record, S.LOWER_TTL)
            self._database_step(record, current, lease, S.DEMOTE_PRIMARY)
            self._database_step(record, current, lease, S.PROMOTE_PRIMARY)
            self._flip(record, current, lease)
            self._cleanup(record, current, lease)
            self._verify(record, current)
            self._release(record, lease)
            lease = None
            self.journal.finish(record, "completed")
            self.audit.append(
                ev.SWITCHOVER_COMPLETED,
                switch_id=sid,
                to_groups=list(record.to_groups),
                durations={k: round(v, 3) for k, v in durations.items()},
            )
            if record.kind == "rollback":
                self._mark_rolled_back(record)
                self.audit.append(ev.ROLLBACK_COMPLETED, switch_id=sid, rollback_of=record.rollback_of)
            self.deps.metrics.publish(live=True)
            return Outcome(record, current.plan, durations)
        except BaseException as exc:
            # A switch started with --yes that is refused before its preflight passed wrote
            # nothing: there is nothing to resume (a watch would otherwise resume it forever).
            refused = isinstance(exc, (PreflightBlocked, ConflictError))
            nothing_to_resume = fresh is not None and refused and not record_step_done(record, S.PREFLIGHT)
            self._fail(record, exc, abandon=nothing_to_resume)
            raise
        finally:
            if lease is not None:
                self._release_quietly(record, lease)

    # -- steps ---------------------------------------------------------------------------
    def _message(self, record: Record) -> str:
        return update_message(
            record.id, record.fingerprint, record.from_groups, record.to_groups, record.kind
        )

    @contextlib.contextmanager
    def _step(self, record: Record, name: str) -> Iterator[bool | None]:
        """Journal, audit, progress and duration around one step; yields None when a resume
        finds the step already done (the body then only does what it needs to go on)."""
        if record_step_done(record, name):
            yield None
            return
        self.journal.start_step(record, name)
        self.audit.append(ev.STEP_STARTED, switch_id=record.id, step=name)
        self.deps.pause(name)
        self.echo(f"[{name}] ...")
        t0 = self.deps.clock()
        try:
            yield True
        except BaseException as exc:
            took = self._durations[name] = self.deps.clock() - t0
            self.journal.fail_step(record, name, str(exc))
            self.audit.append(ev.STEP_FAILED, switch_id=record.id, step=name, error=str(exc)[:500])
            self.echo(f"[{name}] FAILED after {took:.2f}s")
            self.deps.metrics.publish()
            raise
        took = self._durations[name] = self.deps.clock() - t0
        self.journal.complete_step(record, name)
        self.audit.append(ev.STEP_COMPLETED, switch_id=record.id, step=name, duration_s=round(took, 3))
        self.echo(f"[{name}] done in {took:.2f}s")
        self.deps.metrics.publish()

    def _acquire(self, record: Record) -> HeldLease:
        t0 = self.deps.clock()
        self.journal.start_step(record, S.ACQUIRE_LEASE)
        self.audit.append(ev.STEP_STARTED, switch_id=record.id, step=S.ACQUIRE_LEASE)

        def collision(holder: str, expires_at: float) -> None:
            self.audit.append(ev.LEASE_COLLISION, switch_id=record.id, holder=holder, expires_at=expires_at)
            self.deps.metrics.publish()

        def lost(exc: BaseException) -> None:
            self.audit.append(ev.LEASE_LOST, switch_id=record.id, error=str(exc)[:300])
            self.deps.metrics.publish()

        def renewed(epoch: int, expires_at: Any) -> None:
            self.audit.append(ev.LEASE_RENEWED, switch_id=record.id, epoch=epoch, expires_at=expires_at)
            self.deps.metrics.publish()

        held = self.deps.lease.acquire(
            self.deps.holder(record.id), record.id, on_collision=collision, on_lost=lost, on_renewed=renewed
        )
        record.holder, record.epoch = held.holder, held.epoch
        self.journal.complete_step(record, S.ACQUIRE_LEASE)
        took = self._durations[S.ACQUIRE_LEASE] = self.deps.clock() - t0
        self.audit.append(ev.LEASE_ACQUIRED, switch_id=record.id, holder=held.holder, epoch=held.epoch)
        self.audit.append(
            ev.STEP_COMPLETED, switch_id=record.id, step=S.ACQUIRE_LEASE, duration_s=round(took, 3)
        )
        self.deps.metrics.publish(live=True)  # lease held/epoch; the live zones before the flip
        self.echo(f"[{S.ACQUIRE_LEASE}] held by {held.holder}, epoch {held.epoch}")
        self.deps.pause(S.ACQUIRE_LEASE)
        self._fence = held.fence
        return held

    def _preflight(self, record: Record, reviewed_fingerprint: str | None, lease: HeldLease) -> Preview:
        with self._step(record, S.PREFLIGHT) as ctx:
            lease.assert_held()
            if ctx is None:  # resumed after preflight: read back the interrupted work, then plan
                self.deps.engine.refresh(fence=self._fence)
                return self._replan(record)
            # Checked on a preview that refreshes in memory only: a refused switch writes nothing,
            # not even a refresh of the state.
            current = self._replan(record, refresh=True)
            if not record.fingerprint:  # a --yes switch (or its resume): planned only now
                record.fingerprint = current.plan.fingerprint
                self.journal.save(record)
            if self._show is not None:  # execute_unreviewed: this preview is the report
                self._show(current.plan)
            if current.plan.blockers:
                self.audit.append(
                    ev.PREFLIGHT_BLOCKED, switch_id=record.id, blockers=list(current.plan.blockers)
                )
                raise PreflightBlocked(
                    "the switch is blocked by preflight",
                    "; ".join(current.plan.blockers),
                    "fix the blockers listed in the dry-run report, then run again",
                )
            if reviewed_fingerprint and current.plan.fingerprint != reviewed_fingerprint:
                self.audit.append(
                    ev.CONFIG_CHANGED_SINCE_PREVIEW,
                    switch_id=record.id,
                    reviewed=reviewed_fingerprint,
                    current=current.plan.fingerprint,
                )
                raise ConflictError(
                    f"the plan changed since it was reviewed (reviewed {reviewed_fingerprint}, "
                    f"now {current.plan.fingerprint})",
                    "the topology, the live zones or the active groups changed after the dry-run",
                    "run the dry-run again, review the new plan, and pass its fingerprint",
                )
            if self.policy_overrides:
                audit_overrides(
                    self.audit,
                    self.policy_overrides,
                    current.policy,
                    stack=self.stack,
                    mode=record.mode,
                    switch_id=record.id,
                )
            # The state is refreshed under the lease once the plan is accepted, by the updates
            # themselves (no engine run of its own): each database update refreshes what it
            # targets, the flip's update everything before it writes. Unless this preview's own
            # refresh, under the same lease, found every server as the state says: then the
            # state is current, and reading 3,000 record sets again would tell nothing new.
            self._refresh_pending = not current.state_current
            self.audit.append(ev.PREFLIGHT_PASSED, switch_id=record.id, fingerprint=current.plan.fingerprint)
            return current

    def _replan(self, record: Record, *, refresh: bool = False) -> Preview:
        return self.deps.engine.plan(
            kind=record.kind,
            to_groups=tuple(record.to_groups),
            mode=record.mode,
            fence=self._fence,
            refresh=refresh,  # False: the state was refreshed just before, under the lease
        )

    def _database_step(self, record: Record, current: Preview, lease: HeldLease, name: str) -> None:
        """demote-primary / promote-primary: a targeted update of one side of each moving pair.

        Demote first: the old primary stops writes and publishes its token (an output); the
        promote update then reads that token from state and waits until the standby has
        replayed past it. In failover mode the old side is fenced instead, and the promotion
        takes no token.
        """
        moves = current.plan.databases
        if not moves:
            self._skip(record, name)
            return
        with self._step(record, name) as ctx:
            if ctx is None:
                return
            lease.assert_held()
            sides = [(m.pair, m.from_group if name == S.DEMOTE_PRIMARY else m.to_group) for m in moves]
            targets = self.deps.engine.database_urns(
                current.resource_changes, [(p, g) for p, g in sides if g]
            )
            if not targets:
                return  # already where the plan wants it (a resumed switch)
            self.deps.engine.up(
                to_groups=tuple(record.to_groups),
                target=targets,
                message=self._message(record),
                fence=self._fence,
                database_mode=record.mode,
                refresh=self._refresh_pending,  # a targeted refresh reads only these targets
            )
            lease.assert_held()

    def _flip(self, record: Record, current: Preview, lease: HeldLease) -> None:
        with self._step(record, S.FLIP_DNS) as ctx:
            if ctx is None:
                return
            lease.assert_held()
            self.deps.health.baseline(record, current.topology)
            ops = {c.op for c in current.resource_changes}
            if ops & {"create", "update", "replace", "delete"}:
                # One update: creates and updates first, then (the engine waits for all of
                # them) the deletes that cleanup-inactive stands for: make-before-break.
                self.deps.engine.up(
                    to_groups=tuple(record.to_groups),
                    message=self._message(record),
                    fence=self._fence,
                    refresh=self._refresh_pending,
                )
                self._refresh_pending = False
                self._deletes_done = "delete" in ops
            lease.assert_held()
            if self.deps.engine.record_active_groups(tuple(record.to_groups)):
                self.audit.append(
                    ev.ACTIVE_GROUPS_CHANGED,
                    switch_id=record.id,
                    from_groups=list(record.from_groups),
                    to_groups=list(record.to_groups),
                )

    def _cleanup(self, record: Record, current: Preview, lease: HeldLease) -> None:
        with self._step(record, S.CLEANUP_INACTIVE) as ctx:
            if ctx is None:
                return
            lease.assert_held()
            if self._deletes_done:
                return  # the flip's update ran the deletes after its creates and updates
            # A resumed switch (the flip done by an earlier run): the preflight planned from a
            # refreshed state, so an update is needed only if that plan still changes something.
            if any(c.op not in ("same", "read") for c in current.resource_changes):
                self.deps.engine.up(to_groups=None, message=self._message(record), fence=self._fence)

    def _verify(self, record: Record, current: Preview) -> None:
        with self._step(record, S.VERIFY) as ctx:
            if ctx is None:
                return
            self.deps.health.verify(record, current.topology)

    def _release(self, record: Record, lease: HeldLease) -> None:
        with self._step(record, S.RELEASE_LEASE):
            lease.stop()
            lease.release()
            self.audit.append(ev.LEASE_RELEASED, switch_id=record.id, epoch=lease.epoch)

    def _skip(self, record: Record, name: str) -> None:
        if not record_step_done(record, name):
            self.journal.skip_step(record, name)

    # -- helpers ------------------------------------------------------------------------
    def _mark_rolled_back(self, record: Record) -> None:
        if not record.rollback_of:
            return
        original = self.journal.load(record.rollback_of)
        if original.status in ("running", "failed", "completed"):
            # The journal's rules decide; the rollback itself is recorded either way.
            with contextlib.suppress(ValueError):
                self.journal.finish(original, "rolled-back")

    def _fail(self, record: Record, exc: BaseException, *, abandon: bool = False) -> None:
        if record.status in ("completed", "rolled-back", "abandoned"):
            return  # already finished: never mask the original error
        if abandon:
            self.journal.finish(record, "abandoned", error=str(exc)[:1000])
        elif record.status == "running":  # a failed step already marked the record failed
            self.journal.finish(record, "failed", error=str(exc)[:1000])
        self.audit.append(ev.SWITCHOVER_FAILED, switch_id=record.id, error=str(exc)[:500])
        self.deps.metrics.publish(live=True)

    def _release_quietly(self, record: Record, lease: HeldLease) -> None:
        try:
            lease.stop()
            if not lease.lost():
                lease.release()
                self.audit.append(ev.LEASE_RELEASED, switch_id=record.id, epoch=lease.epoch)
        except Exception:  # noqa: BLE001 — the lease expires on its own; the failure is reported already
            pass


__all__ = [
    "EXIT_BLOCKED",
    "EXIT_CONFLICT",
    "Outcome",
    "PreflightBlocked",
    "SwitchDeps",
    "SwitchService",
    "dead_holder_of",
    "holder_for",
    "record_step_done",
]
