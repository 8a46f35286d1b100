"""Commands of a team's tool: moving a stack between backends, pruning leftovers (docs/team.md)."""

from __future__ import annotations

import click

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
