"""The dry-run report in three formats: a terminal table, JSON, and Markdown (for PRs)."""

from __future__ import annotations

import json

from orchestrator.domain.databases import PrimaryMove
from orchestrator.domain.switch.plan import EndpointChange, SwitchPlan


def _values(values: tuple[str, ...]) -> str:
    return ", ".join(values) if values else "-"


def _title(plan: SwitchPlan) -> str:
    arrow = f"{', '.join(plan.from_groups) or '(none)'} -> {', '.join(plan.to_groups) or '(none)'}"
    mode = " [FAILOVER: the active group is not asked to step back]" if plan.mode == "failover" else ""
    return f"{plan.kind} on stack '{plan.stack}': {arrow}{mode}"


def _endpoint_rows(changes: tuple[EndpointChange, ...]) -> list[EndpointChange]:
    # Hostnames first (what clients see), then the TXT bookkeeping.
    return sorted(changes, key=lambda c: (c.is_txt, c.zone, c.name, c.type))


def render_table(plan: SwitchPlan) -> str:
    lines = [_title(plan), ""]
    if plan.noop:
        lines.append(f"Nothing to do: {', '.join(plan.to_groups)} already active and served.")
        lines.append(f"Plan fingerprint: {plan.fingerprint}")
        return "\n".join(lines)
    lines.append("Steps (expected duration):")
    for step in plan.steps:
        if step.skipped:
            lines.append(f"  - {step.name:<17} skipped: {step.skipped}")
        else:
            lines.append(f"  - {step.name:<17} ~{step.expected_seconds:.1f}s")
    lines.append(f"  total ~{plan.expected_seconds:.1f}s")
    lines.append("")
    rows = _endpoint_rows(plan.changes)
    lines.append(f"Affected endpoints ({len(rows)}):")
    if rows:
        width = max(len(r.name) for r in rows)
        lines.append(f"  {'ACTION':<7} {'NAME':<{width}} {'TYPE':<5} {'CURRENT':<34} NEW")
        for r in rows:
            lines.append(
                f"  {r.action:<7} {r.name:<{width}} {r.type:<5} {_values(r.current):<34} {_values(r.new)}"
            )
    else:
        lines.append("  (none)")
    lines.append("")
    if plan.databases:
        lines.append(f"Database primaries ({len(plan.databases)}):")
        lines += [f"  {_move(plan, m)}" for m in plan.databases]
        lines.append("")
    if plan.blockers:
        lines.append(f"BLOCKERS ({len(plan.blockers)}) - the switch is refused:")
        lines += [f"  x {b}" for b in plan.blockers]
    else:
        lines.append("Blockers: none")
    if plan.warnings:
        lines.append(f"Warnings ({len(plan.warnings)}):")
        lines += [f"  ! {w}" for w in plan.warnings]
    lines.append("")
    lines.append(f"Plan fingerprint: {plan.fingerprint}")
    return "\n".join(lines)


def _move(plan: SwitchPlan, m: PrimaryMove) -> str:
    how = (
        "failover: fence the old primary, promote without a token"
        if plan.mode == "failover"
        else "demote with a token, promote once replayed past it"
    )
    return f"{m.pair}: {m.from_group or '(none)'} -> {m.to_group or '(none)'} ({how})"


def render_json(plan: SwitchPlan) -> str:
    return json.dumps(plan.to_dict(), indent=2, sort_keys=True)


def render_markdown(plan: SwitchPlan) -> str:
    lines = [f"### {_title(plan)}", ""]
    if plan.noop:
        lines += [f"Nothing to do: `{', '.join(plan.to_groups)}` already active.", ""]
    else:
        lines += ["| step | expected |", "|---|---|"]
        for s in plan.steps:
            lines.append(
                f"| `{s.name}` | {'skipped: ' + s.skipped if s.skipped else f'~{s.expected_seconds:.1f}s'} |"
            )
        lines += ["", "| action | name | type | current | new |", "|---|---|---|---|---|"]
        for r in _endpoint_rows(plan.changes):
            cur = "<br>".join(f"`{v}`" for v in r.current) or "-"
            new = "<br>".join(f"`{v}`" for v in r.new) or "-"
            lines.append(f"| {r.action} | `{r.name}` | {r.type} | {cur} | {new} |")
        lines.append("")
        if plan.databases:
            lines += ["**Database primaries:**", *[f"- {_move(plan, m)}" for m in plan.databases], ""]
    lines.append("**Blockers:** " + ("none" if not plan.blockers else ""))
    lines += [f"- :x: {b}" for b in plan.blockers]
    if plan.warnings:
        lines.append("**Warnings:**")
        lines += [f"- :warning: {w}" for w in plan.warnings]
    lines += ["", f"Plan fingerprint: `{plan.fingerprint}`"]
    return "\n".join(lines)


RENDERERS = {"table": render_table, "json": render_json, "markdown": render_markdown}
