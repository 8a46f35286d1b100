"""The `orchestrator` command line."""

from __future__ import annotations

import json
import logging
import os
import shlex
import sys
import warnings
from pathlib import Path
from typing import Any

import click

from orchestrator.adapters.files.paths import project_root
from orchestrator.adapters.pulumi.environment import DEFAULT_LOCAL_PASSPHRASE, engine_env
from orchestrator.domain.errors import EXIT_DRIFT, EXIT_USAGE
from orchestrator.interfaces.cli.dev import dev
from orchestrator.interfaces.cli.switch import register
from orchestrator.interfaces.cli.util import handle_errors
from orchestrator.interfaces.cli.watch import register as register_watch
from orchestrator.interfaces.http.server import load_token, run
from orchestrator.interfaces.wiring import install_real_parts
from orchestrator.services import deploy
from orchestrator.services.deploy import load
from orchestrator.services.health import FALSE, Deps, check_now
from orchestrator.services.metrics import publisher
from orchestrator.services.parts import installed
from orchestrator.services.status import print_status, status_for_stack

DEFAULT_STACK = "local"


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:  # noqa: ANN001
    click.echo(f"warning: {message}", err=True)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="orchestrator")
@click.option(
    "--metrics-textfile",
    type=click.Path(dir_okay=False),
    envvar="ORCHESTRATOR_METRICS_TEXTFILE",
    help="Write this run's metrics to FILE for node-exporter's textfile collector (docs/metrics.md).",
)
def main(metrics_textfile: str | None) -> None:
    """Move traffic and database primaries between groups of clusters, safely."""
    warnings.showwarning = _show_warning
    install_real_parts()  # every command's services get the real adapters (orchestrator/interfaces/wiring.py)
    if metrics_textfile:
        os.environ["ORCHESTRATOR_METRICS_TEXTFILE"] = metrics_textfile  # read by every command's publisher


stack_option = click.option(
    "--stack", "-s", default=DEFAULT_STACK, show_default=True, help="Stack (stacks/Pulumi.<stack>.yaml)."
)


@main.command()
@stack_option
@click.option("--json", "as_json", is_flag=True, help="Print the planned changes as JSON.")
@handle_errors
def preview(stack: str, as_json: bool) -> None:
    """Show what `up` would change (a real Pulumi preview; nothing is written)."""
    report = deploy.preview(stack, stream=None if as_json else click.echo)
    if as_json:
        click.echo(json.dumps(report, indent=2, sort_keys=True))
    else:
        deploy.print_changes(report, click.echo)


@main.command()
@stack_option
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@handle_errors
def up(stack: str, yes: bool) -> None:
    """Deploy the stack: make the DNS servers serve what stacks/ describes."""
    report = deploy.preview(stack, stream=None)
    deploy.print_changes(report, click.echo)
    if not report["changes"]:
        click.echo("Nothing to change: the servers already serve the stack's desired state.")
        return
    if not yes and not click.confirm("Apply these changes?", default=False):
        click.echo("Aborted: nothing changed.", err=True)
        sys.exit(EXIT_USAGE)
    result = deploy.up(stack, stream=click.echo)
    click.echo(result["summary"])


@main.command()
@stack_option
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--check", is_flag=True, help="Exit 6 when the live zones drift from the stack.")
@handle_errors
def status(stack: str, as_json: bool, check: bool) -> None:
    """What the DNS servers serve now, who owns it (registry), and drift from the stack."""
    parts = installed()
    root = parts.project_root()
    report = status_for_stack(root, stack, left_at=_departures(root, stack), parts=parts)
    report["watch"] = _watch_state(root, stack)
    if as_json:
        click.echo(json.dumps(report, indent=2, sort_keys=True))
    else:
        print_status(report, click.echo)
        _print_condition(report.get("last_switchover_healthy"))
        _print_watch(report["watch"])
    publisher(root, stack).publish(live=True)
    if check and not report["in_sync"]:
        sys.exit(EXIT_DRIFT)


def _watch_state(root: Path, stack: str) -> dict[str, Any] | None:
    """The anti-flap block and the last automatic switch, when the stack has publish rules."""
    from orchestrator.adapters.pulumi.stackconfig import stack_config
    from orchestrator.domain.errors import OrchestratorError
    from orchestrator.domain.publish import WATCH_KEY
    from orchestrator.interfaces.cli.watch import board_for

    if WATCH_KEY not in stack_config(root, stack):
        return None
    try:
        board = board_for(root, stack)
        block, last = board.block(), board.last_auto()
    except OrchestratorError as exc:
        return {"error": exc.what}
    return {
        "blocked": block.to_dict() if block else None,
        "last_automatic_switch": last.to_dict() if last else None,
    }


def _print_watch(state: dict[str, Any] | None) -> None:
    if not state:
        return
    if "error" in state:
        click.echo(f"\nwatch: the board cannot be read ({state['error']})")
        return
    block, last = state["blocked"], state["last_automatic_switch"]
    if last:
        click.echo(
            f"\nwatch: last automatic {last['kind']} {last['id']}: "
            f"{', '.join(last['from'])} -> {', '.join(last['to'])}"
        )
    if block:
        click.echo(
            f"watch: automatic switches BLOCKED since {block['id']} "
            "(lift: orchestrator watch ack --reason TEXT)"
        )


def _departures(root: Path, stack: str) -> dict[str, float]:
    """When each deactivated group's records left the zones, from the switch journal."""
    from datetime import datetime

    from orchestrator.adapters.files.journal import Journal

    return {
        g: datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp()
        for g, ts in Journal.for_root(root).departures(stack).items()
    }


def _print_condition(condition: dict[str, Any] | None) -> None:
    """The HealthReport line of `status`: LastSwitchoverHealthy and its one-line summary."""
    if not condition:
        return
    when = f" (checked {condition['checkedAt']})" if condition.get("checkedAt") else ""
    click.echo(f"\n{condition['type']}={condition['status']}{when}: {condition['message']}")


@main.command()
@stack_option
@click.option("--json", "as_json", is_flag=True, help="Print the HealthReport as JSON.")
@click.option("--last", is_flag=True, help="Show the last kept report instead of checking now.")
@handle_errors
def health(stack: str, as_json: bool, last: bool) -> None:
    """Post-switchover health: replicas, DNS at each vantage, latency, audit (exit 1 when False)."""
    parts = installed()
    root = parts.project_root()
    if last:
        report = parts.health_store.load_report(root, stack)
        if report is None:
            click.echo(f"No health report for stack '{stack}' yet: run `orchestrator health`.")
            return
    else:
        report = check_now(root, stack, Deps(parts=parts))
        publisher(root, stack).publish(live=True)
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2, sort_keys=True))
    else:
        switch = f", switch {report.switch_id}" if report.switch_id else ""
        click.echo(f"Health of stack '{report.stack}' (active {', '.join(report.to_groups)}{switch}):")
        for c in report.checks:
            click.echo(f"  {c.name:<17} {c.status:<8} {c.summary}")
        click.echo(report.condition.line())
    if report.condition.status == FALSE:
        sys.exit(1)


@main.command()
@stack_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (loopback).")
@click.option(
    "--port",
    default=8082,
    show_default=True,
    type=click.IntRange(0, 65535),
    envvar="ORCHESTRATOR_SERVE_PORT",
    help="Port to listen on ($ORCHESTRATOR_SERVE_PORT; 0 picks a free one).",
)
@click.option(
    "--token-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="File whose first line is the API token (else $ORCHESTRATOR_API_TOKEN[_FILE]).",
)
@click.option(
    "--switch-grace",
    default=120.0,
    show_default=True,
    type=click.FloatRange(0, 3600),
    metavar="SECONDS",
    help="On stop, wait this long for a switch started from the console before stopping it "
    "(it is crash-safe: `switch --resume` finishes it).",
)
@handle_errors
def serve(stack: str, host: str, port: int, token_file: Path | None, switch_grace: float) -> None:
    """HTTP API and web console (/console/): dry-run, confirmed switches, progress, health, status."""
    parts = installed()
    root = parts.project_root()
    token = load_token(token_file)
    load(root, stack, parts)  # a bad stack fails here, before listening
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    run(
        root,
        stack,
        host=host,
        port=port,
        token=token,
        echo=lambda m: click.echo(m, err=True),
        grace=switch_grace,
    )


@main.group()
def engine() -> None:
    """The pinned Pulumi engine (run `pulumi` by hand with the same settings)."""


@engine.command("env")
@handle_errors
def engine_env_cmd() -> None:
    """Print shell exports for running `pulumi` by hand: eval "$(orchestrator engine env)"."""
    env = engine_env(project_root(), warn=False)
    for key, value in sorted(env.items()):
        # A user's own passphrase stays out of the output; only the documented default is shown.
        if key == "PULUMI_CONFIG_PASSPHRASE" and value != DEFAULT_LOCAL_PASSPHRASE:
            continue
        click.echo(f"export {key}={_shell_quote(value)}")
    if "PULUMI_CONFIG_PASSPHRASE" in env and not os.environ.get("PULUMI_CONFIG_PASSPHRASE"):
        click.echo("# using the documented local default passphrase (docs/engine.md)", err=True)


def _shell_quote(value: str) -> str:
    return shlex.quote(value)


def _mount_dev() -> None:
    main.add_command(dev)
    register(main, stack_option)
    register_watch(main, stack_option)


_mount_dev()

if __name__ == "__main__":
    main()
