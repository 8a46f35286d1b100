"""`orchestrator dev ...`: start, stop and inspect the local environment."""

from __future__ import annotations

import dataclasses
import json
import shlex
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from orchestrator.devenv.env import DevEnv, default_state_dir
from orchestrator.devenv.spec import DevSpec, spec_for_demo, spec_from_topology
from orchestrator.domain.errors import UsageError
from orchestrator.interfaces.cli.util import handle_errors


def _env(ctx: click.Context) -> DevEnv:
    state_dir = ctx.obj.get("state_dir") if ctx.obj else None
    return DevEnv(
        Path(state_dir) if state_dir else default_state_dir(), echo=lambda m: click.echo(m, err=True)
    )


def _stack_spec(stack: str) -> DevSpec:
    from orchestrator.adapters.files.paths import project_root
    from orchestrator.adapters.pulumi.stackconfig import TOPOLOGY_KEY, stack_config

    return spec_from_topology(stack_config(project_root(), stack)[TOPOLOGY_KEY])


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--state-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="State directory [default: $ORCHESTRATOR_DEV_DIR, else <project root>/.dev].",
)
@click.pass_context
def dev(ctx: click.Context, state_dir: Path | None) -> None:
    """The local environment: PowerDNS, BIND 9, Unbound and workloads on loopback ports."""
    ctx.ensure_object(dict)
    ctx.obj["state_dir"] = state_dir


@dev.command()
@click.option(
    "--stack", "-s", default="local", show_default=True, help="Serve the zones and workloads of this stack."
)
@click.option("--demo", is_flag=True, help="Serve the built-in demo topology instead of reading a stack.")
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON when done.")
@click.option("--state-db", is_flag=True, help="Also start the team's state database (docs/team.md).")
@click.pass_context
@handle_errors
def up(ctx: click.Context, stack: str, demo: bool, as_json: bool, state_db: bool) -> None:
    """Start the servers (a no-op when they already run; restarts a half-running environment)."""
    spec = dataclasses.replace(spec_for_demo() if demo else _stack_spec(stack), state_db=state_db)
    env = _env(ctx)
    status = env.up(spec)
    if as_json:
        click.echo(json.dumps(status, indent=2, sort_keys=True))
    else:
        print_status(status, click.echo)


@dev.command()
@click.option(
    "--purge", is_flag=True, help="Also delete the state directory (data, logs, generated secrets)."
)
@click.pass_context
@handle_errors
def down(ctx: click.Context, purge: bool) -> None:
    """Stop every server of the local environment."""
    env = _env(ctx)
    was_running = any(s.get("running") for s in env.status()["servers"])
    env.down(purge=purge)
    state = "stopped" if was_running else "nothing was running"
    click.echo(f"local environment in {env.state_dir}: {state}" + ("; state deleted" if purge else ""))


@dev.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON (ports, pids, URLs; never a secret).")
@click.pass_context
@handle_errors
def status(ctx: click.Context, as_json: bool) -> None:
    """Show what runs where."""
    result = _env(ctx).status()
    if as_json:
        click.echo(json.dumps(result, indent=2, sort_keys=True))
    else:
        print_status(result, click.echo)


@dev.command("backend-url")
@click.option("--export", "as_export", is_flag=True, help="Print `export` lines for the shell (eval them).")
@click.pass_context
@handle_errors
def backend_url(ctx: click.Context, as_export: bool) -> None:
    """The state database's PULUMI_BACKEND_URL (no password: PGPASSFILE names the file holding it)."""
    url, pgpass = _env(ctx).state_backend()
    if as_export:
        click.echo(f"export PULUMI_BACKEND_URL={shlex.quote(url)}")
        click.echo(f"export PGPASSFILE={shlex.quote(str(pgpass))}")
    else:
        click.echo(url)


@dev.command("workload-health")
@click.argument("address")
@click.option("--ok/--failing", "healthy", required=True, help="Answer the health path 200 (--ok) or 503.")
@click.pass_context
@handle_errors
def workload_health(ctx: click.Context, address: str, healthy: bool) -> None:
    """Make the workload on ADDRESS report healthy or failing."""
    names = _env(ctx).set_workload_health(address, healthy)
    click.echo(f"{', '.join(names)} on {address}: {'ok (200)' if healthy else 'failing (503)'}")


@dev.command("stop-server")
@click.argument("role", type=click.Choice(["lease"]))
@click.argument("index", type=int)
@click.pass_context
@handle_errors
def stop_server(ctx: click.Context, role: str, index: int) -> None:
    """Stop one lease server (e.g. `lease 1`) to see the lease's quorum work with one server down."""
    server = _env(ctx).stop_server(role, index)
    click.echo(f"{server['name']} on {server['address']}:{server['port']}: stopped")


@dev.command("start-server")
@click.argument("role", type=click.Choice(["lease"]))
@click.argument("index", type=int)
@click.pass_context
@handle_errors
def start_server(ctx: click.Context, role: str, index: int) -> None:
    """Start a stopped lease server again (it keeps its zone data and, when free, its port)."""
    server = _env(ctx).start_server(role, index)
    click.echo(f"{server['name']} on {server['address']}:{server['port']}: running")


@dev.command("stop-postgres")
@click.argument("group")
@click.pass_context
@handle_errors
def stop_postgres(ctx: click.Context, group: str) -> None:
    """Stop a group's PostgreSQL instance (fast shutdown), e.g. to rehearse a failover."""
    env = _env(ctx)
    env.postgres_endpoint(group)  # names what exists when the group has no instance
    env.stop_postgres(group)
    click.echo(f"postgres {group}: stopped")


@dev.command("rebuild-standby")
@click.argument("group")
@click.option("--upstream", help="Stream from this group's instance [default: the pair's primary].")
@click.pass_context
@handle_errors
def rebuild_standby(ctx: click.Context, group: str, upstream: str | None) -> None:
    """Make GROUP's PostgreSQL instance a streaming standby again (after a failover fenced it).

    pg_rewind onto the primary where the old timeline diverged, a fresh base backup where it
    cannot; the fence is lifted only when the instance streams from the primary again.
    """
    from orchestrator.devenv import postgres

    env = _env(ctx)
    env.postgres_endpoint(group)
    if upstream is None:
        primaries = [
            s["group"]
            for s in env.status()["servers"]
            if s["role"] == "postgres" and s["group"] != group and s["database_role"] == "primary"
        ]
        if len(primaries) != 1:
            raise UsageError(
                f"cannot tell which instance {group} should stream from",
                f"primaries of the local pair besides {group}: {', '.join(primaries) or 'none'}",
                "pass --upstream GROUP",
            )
        upstream = primaries[0]
    if upstream == group:
        raise UsageError(
            f"{group} cannot stream from itself", "--upstream names the primary", "pass another group"
        )
    how = env.rebuild_standby(group, upstream)
    click.echo(
        f"postgres {group}: rebuilt by {how}, a {postgres.role_of(env.state_dir, group)} of {upstream}"
    )


def print_status(status: dict[str, Any], echo: Callable[[str], None]) -> None:
    """A readable table of status()."""
    overall = "running" if status["running"] else "not running"
    echo(f"local environment in {status['state_dir']}: {overall}")
    if not status["servers"]:
        echo("no servers recorded: start them with `orchestrator dev up`")
        return
    rows = [("ROLE", "NAME", "LISTENS ON", "PID", "STATE", "DETAILS")]
    for s in status["servers"]:
        state = "running" if s.get("running") else "stopped"
        details = []
        if s["role"] == "postgres":
            details.append(
                f"{s['group']}, {s['database_role']}" + (f" of {s['upstream']}" if s.get("upstream") else "")
            )
        elif s["role"] == "workload":
            details.append(
                f"{s['group']}, {'healthy' if s['healthy'] else 'FAILING'}, health {s['health_url']}"
            )
        else:
            if s.get("api_url"):
                details.append(f"api {s['api_url']}")
            if s.get("tsig_key_name"):
                details.append(f"tsig key {s['tsig_key_name']} ({s['tsig_algorithm']})")
            if s.get("zones"):
                details.append(("stubs " if s["role"] == "unbound" else "zones ") + ", ".join(s["zones"]))
        rows.append(
            (
                s["role"],
                s.get("name", "-"),
                f"{s['address']}:{s['port']}",
                str(s.get("pid") or "-"),
                state,
                "; ".join(details),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    for row in rows:
        echo("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:5])) + "  " + row[5])
    logs = sorted({s["log"] for s in status["servers"] if s.get("log")})
    if logs:
        echo(f"logs: {Path(logs[0]).parent}")


if __name__ == "__main__":
    dev()
