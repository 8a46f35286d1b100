"""`orchestrator watch`: the decision loop, its wiring, and `watch ack` / `watch status`.

The switch watch runs is the CLI's own switch, started as a child process exactly as an
operator would type it (`orchestrator switch --to G --yes [--failover]`), so it goes through
the same dry-run, policy pack, lease with fencing, make-before-break, verify and audit. The
child dies with watch (PR_SET_PDEATHSIG): a watch killed mid-switch leaves no orphan, and the
next watch resumes the interrupted switch from the journal.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Mapping
from pathlib import Path

import click
from prometheus_client import start_http_server

from orchestrator.adapters.files.audit import audit_for
from orchestrator.adapters.files.journal import journal_for
from orchestrator.adapters.files.paths import project_root
from orchestrator.adapters.lease import lease_from_config
from orchestrator.adapters.lease.board import Board
from orchestrator.adapters.probes.http_dns import default_http_get
from orchestrator.adapters.processes import alive as process_alive
from orchestrator.adapters.pulumi.stackconfig import stack_config
from orchestrator.domain.health import health_targets
from orchestrator.domain.publish import KUADRANT_NAMES, WATCH_KEY, parse_watch_settings
from orchestrator.domain.topology import Topology
from orchestrator.interfaces.cli.util import handle_errors
from orchestrator.ports.watch import Probe, StackView, SwitchResult, Unfinished
from orchestrator.services.watch.loop import Watcher, acknowledge
from orchestrator.services.watch.metrics import WatchMetrics

# Test hook (fault injection, like ORCHESTRATOR_PAUSE_AT): this observer's probes of the named
# groups fail, as if its own network could not reach them. Never set in production.
BLIND_HOOK = "ORCHESTRATOR_WATCH_BLIND"
PROBE_TIMEOUT = 2.0
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:  # runs in the child between fork and exec
    with contextlib.suppress(OSError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


class StackFile:
    """Reads the stack each round: a changed rule or active set takes effect without a restart."""

    def __init__(self, root: Path, stack: str) -> None:
        self.root, self.stack = root, stack

    def __call__(self) -> StackView:
        # Imported when watch runs: deploy pulls in Pulumi's Automation API, slow for `--help`.
        from orchestrator.services.deploy import load

        topology, active = load(self.root, self.stack)
        settings = parse_watch_settings(stack_config(self.root, self.stack).get(WATCH_KEY), topology)
        return StackView(topology, active, settings)


class HttpProber:
    """A group is healthy when more than half of its health URLs answer 2xx (one GET each)."""

    def __init__(self, blind: tuple[str, ...] = ()) -> None:
        self.blind = blind

    def __call__(self, topology: Topology, groups: tuple[str, ...]) -> dict[str, Probe]:
        out: dict[str, Probe] = {}
        targets = health_targets(topology, groups)
        results: dict[str, tuple[int | None, str | None]] = {}

        def get(url: str) -> None:
            code, _, err = default_http_get(url, PROBE_TIMEOUT)
            results[url] = (code, err)

        threads = [threading.Thread(target=get, args=(t.url,), daemon=True) for t in targets]
        for t in threads:
            t.start()
        for t in threads:
            t.join(PROBE_TIMEOUT + 1)
        for g in groups:
            mine = [t for t in targets if t.group == g]
            if not mine:
                out[g] = Probe(None, "no health URL in the topology")
                continue
            if g in self.blind:
                out[g] = Probe(False, f"{BLIND_HOOK}: this observer cannot reach {g}")
                continue
            good = [t for t in mine if (results.get(t.url) or (None, None))[0] in range(200, 300)]
            bad = [f"{t.target} {results.get(t.url, (None, 'no answer'))}" for t in mine if t not in good]
            out[g] = Probe(
                len(good) * 2 > len(mine),
                f"{len(good)}/{len(mine)} healthy" + (f"; failing: {'; '.join(bad)[:160]}" if bad else ""),
            )
        return out


class CliSwitches:
    """The switch, run as the operator's command; results read from its exit code and the journal."""

    def __init__(self, root: Path, stack: str, observer: str) -> None:
        self.root, self.stack, self.observer = root, stack, observer
        self.journal = journal_for(root)

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        exe = Path(sys.executable).parent / "orchestrator"
        cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "orchestrator.interfaces.cli.main"]
        env = dict(os.environ, ORCHESTRATOR_USER=f"watch.{self.observer}")
        return subprocess.run(
            [*cmd, *args, "--stack", self.stack],
            cwd=self.root,
            env=env,
            capture_output=True,
            text=True,
            check=False,
            preexec_fn=_die_with_parent,  # noqa: PLW1509 — prctl only, no locks taken
        )

    def dry_run(self, to_groups: tuple[str, ...], *, failover: bool) -> SwitchResult:
        args = ["switch", *[a for g in to_groups for a in ("--to", g)], "--dry-run", "--json"]
        proc = self._run(*args, *(["--failover"] if failover else []))
        try:
            plan = json.loads(proc.stdout)
        except ValueError:
            return SwitchResult(proc.returncode, output=proc.stderr or proc.stdout)
        return SwitchResult(
            proc.returncode,
            output=proc.stderr,
            blockers=tuple(plan.get("blockers") or ()),
            fingerprint=plan.get("fingerprint"),
        )

    def _newest_id(self, before: set[str]) -> str | None:
        ids = [r.id for r in self.journal.list(self.stack) if r.id not in before]
        return ids[0] if ids else None

    def switch(self, to_groups: tuple[str, ...], *, failover: bool, reason: str) -> SwitchResult:
        before = {r.id for r in self.journal.list(self.stack)}
        args = ["switch", *[a for g in to_groups for a in ("--to", g)], "--yes"]
        proc = self._run(*args, *(["--failover"] if failover else []))
        return SwitchResult(
            proc.returncode, self._newest_id(before), proc.stdout[-2000:] + proc.stderr[-2000:]
        )

    def resume(self) -> SwitchResult:
        proc = self._run("switch", "--resume", "--yes")
        return SwitchResult(proc.returncode, None, proc.stdout[-2000:] + proc.stderr[-2000:])

    def unfinished(self) -> Unfinished | None:
        rec = self.journal.unfinished(self.stack)
        if rec is None:
            return None
        holder = rec.holder or ""
        alive = False
        host, _, rest = holder.partition("@")[2].partition(":")
        if host == socket.gethostname() and rest.split("/")[0].isdigit():
            alive = process_alive(int(rest.split("/")[0]))
        return Unfinished(rec.id, holder, tuple(rec.to_groups), holder.startswith("watch."), alive)


def board_for(root: Path, stack: str) -> Board:
    from orchestrator.interfaces.switch_wiring import lease_config  # the switch machinery: see StackFile

    return Board.for_lease(lease_from_config(lease_config(root, stack)), stack)


def register(main: click.Group, stack_option) -> None:  # noqa: ANN001
    @main.group(invoke_without_command=True)
    @stack_option
    @click.option("--observer", help="This observer's name on the board [default: <host>-<pid>].")
    @click.option("--metrics-port", type=int, help="Serve this watch's metrics on 127.0.0.1:PORT/metrics.")
    @click.option("--metrics-address", default="127.0.0.1", show_default=True)
    @click.option("--once", is_flag=True, help="One round, then exit (for cron-like use and tests).")
    @click.pass_context
    @handle_errors
    def watch(
        ctx: click.Context,
        stack: str,
        observer: str | None,
        metrics_port: int | None,
        metrics_address: str,
        once: bool,
    ) -> None:
        """Apply the stack's publish rules continuously: failover, failback, migration (docs/watch.md)."""
        if ctx.invoked_subcommand is not None:
            ctx.obj = {"stack": stack}
            return
        root = project_root()
        view = StackFile(root, stack)()
        name = observer or f"{socket.gethostname()}-{os.getpid()}"
        metrics = WatchMetrics(stack)
        if metrics_port is not None:
            start_http_server(metrics_port, addr=metrics_address, registry=metrics.registry)
        blind = tuple(g for g in os.environ.get(BLIND_HOOK, "").split(",") if g)
        watcher = Watcher(
            stack=stack,
            observer=name,
            read_stack=StackFile(root, stack),
            prober=HttpProber(blind),
            board=board_for(root, stack),
            executor=CliSwitches(root, stack, name),
            audit=audit_for(root),
            metrics=metrics,
            echo=lambda m: click.echo(m, err=True),
        )
        rules = ", ".join(
            f"{r.group}: {r.strategy} ({KUADRANT_NAMES[r.strategy]})" + (", republish" if r.republish else "")
            for r in view.settings.rules
        )
        click.echo(
            f"watch: stack {stack}, observer {name}, "
            f"quorum {view.settings.quorum} of {view.settings.observers}, "
            f"every {view.settings.interval:g}s; rules: {rules}",
            err=True,
        )
        if once:
            decision = watcher.round()
            if decision is not None:
                click.echo(
                    json.dumps(
                        {
                            "action": decision.action,
                            "kind": decision.kind,
                            "to_groups": list(decision.to_groups),
                            "reason": decision.reason,
                        }
                    )
                )
            return
        stop = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
        watcher.run(
            interval=lambda: StackFile(root, stack)().settings.interval, stop=stop.is_set, wait=stop.wait
        )
        click.echo("watch: stopped", err=True)

    @watch.command("ack")
    @click.option("--reason", required=True, help="What was checked before automatic switches resume.")
    @click.pass_context
    @handle_errors
    def ack(ctx: click.Context, reason: str) -> None:
        """Acknowledge the last automatic switch: lift the anti-flap block."""
        stack = ctx.obj["stack"]
        root = project_root()
        who = os.environ.get("ORCHESTRATOR_USER") or os.environ.get("USER") or "operator"
        lifted = acknowledge(board_for(root, stack), audit_for(root), stack, who, reason)
        if lifted is None:
            click.echo(f"stack '{stack}': no anti-flap block was set; nothing to acknowledge.")
        else:
            click.echo(
                f"stack '{stack}': block after switch {lifted.switch_id} lifted; automatic switches resume."
            )

    @watch.command("status")
    @click.option("--json", "as_json", is_flag=True)
    @click.pass_context
    @handle_errors
    def status(ctx: click.Context, as_json: bool) -> None:
        """The board: each observer's verdict, the anti-flap block, the last automatic switch."""
        stack = ctx.obj["stack"]
        root = project_root()
        board = board_for(root, stack)
        block, last = board.block(), board.last_auto()
        doc: Mapping[str, object] = {
            "stack": stack,
            "observers": [v.to_dict() for v in board.verdicts()],
            "block": block.to_dict() if block else None,
            "last_automatic_switch": last.to_dict() if last else None,
        }
        if as_json:
            click.echo(json.dumps(doc, indent=2))
            return
        for v in board.verdicts():
            click.echo(
                f"observer {v.observer}: " + ", ".join(f"{g} {s}" for g, s in sorted(v.groups.items()))
            )
        click.echo(
            f"anti-flap block: {'after ' + block.switch_id + ' (watch ack to lift)' if block else 'none'}"
        )
        last_text = f"{last.kind} {last.switch_id} -> {','.join(last.to_groups)}" if last else "none"
        click.echo(f"last automatic switch: {last_text}")


__all__ = ["register"]
