"""The switches `orchestrator serve` starts: `orchestrator switch --to G --plan FP --yes` as children.

Why a child process and not a call: the switch the console runs is exactly the one the CLI
runs (same checks, journal, lease, audit, crash safety), and the server stays a reader of
its journal. The child is supervised, never orphaned:
- it is forked by one long-lived thread with a parent-death signal (`setpriv --pdeathsig`),
  so a `kill -9` of the server stops it too (the switch is crash-safe: `--resume` finishes it);
- on a normal stop the server waits for it (up to `grace` seconds), then stops its process group;
- its own session keeps a Ctrl-C of the server's terminal from hitting it mid-step.
The reason the operator gave is audited (switchover.confirmed) before the child starts.
"""

from __future__ import annotations

import contextlib
import os
import queue
import re
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from orchestrator.adapters.files import audit as ev
from orchestrator.adapters.files.journal import Journal, SwitchRecord
from orchestrator.domain.errors import (
    EXIT_AUTH,
    EXIT_BLOCKED,
    EXIT_CONFLICT,
    EXIT_ENVIRONMENT,
    EXIT_USAGE,
    ConflictError,
    EnvironmentProblem,
    OrchestratorError,
    UsageError,
)

START_WAIT = 300.0  # the child's own dry-run (a Pulumi preview) runs before its journal record exists
STOP_GRACE = 120.0
POLL = 0.1
SECRET_ENV = ("ORCHESTRATOR_API_TOKEN", "ORCHESTRATOR_API_TOKEN_FILE")
_ERROR_LINE = re.compile(r"^\s*(error|why|fix):\s?(.*)$")


def switch_command(stack: str, to_groups: Sequence[str], mode: str, fingerprint: str) -> list[str]:
    """The CLI invocation of a confirmed plan (the same module the `orchestrator` script runs)."""
    cmd = [sys.executable, "-m", "orchestrator.interfaces.cli.main", "switch", "--stack", stack]
    for group in to_groups:
        cmd += ["--to", group]
    if mode == "failover":
        cmd.append("--failover")
    # --review-first: a refused plan is answered before the switch has a journal record (409).
    return [*cmd, "--plan", fingerprint, "--yes", "--review-first"]


def _with_parent_death_signal(cmd: list[str]) -> list[str]:
    setpriv = shutil.which("setpriv")
    return [setpriv, "--pdeathsig", "TERM", "--", *cmd] if setpriv else cmd


@dataclass
class Launch:
    id: str
    stack: str
    to_groups: tuple[str, ...]
    mode: str
    fingerprint: str
    started_at: float
    log: Path
    proc: subprocess.Popen[bytes] | None = None
    switch_id: str | None = None
    returncode: int | None = None
    finished: threading.Event = field(default_factory=threading.Event)

    @property
    def running(self) -> bool:
        return not self.finished.is_set()

    def to_dict(self) -> dict[str, Any]:
        return {
            "launch_id": self.id,
            "switch_id": self.switch_id,
            "fingerprint": self.fingerprint,
            "to_groups": list(self.to_groups),
            "mode": self.mode,
            "running": self.running,
            "exit_code": self.returncode,
        }


def error_from_output(code: int, text: str) -> OrchestratorError:
    """The child's `error:/why:/fix:` lines as the error they were, by its exit code."""
    found: dict[str, str] = {}
    for line in text.splitlines():
        m = _ERROR_LINE.match(line)
        if m and m[1] not in found:
            found[m[1]] = m[2].strip()
    what = found.get("error") or f"the switch exited with code {code}"
    why = found.get("why", "")
    fix = found.get("fix", "")
    if code in (EXIT_BLOCKED, EXIT_CONFLICT):
        return ConflictError(what, why, fix, exit_code=code)
    if code == EXIT_USAGE:
        return UsageError(what, why, fix)
    if code in (EXIT_ENVIRONMENT, EXIT_AUTH):
        return EnvironmentProblem(what, why, fix, exit_code=code)
    return OrchestratorError(what, why or "see the switch's output", fix or "read the log and run again")


class Launcher:
    """One stack's console-started switches; at most one runs at a time."""

    def __init__(
        self,
        root: Path,
        stack: str,
        *,
        journal: Journal,
        audit: ev.AuditLog,
        log_dir: Path,
        command: Callable[[str, Sequence[str], str, str], list[str]] = switch_command,
        env: dict[str, str] | None = None,
        start_wait: float = START_WAIT,
    ) -> None:
        self.root = root
        self.stack = stack
        self.journal = journal
        self.audit = audit
        self.log_dir = log_dir
        self.command = command
        self.env = env
        self.start_wait = start_wait
        self.launches: dict[str, Launch] = {}
        self._lock = threading.Lock()
        self._spawns: queue.Queue[tuple[list[str], IO[bytes], Future[subprocess.Popen[bytes]]] | None] = (
            queue.Queue()
        )
        # The one thread that forks: a parent-death signal fires when the forking *thread*
        # ends, so it must not be a request thread.
        self._spawner = threading.Thread(target=self._spawn_loop, name="switch-spawner", daemon=True)
        self._spawner.start()

    # -- starting ----------------------------------------------------------------------------
    def launch(
        self, to_groups: tuple[str, ...], mode: str, fingerprint: str, reason: str, client: str
    ) -> Launch:
        """Start the switch; return once its journal record exists (or raise why it refused)."""
        if not self._lock.acquire(blocking=False):
            raise ConflictError(
                "another switch is being started from this server",
                "switches start one at a time",
                "wait for it and look at its progress in the console",
            )
        try:
            if current := self.current():
                raise ConflictError(
                    f"switch {current.switch_id or current.id} started here is still running",
                    "one switch at a time per stack",
                    f"watch it at /console/switches/{current.switch_id}" if current.switch_id else "wait",
                )
            unfinished = self.journal.unfinished(self.stack)
            if unfinished is not None:
                raise ConflictError(
                    f"switch {unfinished.id} of stack '{self.stack}' is {unfinished.status}",
                    "it is running elsewhere or was interrupted; a new switch would race or undo it",
                    f"watch it at /console/switches/{unfinished.id}; if it was interrupted, finish it "
                    "with `orchestrator switch --resume` (or roll it back with --rollback)",
                )
            launch = self._start(to_groups, mode, fingerprint, reason, client)
        finally:
            self._lock.release()
        return self._await_record(launch)

    def _start(
        self, to_groups: tuple[str, ...], mode: str, fingerprint: str, reason: str, client: str
    ) -> Launch:
        now = datetime.now(UTC)
        launch_id = f"ln-{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"
        self.log_dir.mkdir(parents=True, exist_ok=True)
        launch = Launch(
            launch_id,
            self.stack,
            to_groups,
            mode,
            fingerprint,
            now.timestamp(),
            self.log_dir / f"{launch_id}.log",
        )
        # Audited before anything runs: who confirmed which reviewed plan, why, from where.
        self.audit.append(
            ev.SWITCHOVER_CONFIRMED,
            stack=self.stack,
            kind="switch",
            mode=mode,
            to_groups=list(to_groups),
            fingerprint=fingerprint,
            reason=reason,
            via="console",
            client=client,
            launch_id=launch_id,
        )
        cmd = _with_parent_death_signal(self.command(self.stack, to_groups, mode, fingerprint))
        log = open(launch.log, "wb")  # noqa: SIM115 — the watcher thread closes it when the child ends
        done: Future[subprocess.Popen[bytes]] = Future()
        self._spawns.put((cmd, log, done))
        try:
            launch.proc = done.result(timeout=30)
        except Exception as exc:
            log.close()
            raise EnvironmentProblem(
                "the switch could not be started",
                f"{type(exc).__name__}: {exc}",
                "check that this server's Python environment can run `orchestrator`",
            ) from exc
        self.launches[launch_id] = launch
        threading.Thread(
            target=self._watch, args=(launch, log), name=f"watch-{launch_id}", daemon=True
        ).start()
        return launch

    def _spawn_loop(self) -> None:
        while (item := self._spawns.get()) is not None:
            cmd, log, done = item
            env = dict(self.env if self.env is not None else os.environ)
            for key in SECRET_ENV:
                env.pop(key, None)  # the switch needs no API token
            env["ORCHESTRATOR_ROOT"] = str(self.root)
            try:
                proc = subprocess.Popen(
                    cmd,
                    cwd=self.root,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            except OSError as exc:
                done.set_exception(exc)
            else:
                done.set_result(proc)

    def _watch(self, launch: Launch, log: IO[bytes]) -> None:
        assert launch.proc is not None
        try:
            launch.returncode = launch.proc.wait()
        finally:
            log.close()
            launch.finished.set()

    def _await_record(self, launch: Launch) -> Launch:
        deadline = time.monotonic() + self.start_wait
        while True:
            record = self._record_of(launch)
            if record is not None:
                launch.switch_id = record.id
                return launch
            if launch.finished.is_set():
                record = self._record_of(launch)  # written just before a fast exit
                if record is not None:
                    launch.switch_id = record.id
                    return launch
                if launch.returncode == 0:
                    return launch  # nothing to do: the target is already active and served
                raise error_from_output(launch.returncode or 1, self.output(launch))
            if time.monotonic() > deadline:
                return launch  # still checking the plan: the caller shows the launch, not an error
            launch.finished.wait(POLL)

    def _record_of(self, launch: Launch) -> SwitchRecord | None:
        since = datetime.fromtimestamp(launch.started_at - 1, UTC)
        for record in self.journal.list(self.stack):
            if record.fingerprint == launch.fingerprint and ev.parse_ts(record.created_at) >= since:
                return record
        return None

    # -- reading -----------------------------------------------------------------------------
    def current(self) -> Launch | None:
        return next((lc for lc in self.launches.values() if lc.running), None)

    def by_switch(self, switch_id: str) -> Launch | None:
        return next((lc for lc in self.launches.values() if lc.switch_id == switch_id), None)

    def output(self, launch: Launch, limit: int = 20000) -> str:
        try:
            data = launch.log.read_bytes()
        except OSError:
            return ""
        return data[-limit:].decode("utf-8", "replace")

    # -- stopping ----------------------------------------------------------------------------
    def stop(self, grace: float = STOP_GRACE, echo: Callable[[str], None] = lambda _m: None) -> None:
        """Let running switches finish (up to `grace` s), then stop their process groups."""
        running = [lc for lc in self.launches.values() if lc.running]
        for launch in running:
            echo(f"orchestrator serve: waiting up to {grace:.0f}s for switch {launch.switch_id or launch.id}")
            if not launch.finished.wait(grace):
                self._kill(launch)
        self._spawns.put(None)

    @staticmethod
    def _kill(launch: Launch) -> None:
        assert launch.proc is not None
        for sig, wait in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 10.0)):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(launch.proc.pid, sig)
            if launch.finished.wait(wait):
                return
