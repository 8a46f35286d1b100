"""`preview` and `up` of a stack: validate, check the servers, then ask Pulumi.

Order matters for "bad input changes nothing": the topology is validated and every
server is checked (reachable, credentials accepted, zone present) before the engine
is started, so a wrong key or a down server fails before any lock or write.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from orchestrator.domain.config_keys import ACTIVE_KEY, TOPOLOGY_KEY
from orchestrator.domain.topology import Topology, load_topology, parse_active_groups
from orchestrator.services.parts import Parts, installed
from orchestrator.services.policies.run import policy_run

Echo = Callable[[str], None]

OP_ACTIONS = {"create": "CREATE", "update": "MODIFY", "replace": "MODIFY", "delete": "DELETE"}


def load(root: Path, stack: str, parts: Parts | None = None) -> tuple[Topology, tuple[str, ...]]:
    config = (parts or installed()).stack_config(root, stack)
    topology = load_topology(config[TOPOLOGY_KEY], active=config.get(ACTIVE_KEY))
    return topology, parse_active_groups(config.get(ACTIVE_KEY))


def check_servers(topology: Topology, parts: Parts | None = None) -> None:
    """Each local zone's server: reachable, our credentials accepted, the zone served."""
    (parts or installed()).check_zones(topology)


def change_rows(changes: list[Any]) -> list[dict[str, Any]]:
    """The engine's resource changes (`op`, `name`, `old`, `new` props) as rows an operator reads."""
    rows = []
    for ch in changes:
        action = OP_ACTIONS.get(ch.op)
        if action is None:
            continue
        props = ch.new or ch.old or {}
        if "zone" not in props:
            continue  # not a record set (a database primary: the plan lists those apart)
        rows.append(
            {
                "action": action,
                "resource": ch.name,
                "zone": props.get("zone"),
                "name": props.get("name"),
                "type": props.get("type"),
                "old_values": list((ch.old or {}).get("values") or []) if action != "CREATE" else [],
                "new_values": list((ch.new or {}).get("values") or []) if action != "DELETE" else [],
            }
        )
    return sorted(rows, key=lambda r: (str(r["zone"]), str(r["name"]), str(r["type"])))


def preview(
    stack: str, stream: Echo | None, overrides: Mapping[str, str] | None = None, parts: Parts | None = None
) -> dict[str, Any]:
    """A real preview with the policy pack (policy/): the gate of `orchestrator up` too.

    A mandatory violation raises PolicyViolations (exit 7) before anything is written;
    advisory ones are in the report's `policy.warnings`. `up` itself does not run the pack:
    the Automation API's up skips the preview, so a stack policy would only run after the
    writes. `orchestrator up` always previews first, and stops there when refused.
    """
    parts = parts or installed()
    root = parts.project_root()
    topology, active = load(root, stack, parts)
    check_servers(topology, parts)
    project = parts.stack_engine(root, stack)
    with policy_run(root, project, topology, active, overrides, parts=parts) as policy:
        result, changes, events = project.preview(
            on_output=stream, policy_packs=policy.packs, policy_pack_configs=policy.configs
        )
        verdict = policy.verdict(events)
    return {
        "stack": stack,
        "active_groups": list(active),
        "changes": change_rows(changes),
        "summary": dict(result.change_summary or {}),
        "policy": {"blockers": list(verdict.blockers), "warnings": list(verdict.warnings)},
    }


def up(
    stack: str, stream: Echo | None, message: str | None = None, parts: Parts | None = None
) -> dict[str, Any]:
    parts = parts or installed()
    root = parts.project_root()
    topology, active = load(root, stack, parts)
    check_servers(topology, parts)
    result, changes = parts.stack_engine(root, stack).up(on_output=stream, message=message)
    summary = result.summary.resource_changes or {}
    text = ", ".join(f"{n} {op}" for op, n in sorted(summary.items())) or "no changes"
    return {"stack": stack, "changes": change_rows(changes), "summary": f"Deployed stack '{stack}': {text}."}


def print_changes(report: dict[str, Any], echo: Echo) -> None:
    rows = report["changes"]
    echo(f"Stack '{report['stack']}', active groups: {', '.join(report['active_groups'])}")
    for warning in (report.get("policy") or {}).get("warnings", []):
        echo(f"Policy warning: {warning}")
    if not rows:
        echo("No changes.")
        return
    width = max(len(f"{r['name']}") for r in rows)
    echo(f"{'ACTION':<7} {'NAME':<{width}} {'TYPE':<5} {'CURRENT':<32} NEW")
    for r in rows:
        old = ",".join(r["old_values"]) or "-"
        new = ",".join(r["new_values"]) or "-"
        echo(f"{r['action']:<7} {r['name']:<{width}} {r['type']:<5} {old:<32} {new}")
