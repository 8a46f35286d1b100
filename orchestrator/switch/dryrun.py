"""The dry-run: the same steps as a switch, read-only, from a real Pulumi preview.

Nothing is written: the planned active set goes to a temporary copy of the stack file
(`pulumi preview --config-file`), no lease is taken, no audit event or journal entry is
written, and Pulumi's preview does not write state.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import requests

from orchestrator.deploy import change_rows, check_servers, load
from orchestrator.engine.stack import ProjectStack, ResourceChange
from orchestrator.paths import stack_config_file
from orchestrator.switch.configfile import planned_config
from orchestrator.switch.plan import EndpointChange, SwitchPlan, build_plan
from orchestrator.topology import Topology, check_active_groups

HEALTH_TIMEOUT = 2.0


@dataclass
class DryRun:
    plan: SwitchPlan
    resource_changes: list[ResourceChange]  # the engine's view (URNs), for targeting the flip
    topology: Topology


def unhealthy_endpoints(topology: Topology, groups: tuple[str, ...]) -> list[str]:
    """Health of the groups being activated, measured now (advice until the policy pack decides)."""
    problems = []
    for group in topology.groups:
        if group.name not in groups:
            continue
        for ep in group.endpoints:
            for target, url in ep.health_urls():
                try:
                    code = requests.get(url, timeout=HEALTH_TIMEOUT).status_code
                except requests.RequestException as exc:
                    problems.append(
                        f"{group.name} endpoint {ep.hostname} target {target}: {url} unreachable ({exc})"
                    )
                    continue
                if code >= 300:
                    problems.append(
                        f"{group.name} endpoint {ep.hostname} target {target}: {url} answered {code}"
                    )
    return problems


def endpoint_changes(changes: list[ResourceChange]) -> list[EndpointChange]:
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
) -> DryRun:
    """Plan a change of the active set: `to_groups`, or `change(current)` for add/remove."""
    topology, current = load(root, stack)
    target = tuple(sorted(set(to_groups if to_groups is not None else change(current))))  # type: ignore[misc]
    if target:
        check_active_groups(topology, list(target))
    check_servers(topology)
    with planned_config(stack_config_file(root, stack), target or current) as cfg:
        _, changes, _events = ProjectStack(root, stack).preview(
            config_file=cfg, extra_env=extra_env, on_output=on_output
        )
    warnings = []
    if mode == "failover":
        warnings.append(
            "failover mode: the old group is not asked to step back; it may still serve until fixed"
        )
    new_groups = tuple(g for g in target if g not in current)
    warnings += unhealthy_endpoints(topology, new_groups)
    plan = build_plan(
        stack=stack,
        kind=kind,
        mode=mode,
        from_groups=current,
        to_groups=target,
        changes=endpoint_changes(changes) if target else [],
        warnings=warnings,
        has_databases=bool(topology.databases),
    )
    return DryRun(plan=plan, resource_changes=changes, topology=topology)
