"""Composition of the switch: the real parts behind orchestrator.ports.switch, put together.

The CLI (and later the HTTP console and `watch`) call switch_engine() for a read-only plan
and switch_service() to execute; orchestrator.services.switch.service knows only the ports.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from orchestrator.adapters.files.audit import audit_for
from orchestrator.adapters.files.journal import Journal
from orchestrator.adapters.files.journal import journal_for as shared_journal_for
from orchestrator.adapters.files.paths import stack_config_file, state_dir
from orchestrator.adapters.lease import LeaseCollision, LeaseKeeper, LeaseRecord, fence_env, lease_from_config
from orchestrator.adapters.processes import alive as process_alive
from orchestrator.adapters.pulumi.configfile import planned_config, write_active_groups
from orchestrator.adapters.pulumi.database import MODE_ENV as DATABASE_MODE_ENV
from orchestrator.adapters.pulumi.database import resource_name as database_resource_name
from orchestrator.adapters.pulumi.locks import clear_stale_locks
from orchestrator.adapters.pulumi.stack import ProjectStack
from orchestrator.adapters.pulumi.stackconfig import stack_config
from orchestrator.domain.errors import UsageError
from orchestrator.domain.topology import Topology
from orchestrator.ports.switch import Change, Record
from orchestrator.services.metrics import publisher as metrics_publisher
from orchestrator.services.switch.dryrun import DryRun, dry_run
from orchestrator.services.switch.service import SwitchDeps, SwitchService, dead_holder_of
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
        time.sleep(0.05)  # fault-injection hook only: waits on the test removing the marker


def lease_config(root: Path, stack: str) -> dict[str, Any]:
    cfg = stack_config(root, stack).get(LEASE_KEY)
    if not isinstance(cfg, dict) or "kind" not in cfg:
        raise UsageError(
            f"stack '{stack}' has no lease configuration",
            "a switch takes a lease so that no second operator acts at the same time",
            f"add `{LEASE_KEY}: {{kind: dns-quorum, servers: dev}}` (local) or see docs/lease.md",
        )
    return cfg


class PulumiSwitchEngine:
    """StackEngine over the project's Pulumi stack (orchestrator.adapters.pulumi)."""

    def __init__(self, root: Path, stack: str, overrides: Mapping[str, str] | None = None) -> None:
        self.root = root
        self.stack = stack
        self.overrides = dict(overrides or {})
        self._stack: ProjectStack | None = None

    def plan(
        self,
        *,
        kind: str,
        to_groups: tuple[str, ...] | None,
        mode: str,
        change: Callable[[tuple[str, ...]], tuple[str, ...]] | None = None,
        fence: Mapping[str, str] | None = None,
        refresh: bool = True,
    ) -> DryRun:
        return dry_run(
            self.root,
            self.stack,
            kind=kind,
            to_groups=to_groups,
            mode=mode,
            change=change,
            extra_env=dict(fence) if fence else None,
            overrides=self.overrides or None,
            refresh=refresh,
        )

    def _project(self) -> ProjectStack:
        if self._stack is None:  # one per switch: its engine runs share the selected stack
            self._stack = ProjectStack(self.root, self.stack)
        clear_stale_locks(self.root, self.stack)  # only under our lease: a leftover lock is a crash's
        return self._stack

    def refresh(self, *, fence: Mapping[str, str]) -> None:
        self._project().refresh(extra_env=fence)

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
        project = self._project()
        env = {**fence, **({DATABASE_MODE_ENV: database_mode} if database_mode else {})}
        kwargs: dict[str, Any] = {
            "message": message,
            "target": list(target) if target else None,
            "exclude": list(exclude) if exclude else None,
            "extra_env": env,
            # The switch refreshes once, under its lease: before its first update, or in it.
            "refresh": refresh,
            "skip_checkpoints": True,  # a killed update is redone by --resume (docs/engine.md)
            "events": False,  # the preflight planned it; the engine's event stream is not read
        }
        if to_groups is None:
            project.up(**kwargs)
            return
        with planned_config(stack_config_file(self.root, self.stack), to_groups) as cfg:
            project.up(config_file=cfg, **kwargs)

    def database_urns(self, changes: Sequence[Change], sides: Sequence[tuple[str, str]]) -> list[str]:
        wanted = {database_resource_name(pair, group) for pair, group in sides}
        return [c.urn for c in changes if c.name in wanted and c.op != "same"]

    def record_active_groups(self, groups: tuple[str, ...]) -> bool:
        return write_active_groups(stack_config_file(self.root, self.stack), groups)


class KeptLease:
    """HeldLease: a LeaseKeeper renewing the acquired record, and the fence for the writers."""

    def __init__(self, keeper: LeaseKeeper, cfg: Mapping[str, Any], held: LeaseRecord) -> None:
        self.keeper = keeper
        self.holder = held.holder
        self.epoch = held.epoch
        self.fence = fence_env(cfg, held)

    def assert_held(self) -> None:
        self.keeper.assert_held()

    def lost(self) -> bool:
        return self.keeper.lost.is_set()

    def stop(self) -> None:
        self.keeper.__exit__(None, None, None)

    def release(self) -> None:
        self.keeper.lease.release(self.keeper.record)


class ConfiguredLease:
    """SwitchLease from the stack's `orchestrator:lease` (orchestrator.adapters.lease)."""

    def __init__(self, cfg: Mapping[str, Any]) -> None:
        self.cfg = cfg

    def acquire(
        self,
        holder: str,
        switch_id: str,
        *,
        on_collision: Callable[[str, float], None],
        on_lost: Callable[[BaseException], None],
        on_renewed: Callable[[int, Any], None],
    ) -> KeptLease:
        lease = lease_from_config(self.cfg)
        try:
            held = lease.acquire(holder, take_over=dead_holder_of(switch_id, process_alive))
        except LeaseCollision as exc:
            on_collision(exc.holder, exc.expires_at)
            raise
        keeper = LeaseKeeper(
            lease, held, on_lost=on_lost, on_renewed=lambda rec: on_renewed(rec.epoch, rec.expires_at)
        )
        keeper.__enter__()
        return KeptLease(keeper, self.cfg, held)


class SwitchHealth:
    """HealthVerifier: the latency baseline before the flip and the verify step's four checks."""

    def __init__(self, root: Path, stack: str, echo: Echo) -> None:
        self.root, self.stack, self.echo = root, stack, echo

    def baseline(self, record: Record, topology: Topology) -> None:
        baseline_before_flip(self.root, self.stack, record, topology, self.echo)

    def verify(self, record: Record, topology: Topology) -> None:
        verify_switch(self.root, self.stack, record, topology, self.echo)


def journal_for(root: Path) -> Journal:
    """The journal of the backend in use (the shared database with postgres://, else the files)."""
    return shared_journal_for(root)


def switch_engine(root: Path, stack: str, overrides: Mapping[str, str] | None = None) -> PulumiSwitchEngine:
    """The read-only side (dry-run): no lease configuration needed."""
    return PulumiSwitchEngine(root, stack, overrides)


def switch_service(
    root: Path,
    stack: str,
    echo: Echo,
    overrides: Mapping[str, str] | None = None,
    engine: PulumiSwitchEngine | None = None,
) -> SwitchService:
    """The switch with its real parts; refuses a stack with no lease configuration."""
    cfg = lease_config(root, stack)
    deps = SwitchDeps(
        engine=engine or switch_engine(root, stack, overrides),
        journal=journal_for(root),
        audit=audit_for(root),
        lease=ConfiguredLease(cfg),
        health=SwitchHealth(root, stack, echo),
        metrics=metrics_publisher(root, stack),  # textfile of this run (no-op unless configured)
        clock=time.monotonic,
        pause=lambda step: maybe_pause(root, step),
    )
    return SwitchService(stack, deps, echo, overrides)
