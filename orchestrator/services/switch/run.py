"""Executing a switch: lease, preflight, flip, cleanup, verify, release — journaled and audited.

Make-before-break: `flip-dns` applies only the creates and in-place updates (each
record set is one atomic replace, new registry entries appear before old ones go);
`cleanup-inactive` then deletes what the deactivated groups owned. Every write by the
providers is fenced by the lease epoch (ORCHESTRATOR_FENCE), and the lease is checked
before every step, so a writer whose lease is gone stops before it writes.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orchestrator.adapters.files import audit as ev
from orchestrator.adapters.files.audit import audit_for
from orchestrator.adapters.files.journal import SwitchRecord, journal_for
from orchestrator.adapters.files.paths import stack_config_file, state_dir
from orchestrator.adapters.lease import LeaseCollision, LeaseKeeper, fence_env, lease_from_config
from orchestrator.adapters.pulumi.configfile import planned_config, write_active_groups
from orchestrator.adapters.pulumi.database import MODE_ENV as DATABASE_MODE_ENV
from orchestrator.adapters.pulumi.database import resource_name as database_resource_name
from orchestrator.adapters.pulumi.locks import clear_stale_locks
from orchestrator.adapters.pulumi.stack import ProjectStack
from orchestrator.adapters.pulumi.stackconfig import stack_config
from orchestrator.domain.errors import (
    EXIT_BLOCKED,
    EXIT_CONFLICT,
    ConflictError,
    OrchestratorError,
    UsageError,
)
from orchestrator.domain.switch import steps as S
from orchestrator.domain.switch.plan import SwitchPlan
from orchestrator.services.history import update_message
from orchestrator.services.metrics import publisher as metrics_publisher
from orchestrator.services.policies import audit_overrides
from orchestrator.services.switch.dryrun import DryRun, dry_run
from orchestrator.services.switch.verify import baseline_before_flip, verify_switch

Echo = Callable[[str], None]
LEASE_KEY = "orchestrator:lease"
# Test hook (fault injection): at the named step, write a marker file and wait until it
# is removed, so a test can kill -9 us or steal the lease at an exact point.
PAUSE_HOOK = "ORCHESTRATOR_PAUSE_AT"
PAUSE_DEADLINE = 300.0


def pause_marker(root: Path, step: str) -> Path:
    return state_dir(root) / f"paused-at-{step}"


def maybe_pause(root: Path, step: str) -> None:
    if os.environ.get(PAUSE_HOOK) != step:
        return
    marker = pause_marker(root, step)
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(str(os.getpid()))
    deadline = time.monotonic() + PAUSE_DEADLINE
    while marker.exists() and time.monotonic() < deadline:
        time.sleep(0.05)


class PreflightBlocked(OrchestratorError):
    exit_code = EXIT_BLOCKED


def lease_config(root: Path, stack: str) -> dict[str, Any]:
    cfg = stack_config(root, stack).get(LEASE_KEY)
    if not isinstance(cfg, dict) or "kind" not in cfg:
        raise UsageError(
            f"stack '{stack}' has no lease configuration",
            "a switch takes a lease so that no second operator acts at the same time",
            f"add `{LEASE_KEY}: {{kind: dns-quorum, servers: dev}}` (local) or see docs/lease.md",
        )
    return cfg


def _holder(switch_id: str) -> str:
    user = os.environ.get("ORCHESTRATOR_USER") or os.environ.get("USER") or "operator"
    return f"{user}@{socket.gethostname()}:{os.getpid()}/{switch_id}"


_HOLDER = re.compile(r"^[^@]*@(?P<host>[^:]+):(?P<pid>\d+)/(?P<switch>\S+)$")


def dead_holder_of(switch_id: str) -> Callable[[Any], bool]:
    """Resume may take over the lease of its own switch when that process is gone.

    Only the same switch id, on this host, with a pid that no longer exists: anything
    else is another operator and gets a collision.
    """

    def take_over(current: Any) -> bool:
        m = _HOLDER.match(current.holder or "")
        if not m or m["switch"] != switch_id or m["host"] != socket.gethostname():
            return False
        try:
            os.kill(int(m["pid"]), 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        return False

    return take_over


@dataclass
class Outcome:
    record: SwitchRecord
    plan: SwitchPlan
    durations: dict[str, float]


class SwitchRunner:
    def __init__(self, root: Path, stack: str, echo: Echo) -> None:
        self.root = root
        self.stack = stack
        self.echo = echo
        self.audit = audit_for(root)
        self.journal = journal_for(root)
        self.lease_cfg = lease_config(root, stack)
        self.metrics = metrics_publisher(root, stack)  # textfile of this run (no-op unless configured)
        # Break-glass policy overrides of this run ({policy: reason}; set by the CLI, never persisted).
        self.policy_overrides: dict[str, str] = {}
        self._durations: dict[str, float] = {}

    # -- public entry points -------------------------------------------------------------
    def execute(
        self,
        reviewed: DryRun,
        *,
        reviewed_fingerprint: str | None,
        resume: SwitchRecord | None = None,
        rollback_of: str | None = None,
    ) -> Outcome:
        plan = reviewed.plan
        record = resume or self.journal.create(
            self.stack,
            plan.kind,
            plan.from_groups,
            plan.to_groups,
            plan.fingerprint,
            plan.mode,
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
                kind=plan.kind,
                mode=plan.mode,
                from_groups=list(plan.from_groups),
                to_groups=list(plan.to_groups),
                fingerprint=plan.fingerprint,
            )
        durations = self._durations = {}
        keeper: LeaseKeeper | None = None
        try:
            keeper = self._acquire(record)
            current = self._preflight(record, reviewed_fingerprint, keeper)
            self._skip(record, S.LOWER_TTL)
            self._database_step(record, current, keeper, S.DEMOTE_PRIMARY)
            self._database_step(record, current, keeper, S.PROMOTE_PRIMARY)
            self._flip(record, current, keeper)
            self._cleanup(record, current, keeper)
            self._verify(record, current, keeper)
            self._release(record, keeper)
            keeper = None
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
            self.metrics.publish(live=True)
            return Outcome(record, current.plan, durations)
        except BaseException as exc:
            self._fail(record, exc)
            raise
        finally:
            if keeper is not None:
                self._release_quietly(record, keeper)

    # -- steps ---------------------------------------------------------------------------
    @contextlib.contextmanager
    def _step(self, record: SwitchRecord, name: str) -> Iterator[bool | None]:
        """Journal, audit, progress and duration around one step; yields None when a resume
        finds the step already done (the body then only does what it needs to go on)."""
        if record_step_done(record, name):
            yield None
            return
        self.journal.start_step(record, name)
        self.audit.append(ev.STEP_STARTED, switch_id=record.id, step=name)
        maybe_pause(self.root, name)
        self.echo(f"[{name}] ...")
        t0 = time.monotonic()
        try:
            yield True
        except BaseException as exc:
            took = self._durations[name] = time.monotonic() - t0
            self.journal.fail_step(record, name, str(exc))
            self.audit.append(ev.STEP_FAILED, switch_id=record.id, step=name, error=str(exc)[:500])
            self.echo(f"[{name}] FAILED after {took:.2f}s")
            self.metrics.publish()
            raise
        took = self._durations[name] = time.monotonic() - t0
        self.journal.complete_step(record, name)
        self.audit.append(ev.STEP_COMPLETED, switch_id=record.id, step=name, duration_s=round(took, 3))
        self.echo(f"[{name}] done in {took:.2f}s")
        self.metrics.publish()

    def _acquire(self, record: SwitchRecord) -> LeaseKeeper:
        durations = self._durations
        lease = lease_from_config(self.lease_cfg)
        t0 = time.monotonic()
        self.journal.start_step(record, S.ACQUIRE_LEASE)
        self.audit.append(ev.STEP_STARTED, switch_id=record.id, step=S.ACQUIRE_LEASE)
        try:
            held = lease.acquire(_holder(record.id), take_over=dead_holder_of(record.id))
        except LeaseCollision as exc:
            self.audit.append(
                ev.LEASE_COLLISION, switch_id=record.id, holder=exc.holder, expires_at=exc.expires_at
            )
            self.metrics.publish()
            raise
        record.holder, record.epoch = held.holder, held.epoch
        self.journal.complete_step(record, S.ACQUIRE_LEASE)
        durations[S.ACQUIRE_LEASE] = time.monotonic() - t0
        self.audit.append(ev.LEASE_ACQUIRED, switch_id=record.id, holder=held.holder, epoch=held.epoch)
        self.audit.append(
            ev.STEP_COMPLETED,
            switch_id=record.id,
            step=S.ACQUIRE_LEASE,
            duration_s=round(durations[S.ACQUIRE_LEASE], 3),
        )
        self.metrics.publish(live=True)  # lease held/epoch; the live zones before the flip
        self.echo(f"[{S.ACQUIRE_LEASE}] held by {held.holder}, epoch {held.epoch}")
        maybe_pause(self.root, S.ACQUIRE_LEASE)

        def lost(exc: BaseException) -> None:
            self.audit.append(ev.LEASE_LOST, switch_id=record.id, error=str(exc)[:300])
            self.metrics.publish()

        def renewed(rec) -> None:  # noqa: ANN001
            self.audit.append(
                ev.LEASE_RENEWED, switch_id=record.id, epoch=rec.epoch, expires_at=rec.expires_at
            )
            self.metrics.publish()

        keeper = LeaseKeeper(lease, held, on_lost=lost, on_renewed=renewed)
        keeper.__enter__()
        self._fence = fence_env(self.lease_cfg, held)
        return keeper

    def _preflight(
        self,
        record: SwitchRecord,
        reviewed_fingerprint: str | None,
        keeper: LeaseKeeper,
    ) -> DryRun:
        with self._step(record, S.PREFLIGHT) as ctx:
            keeper.assert_held()
            if ctx is None:  # resumed after preflight: plan again under the lease
                return self._replan(record)
            # Under the lease: the policy pack runs again on a fresh measurement (health, state).
            current = self._replan(record)
            # Blockers first: a plan that is refused now is refused (exit 7), whether or not
            # it also differs from the reviewed one.
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
            if overrides := self.policy_overrides:
                audit_overrides(
                    self.audit,
                    overrides,
                    current.policy,
                    stack=self.stack,
                    mode=record.mode,
                    switch_id=record.id,
                )
            self.audit.append(ev.PREFLIGHT_PASSED, switch_id=record.id, fingerprint=current.plan.fingerprint)
            return current

    def _replan(self, record: SwitchRecord) -> DryRun:
        return dry_run(
            self.root,
            self.stack,
            kind=record.kind,
            to_groups=tuple(record.to_groups),
            mode=record.mode,
            extra_env=self._fence,
            overrides=self.policy_overrides or None,
        )

    def _database_step(self, record: SwitchRecord, current: DryRun, keeper: LeaseKeeper, name: str) -> None:
        """demote-primary / promote-primary: a targeted update of one side of each moving pair.

        Demote first: the old primary stops writes and publishes its token (an output); the
        promote update then reads that token from state and waits until the standby has
        replayed past it. In failover mode the old side is fenced instead, and the promotion
        takes no token (ORCHESTRATOR_DATABASE_MODE tells the provider).
        """
        moves = current.plan.databases
        if not moves:
            self._skip(record, name)
            return
        with self._step(record, name) as ctx:
            if ctx is None:
                return
            keeper.assert_held()
            side = [(m.pair, m.from_group if name == S.DEMOTE_PRIMARY else m.to_group) for m in moves]
            wanted = {database_resource_name(pair, group) for pair, group in side if group}
            targets = [c.urn for c in current.resource_changes if c.name in wanted and c.op != "same"]
            if not targets:
                return  # already where the plan wants it (a resumed switch)
            with planned_config(stack_config_file(self.root, self.stack), tuple(record.to_groups)) as cfg:
                self._stack().up(
                    config_file=cfg,
                    target=targets,
                    message=update_message(
                        record.id, record.fingerprint, record.from_groups, record.to_groups, record.kind
                    ),
                    extra_env={**self._fence, DATABASE_MODE_ENV: record.mode},
                )
            keeper.assert_held()

    def _flip(self, record: SwitchRecord, current: DryRun, keeper: LeaseKeeper) -> None:
        with self._step(record, S.FLIP_DNS) as ctx:
            if ctx is None:
                return
            keeper.assert_held()
            baseline_before_flip(self.root, self.stack, record, current.topology, self.echo)
            # Everything but the deletes: those wait for cleanup-inactive (make-before-break).
            deletes = [c.urn for c in current.resource_changes if c.op == "delete"]
            if any(c.op in ("create", "update", "replace") for c in current.resource_changes):
                with planned_config(stack_config_file(self.root, self.stack), tuple(record.to_groups)) as cfg:
                    self._stack().up(
                        config_file=cfg,
                        exclude=deletes or None,
                        message=update_message(
                            record.id, record.fingerprint, record.from_groups, record.to_groups, record.kind
                        ),
                        extra_env=self._fence,
                    )
            keeper.assert_held()
            if write_active_groups(stack_config_file(self.root, self.stack), tuple(record.to_groups)):
                self.audit.append(
                    ev.ACTIVE_GROUPS_CHANGED,
                    switch_id=record.id,
                    from_groups=list(record.from_groups),
                    to_groups=list(record.to_groups),
                )

    def _cleanup(self, record: SwitchRecord, current: DryRun, keeper: LeaseKeeper) -> None:
        with self._step(record, S.CLEANUP_INACTIVE) as ctx:
            if ctx is None:
                return
            keeper.assert_held()
            self._stack().up(
                message=update_message(
                    record.id, record.fingerprint, record.from_groups, record.to_groups, record.kind
                ),
                extra_env=self._fence,
            )

    def _verify(self, record: SwitchRecord, current: DryRun, keeper: LeaseKeeper) -> None:
        with self._step(record, S.VERIFY) as ctx:
            if ctx is None:
                return
            # The four health checks (orchestrator.services.health); raises when LastSwitchoverHealthy=False.
            verify_switch(self.root, self.stack, record, current.topology, self.echo)

    def _release(self, record: SwitchRecord, keeper: LeaseKeeper) -> None:
        with self._step(record, S.RELEASE_LEASE) as ctx:
            keeper.__exit__(None, None, None)
            keeper.lease.release(keeper.record)
            self.audit.append(ev.LEASE_RELEASED, switch_id=record.id, epoch=keeper.record.epoch)
            del ctx

    def _skip(self, record: SwitchRecord, name: str) -> None:
        if not record_step_done(record, name):
            self.journal.skip_step(record, name)

    # -- helpers ------------------------------------------------------------------------
    def _mark_rolled_back(self, record: SwitchRecord) -> None:
        if not record.rollback_of:
            return
        original = self.journal.load(record.rollback_of)
        if original.status in ("running", "failed", "completed"):
            # The journal's rules decide; the rollback itself is recorded either way.
            with contextlib.suppress(ValueError):
                self.journal.finish(original, "rolled-back")

    def _stack(self) -> ProjectStack:
        stack = ProjectStack(self.root, self.stack)
        clear_stale_locks(self.root, self.stack)  # only under our lease: a leftover lock is a crash's
        return stack

    def _fail(self, record: SwitchRecord, exc: BaseException) -> None:
        if record.status in ("completed", "rolled-back", "abandoned"):
            return  # already finished: never mask the original error
        if record.status == "running":  # a failed step already marked the record failed
            self.journal.finish(record, "failed", error=str(exc)[:1000])
        self.audit.append(ev.SWITCHOVER_FAILED, switch_id=record.id, error=str(exc)[:500])
        self.metrics.publish(live=True)

    def _release_quietly(self, record: SwitchRecord, keeper: LeaseKeeper) -> None:
        try:
            keeper.__exit__(None, None, None)
            if not keeper.lost.is_set():
                keeper.lease.release(keeper.record)
                self.audit.append(ev.LEASE_RELEASED, switch_id=record.id, epoch=keeper.record.epoch)
        except Exception:  # noqa: BLE001 — the lease expires on its own; the failure is reported already
            pass


def record_step_done(record: SwitchRecord, name: str) -> bool:
    return any(s.name == name and s.status in ("completed", "skipped") for s in record.steps)


__all__ = ["EXIT_BLOCKED", "EXIT_CONFLICT", "Outcome", "PreflightBlocked", "SwitchRunner"]
