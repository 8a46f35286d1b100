"""Commands of a team's tool: moving a stack between backends, pruning leftovers (docs/team.md)."""

from __future__ import annotations

import json
import sys

import click

from orchestrator.domain.errors import EXIT_USAGE
from orchestrator.interfaces.cli.util import handle_errors


def register(main: click.Group, stack_option) -> None:  # noqa: ANN001
    @main.group()
    def backend() -> None:
        """The state backend: file (default) or the team's self-hosted PostgreSQL (docs/team.md)."""

    @backend.command()
    @stack_option
    @click.option("--to", "target", required=True, help="`file`, or a postgres:// URL (no password in it).")
    @click.option("--from", "source", default=None, help="[default: PULUMI_BACKEND_URL, else `file`]")
    @click.option("--replace", is_flag=True, help="Overwrite the target's copy (moving a stack back).")
    @click.option("--json", "as_json", is_flag=True)
    @handle_errors
    def move(stack: str, target: str, source: str | None, replace: bool, as_json: bool) -> None:
        """Copy a stack's deployment, update history and switch journal to another backend.

        Uses `pulumi stack export` / `pulumi stack import`, then copies the history objects and
        journal records; the source keeps its copy. Point PULUMI_BACKEND_URL at the target after.
        """
        from orchestrator.adapters.files.paths import project_root
        from orchestrator.adapters.state.migrate import move_stack, report_json

        report = move_stack(project_root(), stack, target, source, replace=replace)
        if as_json:
            click.echo(report_json(report))
            return
        click.echo(
            f"stack '{stack}' copied from {report.source} to {report.target}: "
            f"{report.history_copied} update(s) of history copied ({report.history_total} in the target), "
            f"{report.journal_copied} journal record(s)."
        )
        click.echo("Now point PULUMI_BACKEND_URL at the target (docs/team.md); the source keeps its copy.")

    @main.command("prune")
    @stack_option
    @click.option("--dry-run", is_flag=True, help="Only list what would be removed (the preview).")
    @click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
    @click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON.")
    @handle_errors
    def prune_cmd(stack: str, dry_run: bool, yes: bool, as_json: bool) -> None:
        """Remove stale registry entries and orphaned record sets of the stack's zones, under the lease."""
        from orchestrator.adapters.dns.registry import client_for
        from orchestrator.adapters.files.audit import audit_for
        from orchestrator.adapters.files.journal import journal_for
        from orchestrator.adapters.files.paths import project_root
        from orchestrator.adapters.lease import lease_from_config
        from orchestrator.interfaces.switch_wiring import lease_config
        from orchestrator.services.deploy import load
        from orchestrator.services.prune import plan_prune, prune

        root = project_root()
        topology, active = load(root, stack)
        plan = plan_prune(topology, active, stack)
        if as_json:
            click.echo(json.dumps(plan.to_dict(), indent=2, sort_keys=True))
        else:
            _print_plan(plan)
        if dry_run or not plan.leftovers:
            return
        if not yes and not click.confirm(f"Remove these {len(plan.leftovers)} record set(s)?", default=False):
            click.echo("Aborted: nothing changed.", err=True)
            sys.exit(EXIT_USAGE)
        unfinished = journal_for(root).unfinished(stack)
        done = prune(
            root,
            stack,
            lease=lease_from_config(lease_config(root, stack)),
            audit=audit_for(root),
            client_for=client_for,
            unfinished_switch=unfinished.id if unfinished else None,
            echo=lambda m: click.echo(m, err=as_json),
        )
        click.echo(f"pruned {len(done.leftovers)} record set(s) of stack '{stack}'.", err=as_json)


def _print_plan(plan) -> None:  # noqa: ANN001
    if not plan.leftovers:
        click.echo(f"stack '{plan.stack}': nothing to prune.")
    for lo in plan.leftovers:
        values = f" = {', '.join(lo.values)}" if lo.values else ""
        click.echo(f"would remove {lo.key}{values} ({lo.why})")
    for key in plan.left_to_up:
        click.echo(f"left to `orchestrator up` (the stack wants it with other values): {key}")
