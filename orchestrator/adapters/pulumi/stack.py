"""The project's Pulumi stack, driven through the Automation API only.

The project stays a plain Pulumi project (Pulumi.yaml, programs/, stacks/): this
module selects a stack of it with the pinned CLI and the engine settings, runs
preview/up/refresh, and turns engine failures into errors that say what to do.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any

from pulumi import automation as auto

from orchestrator.adapters.dns.registry import LOCAL_PROVIDERS
from orchestrator.adapters.files.paths import stack_config_file, state_dir
from orchestrator.adapters.pulumi import attach, event_stream
from orchestrator.adapters.pulumi.environment import Engine, engine_env, locate_engine, pulumi_command
from orchestrator.adapters.pulumi.stackconfig import TOPOLOGY_KEY, stack_config
from orchestrator.domain.errors import ConflictError, OrchestratorError, UsageError
from orchestrator.ports.stack import PolicyViolations

# Our errors travel through the dynamic-provider plugin as text: recover them.
_PROVIDER_ERROR = re.compile(r"error: (?P<what>[^\n]+)\n\s+why: (?P<why>[^\n]+)\n\s+fix: (?P<fix>[^\n]+)")
# The engine then writes state once per update instead of around every resource step
# (pkg/backend/snapshot.go, unsafeServiceLoop).
SKIP_CHECKPOINTS_ENV = "PULUMI_SKIP_CHECKPOINTS"
_LOCKED = re.compile(r"the stack is currently locked by (?P<n>\d+) lock\(s\)", re.IGNORECASE)

event_stream.apply()  # decode only the engine events the orchestrator reads


@dataclass
class ResourceChange:
    """One step the engine reported: op is create/update/delete/replace/same/..."""

    op: str
    urn: str
    type: str
    name: str
    old: dict[str, Any] | None = None
    new: dict[str, Any] | None = None
    diffs: list[str] = field(default_factory=list)


def _props(state: Any, prefer: str) -> dict[str, Any] | None:
    """Old state: its outputs (what was applied). New state: its inputs (what is planned)."""
    if state is None:
        return None
    first, second = (state.inputs, state.outputs) if prefer == "inputs" else (state.outputs, state.inputs)
    return dict(first or second or {})


def changes_from_events(events: list[auto.EngineEvent]) -> list[ResourceChange]:
    """Resource-level changes from engine events (resource pre-events carry old/new state)."""
    out: list[ResourceChange] = []
    for ev in events:
        pre = ev.resource_pre_event
        if pre is None or pre.metadata is None:
            continue
        md = pre.metadata
        if md.type == "pulumi:pulumi:Stack" or md.type.startswith("pulumi:providers:"):
            continue
        out.append(
            ResourceChange(
                op=str(md.op.value if hasattr(md.op, "value") else md.op),
                urn=md.urn,
                type=md.type,
                name=md.urn.rsplit("::", 1)[-1],
                old=_props(md.old, "outputs"),
                new=_props(md.new, "inputs"),
                diffs=list(md.diffs or []),
            )
        )
    return out


def _collect(into: list[auto.EngineEvent]) -> Callable[[auto.EngineEvent], None]:
    """An on_event that keeps only what the orchestrator reads: resource pre-events (the
    plan), policy events (the verdict) and refresh steps (drift; event_stream passes on only
    those that changed the state). A preview of 5,000 hostnames streams about 25,000 events;
    kept whole, they held about 440 MB."""

    def keep(event: auto.EngineEvent) -> None:
        if event.resource_pre_event is not None:
            _slim(event.resource_pre_event.metadata)
            into.append(event)
        elif event.policy_event is not None or _refresh_step(event):
            into.append(event)

    return keep


def _slim(md: Any) -> None:
    """Drops the half of a planned step that changes_from_events never reads (the old state's
    inputs, the new state's outputs, when the half it reads is there): the orchestrator held
    every resource's property maps twice over through the preview, the peak of a switch's
    memory (about 3 MB at 1,000 hostnames)."""
    if md is None:
        return
    if md.old is not None and md.old.outputs:
        md.old.inputs = {}
    if md.new is not None and md.new.inputs:
        md.new.outputs = {}


def _refresh_step(event: auto.EngineEvent) -> bool:
    outputs = event.res_outputs_event
    return outputs is not None and outputs.metadata is not None and outputs.metadata.op == "refresh"


def translate_failure(exc: auto.errors.CommandError, stack: str) -> OrchestratorError:
    """The most useful error in the engine's output, as an OrchestratorError."""
    text = f"{exc.stdout}\n{exc.stderr}" if hasattr(exc, "stdout") else str(exc)
    if match := _PROVIDER_ERROR.search(text):
        from orchestrator.adapters.dns.errors import ProviderError

        return ProviderError(match["what"], match["why"], match["fix"])
    if _LOCKED.search(text) or isinstance(exc, auto.errors.ConcurrentUpdateError):
        return ConflictError(
            f"the stack '{stack}' is locked by another update",
            "another orchestrator or pulumi process is running against it, or one was killed",
            "wait for it to finish; if it was killed, run `orchestrator unlock` (it shows the holder first)",
        )
    lines = [ln for ln in text.splitlines() if ln.strip().startswith("error:")]
    detail = lines[-1].strip() if lines else text.strip().splitlines()[-1:] or ["unknown"]
    return OrchestratorError(
        f"pulumi failed on stack '{stack}'",
        detail if isinstance(detail, str) else detail[0],
        "read the engine output above; fix the cause and run again (nothing is left locked)",
    )


def _policy_refusal(events: list[auto.EngineEvent]) -> bool:
    return any(
        ev.policy_event is not None and ev.policy_event.enforcement_level in ("mandatory", "remediate")
        for ev in events
    )


# Steps in flight in an update whose record sets all go through the project's plugin. Its
# writes to one zone meet in one batch (provider/batching.py), so more steps in flight make
# fewer, larger writes: at 1,000 hostnames, 1,900 PATCHes and about 25 s at the engine's
# default (4 per core), 330 and 12 s at 64. Cloud zones keep the default: their APIs throttle.
PLUGIN_PARALLEL = 64


@contextmanager
def _result_not_read(stack: auto.Stack, *, read: bool) -> Iterator[None]:
    """After an update, the Automation API's Stack.up runs three more CLI commands for its
    result: the outputs (twice, with and without secrets) and the newest history entry, about
    0.5 s at 1,000 hostnames. A caller that reads neither (a switch: events=False) skips them;
    its result carries no outputs and a summary that only says the update succeeded."""
    if read:
        yield
        return
    stack.outputs = dict  # type: ignore[method-assign]  # instance attributes shadow the methods
    stack.info = _succeeded  # type: ignore[method-assign]
    try:
        yield
    finally:
        del stack.outputs, stack.info


def _succeeded(*_: Any, **__: Any) -> auto.UpdateSummary:
    now = datetime.now(UTC)
    return auto.UpdateSummary(
        kind="update", start_time=now, message="", environment={}, config={}, result="succeeded"
    )


class ProjectStack:
    """A stack of this project (stacks/Pulumi.<name>.yaml), with the pinned engine."""

    def __init__(self, root: Path, name: str, engine: Engine | None = None) -> None:
        if not stack_config_file(root, name).exists():
            known = sorted(
                p.name[len("Pulumi.") : -len(".yaml")] for p in (root / "stacks").glob("Pulumi.*.yaml")
            )
            raise UsageError(
                f"unknown stack '{name}'",
                f"there is no stacks/Pulumi.{name}.yaml",
                f"use one of: {', '.join(known) or '(none)'}",
            )
        self.root = root
        self.name = name
        self.engine = engine or locate_engine()
        self.env = engine_env(root, self.engine)
        self._stack: auto.Stack | None = None
        self._started: tuple[dict[str, str], attach.Plugin] | None = None

    def workspace(self) -> auto.LocalWorkspace:
        return auto.LocalWorkspace(
            work_dir=str(self.root), pulumi_command=pulumi_command(self.engine), env_vars=self.env
        )

    def stack(self) -> auto.Stack:
        if self._stack is None:
            self._stack = auto.Stack.create_or_select(self.name, self.workspace())
        return self._stack

    @contextmanager
    def starting_run(self, extra_env: Mapping[str, str] | None = None) -> Iterator[None]:
        """Start the provider plugin of the next engine run now, so that it gets ready while
        the caller prepares that run (a dry-run parses and checks meanwhile: ~0.3 s).

        The next preview/up/refresh with the same `extra_env` uses it; any other starts its own.
        It is stopped when that run ends, or here if none took it."""
        env = {**self.env, **(extra_env or {})}
        if not attach.enabled(env):
            yield
            return
        started = attach.start(env, self.root, self._provider_log)
        self._started = (dict(extra_env or {}), started)
        try:
            yield
        finally:
            self._started = None
            started.stop()  # a no-op when its run has stopped it already

    @property
    def _provider_log(self) -> Path:
        return state_dir(self.root) / "logs" / f"provider-{self.name}.log"

    @contextmanager
    def _extra_env(self, extra: Mapping[str, str] | None) -> Iterator[None]:
        """Environment for one engine run (e.g. the lease fence the providers check), and the
        provider plugin started for it (attach.py: the engine's exec of it cannot carry a
        large stack's config)."""
        env = self.stack().workspace.env_vars
        saved = dict(env)
        extra = dict(extra or {})
        env.update(extra)
        ahead, self._started = self._started, None  # one run per plugin: its caches
        try:
            if attach.enabled(env):
                plugin = ahead[1] if ahead and ahead[0] == extra else None
                plugin = plugin or attach.start(env, self.root, self._provider_log)
                try:
                    env.update(plugin.attach_env())
                    yield
                finally:
                    plugin.stop()
            else:
                yield
        finally:
            env.clear()
            env.update(saved)

    @staticmethod
    def found_drift(events: list[auto.EngineEvent]) -> bool:
        """Whether the refresh of a preview's `events` (--refresh) found a server serving
        something other than the state says. The event stream passes on only the refresh steps
        that changed the state (event_stream.drifted), so any such event means drift."""
        return any(_refresh_step(event) for event in events)

    def preview(
        self,
        *,
        on_output: Callable[[str], None] | None = None,
        config_file: Path | None = None,
        policy_packs: list[str] | None = None,
        policy_pack_configs: list[str] | None = None,
        message: str | None = None,
        extra_env: Mapping[str, str] | None = None,
        refresh: bool = True,
    ) -> tuple[auto.PreviewResult, list[ResourceChange], list[auto.EngineEvent]]:
        events: list[auto.EngineEvent] = []
        try:
            with self._extra_env(extra_env):
                result = self.stack().preview(
                    on_output=on_output,
                    on_event=_collect(events),
                    diff=False,
                    # Compare with what the servers serve, not only with the last state:
                    # drift made behind the stack's back shows up and gets repaired.
                    # (False only right after a persisted refresh(), e.g. a switch's.)
                    refresh=refresh,
                    # Each resource the program declares is refreshed as it is registered,
                    # in parallel with the program and the steps of the others, not all of them
                    # first (1.8 s of a 1,000-hostname dry-run). What the program no longer
                    # declares is not read: its delete goes ahead either way (docs/engine.md).
                    run_program=True if refresh else None,
                    config_file=str(config_file) if config_file else None,
                    policy_packs=policy_packs,
                    policy_pack_configs=policy_pack_configs,
                    message=message,
                )
        except auto.errors.CommandError as exc:
            if policy_packs and _policy_refusal(events):
                raise PolicyViolations(self.name, events, changes_from_events(events)) from exc
            raise translate_failure(exc, self.name) from exc
        return result, changes_from_events(events), events

    def up(
        self,
        *,
        on_output: Callable[[str], None] | None = None,
        config_file: Path | None = None,
        policy_packs: list[str] | None = None,
        policy_pack_configs: list[str] | None = None,
        message: str | None = None,
        target: list[str] | None = None,
        exclude: list[str] | None = None,
        extra_env: Mapping[str, str] | None = None,
        refresh: bool = True,
        skip_checkpoints: bool = False,
        events: bool = True,
    ) -> tuple[auto.UpResult, list[ResourceChange]]:
        """One update. `skip_checkpoints`: state is written once, at the end, not around every
        resource step (docs/engine.md, "Checkpoints and refreshes": only for callers that can
        redo a killed update, such as a switch). `events=False`: no engine event stream (the
        changes come back empty) and no result read back (no outputs, a stand-in summary), for
        callers that planned already: at 3,000 resources the engine writes, and the Automation
        API parses, about 6,000 JSON events per update."""
        collected: list[auto.EngineEvent] = []
        env = {**(extra_env or {}), **({SKIP_CHECKPOINTS_ENV: "true"} if skip_checkpoints else {})}
        try:
            with self._extra_env(env), _result_not_read(self.stack(), read=events):
                result = self.stack().up(
                    on_output=on_output,
                    on_event=_collect(collected) if events or policy_packs else None,
                    parallel=self._update_parallel,
                    refresh=refresh,
                    config_file=str(config_file) if config_file else None,
                    policy_packs=policy_packs,
                    policy_pack_configs=policy_pack_configs,
                    message=message,
                    target=target,
                    exclude=exclude,
                    show_secrets=False,
                )
        except auto.errors.CommandError as exc:
            # The Automation API's up skips the preview: stack policies run after the writes.
            # Gate with a preview (policy_packs there); here a refusal is only reported.
            if policy_packs and _policy_refusal(collected):
                raise PolicyViolations(self.name, collected, changes_from_events(collected)) from exc
            raise translate_failure(exc, self.name) from exc
        return result, changes_from_events(collected)

    @cached_property
    def _update_parallel(self) -> int | None:
        """PLUGIN_PARALLEL when every zone is served by the project's plugin; else the default.

        Read once per stack object: zones do not change during a switch, and the stack file of
        a large topology takes a noticeable time to parse."""
        try:
            topology = stack_config(self.root, self.name).get(TOPOLOGY_KEY)
        except OrchestratorError:
            return None  # the program reports a bad stack file, with its own words
        zones = topology.get("zones") if isinstance(topology, Mapping) else None
        if not isinstance(zones, list) or not zones:
            return None
        if all(isinstance(z, Mapping) and z.get("provider") in LOCAL_PROVIDERS for z in zones):
            return PLUGIN_PARALLEL
        return None

    def refresh(
        self,
        *,
        extra_env: Mapping[str, str] | None = None,
        on_output: Callable[[str], None] | None = None,
    ) -> None:
        """Read every resource back from its server into state (persisted, one write at the end).

        Interrupted creates left by a killed update are dropped: the next update creates them
        again, and every create of this project is an idempotent replace.
        """
        env = {**(extra_env or {}), SKIP_CHECKPOINTS_ENV: "true"}  # a killed refresh loses nothing
        try:
            with self._extra_env(env):
                self.stack().refresh(on_output=on_output, clear_pending_creates=True)
        except auto.errors.CommandError as exc:
            raise translate_failure(exc, self.name) from exc

    def clear_pending(self, *, on_output: Callable[[str], None] | None = None) -> None:
        """After a crash mid-update: drop interrupted creates so the next up re-applies them."""
        try:
            with self._extra_env(None):
                self.stack().refresh(on_output=on_output, clear_pending_creates=True)
        except auto.errors.CommandError as exc:
            raise translate_failure(exc, self.name) from exc

    def destroy(self, *, on_output: Callable[[str], None] | None = None) -> None:
        try:
            with self._extra_env(None):
                self.stack().destroy(on_output=on_output)
        except auto.errors.CommandError as exc:
            raise translate_failure(exc, self.name) from exc

    def history(self, page_size: int = 20) -> list[auto.UpdateSummary]:
        return self.stack().history(page_size=page_size, page=1)
