"""The dry-run: the same steps as a switch, read-only, from a real Pulumi preview.

Nothing is written: the planned active set goes to a temporary copy of the stack file
(`pulumi preview --config-file`), no lease is taken, no audit event or journal entry is
written, and Pulumi's preview does not write state.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

from orchestrator.domain.databases import primary_moves
from orchestrator.domain.switch.plan import EndpointChange, SwitchPlan, build_plan
from orchestrator.domain.topology import Topology, check_active_groups
from orchestrator.ports.stack import PolicyViolations
from orchestrator.ports.switch import Change
from orchestrator.services.deploy import change_rows, check_servers, load
from orchestrator.services.parts import Parts, installed
from orchestrator.services.policies import Verdict, policy_run
from orchestrator.services.policies.baseline import baseline_from_state


@dataclass
class DryRun:
    plan: SwitchPlan
    resource_changes: list[Change]  # the engine's view (URNs), for targeting the flip
    topology: Topology
    policy: Verdict = field(default_factory=Verdict)  # the policy pack's verdict on this preview
    # The preview refreshed and found every server serving what the state says (no drift):
    # an update right after it, under the same lease, need not read the servers again.
    state_current: bool = False


def endpoint_changes(changes: list[Change]) -> list[EndpointChange]:
    return [
        EndpointChange(
            action=row["action"],
            zone=row["zone"],
            name=row["name"],
            type=row["type"],
            current=tuple(row["old_values"]),
            new=tuple(row["new_values"]),
        )
        for row in change_rows(changes)
    ]


def _checked(
    root: Path,
    stack: str,
    to_groups: tuple[str, ...] | None,
    change: Callable[[tuple[str, ...]], tuple[str, ...]] | None = None,
) -> tuple[Topology, tuple[str, ...], tuple[str, ...]]:
    """The topology, the current active set and the requested one, checked (UsageError)."""
    topology, current = load(root, stack)
    target = tuple(sorted(set(to_groups if to_groups is not None else change(current))))  # type: ignore[misc]
    if target:
        check_active_groups(topology, list(target))
    check_servers(topology)
    return topology, current, target


def check_request(
    root: Path, stack: str, to_groups: tuple[str, ...]
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(current, requested) active sets, sorted, once the request is known to be valid."""
    _, current, target = _checked(root, stack, to_groups)
    return tuple(sorted(current)), target


def dry_run(
    root: Path,
    stack: str,
    *,
    kind: str,
    to_groups: tuple[str, ...] | None = None,
    mode: str = "planned",
    change: Callable[[tuple[str, ...]], tuple[str, ...]] | None = None,
    extra_env: dict[str, str] | None = None,
    on_output: Callable[[str], None] | None = None,
    overrides: Mapping[str, str] | None = None,
    refresh: bool = True,
    parts: Parts | None = None,
) -> DryRun:
    """Plan a change of the active set: `to_groups`, or `change(current)` for add/remove.

    The preview runs the policy pack (policy/): its mandatory violations are blockers of
    the plan, advisory ones warnings. `overrides` ({policy: reason}) lowers exactly those
    policies to advisory for this run (docs/policies.md).
    """
    parts = parts or installed()
    project = parts.stack_engine(root, stack)
    # The state before the update (`pulumi stack export`, about 0.5 s at 1,000 hostnames) is
    # read, and the preview's provider plugin starts, while the stack file is parsed and
    # checked: all are on the way to the preview. (Bad input still fails first, with its own
    # error: the export's outcome is read after.)
    with ExitStack() as scope:
        scope.enter_context(project.starting_run(extra_env))
        pool = scope.enter_context(ThreadPoolExecutor(max_workers=1, thread_name_prefix="baseline"))
        reading = pool.submit(baseline_from_state, project, parts.stack_state)
        topology, current, target = _checked(root, stack, to_groups, change)
        planned = target or current
        cfg = scope.enter_context(parts.planned_config(root, stack, planned))
        policy = scope.enter_context(
            policy_run(root, project, topology, planned, overrides, mode, baseline=reading.result())
        )
        try:
            _, changes, events = project.preview(
                config_file=cfg,
                extra_env=extra_env,
                on_output=on_output,
                policy_packs=policy.packs,
                policy_pack_configs=policy.configs,
                refresh=refresh,
            )
        except PolicyViolations as refused:  # the report shows the changes and what refused them
            changes, events = refused.changes, refused.events
        verdict = policy.verdict(events)
        state_current = refresh and not project.found_drift(events)
    warnings = []
    if mode == "failover":
        warnings.append(
            "failover mode: the old group is not asked to step back; it may still serve until fixed"
        )
    moves = primary_moves(topology.databases, current, target) if target else ()
    db_blockers = [
        f"database pair {m.pair} has no cluster in the active groups {', '.join(target)}: "
        "its writes would have nowhere to go"
        for m in moves
        if m.to_group is None
    ]
    if mode == "failover":
        warnings += [
            f"database pair {m.pair}: {m.to_group} is promoted without a demotion token; writes "
            f"{m.from_group} had not shipped are lost, and {m.from_group} is fenced until rebuilt"
            for m in moves
            if m.to_group
        ]
    new_groups = tuple(g for g in target if g not in current)
    # Health was measured once, just before the preview, for the policy pack: reuse it.
    warnings += [c.problem() for c in policy.measurement.checks if not c.ok and c.group in new_groups]
    warnings += policy.health_problems(g for g in new_groups if g not in policy.measurement.groups)
    warnings += verdict.warnings
    plan = build_plan(
        stack=stack,
        kind=kind,
        mode=mode,
        from_groups=current,
        to_groups=target,
        changes=endpoint_changes(changes) if target else [],
        warnings=warnings,
        extra_blockers=db_blockers + list(verdict.blockers),
        has_databases=bool(topology.databases),
        databases=moves,
        overrides=overrides,
    )
    return DryRun(
        plan=plan, resource_changes=changes, topology=topology, policy=verdict, state_current=state_current
    )
