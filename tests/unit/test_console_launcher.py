"""The launcher: switches started over HTTP run as supervised children, are audited, never orphaned.

The child here is a stand-in for `orchestrator switch` (a few lines of Python writing a real
journal record); the real command runs in tests/e2e/test_console.py.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from orchestrator.adapters.files.audit import SWITCHOVER_CONFIRMED, AuditLog
from orchestrator.adapters.files.journal import Journal
from orchestrator.domain.errors import ConflictError, UsageError
from orchestrator.interfaces.http.launcher import Launcher, error_from_output, switch_command

FP = "0123456789abcdef"
CHILD = textwrap.dedent(
    """
    import os, pathlib, sys, time
    from orchestrator.adapters.files.journal import Journal
    journal, behaviour, fp, marker, pidfile = sys.argv[1:6]
    pathlib.Path(pidfile).write_text(str(os.getpid()))
    if behaviour == "blocked":
        print("[plan]\\nerror: the switch is blocked", file=sys.stderr)
        print("  why: policy target-group-healthy: group-b has 0 healthy endpoint(s)", file=sys.stderr)
        print("  fix: fix the blockers listed above, then run again", file=sys.stderr)
        sys.exit(7)
    j = Journal(pathlib.Path(journal))
    rec = j.create("e2e", "switch", ["group-a"], ["group-b"], fp, "planned", ["acquire-lease"])
    while pathlib.Path(marker).exists():  # the test holds the switch here
        time.sleep(0.02)
    j.start_step(rec, "acquire-lease")
    j.complete_step(rec, "acquire-lease")
    j.finish(rec, "completed")
    """
)


def wait_for(condition: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {seconds}s waiting for {what}")
        time.sleep(0.02)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not yet reaped by its parent) is not running.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


class Fixture:
    def __init__(self, tmp: Path, behaviour: str = "ok") -> None:
        self.tmp = tmp
        self.journal = Journal(tmp / "journal")
        self.audit = AuditLog(tmp / "audit.jsonl")
        self.marker = tmp / "hold"
        self.pidfile = tmp / "child.pid"
        self.behaviour = behaviour

    def command(self, stack: str, to_groups: Sequence[str], mode: str, fingerprint: str) -> list[str]:
        args = [str(self.journal.directory), self.behaviour, fingerprint, str(self.marker), str(self.pidfile)]
        return [sys.executable, "-c", CHILD, *args]

    def launcher(self) -> Launcher:
        return Launcher(
            self.tmp,
            "e2e",
            journal=self.journal,
            audit=self.audit,
            log_dir=self.tmp / "console",
            command=self.command,
            start_wait=30,
        )


def test_the_switch_command_is_the_clis_with_the_reviewed_plan() -> None:
    cmd = switch_command("prod", ("group-b",), "failover", FP)
    assert cmd[1:4] == ["-m", "orchestrator.interfaces.cli.main", "switch"]
    assert cmd[4:] == [
        "--stack",
        "prod",
        "--to",
        "group-b",
        "--failover",
        "--plan",
        FP,
        "--yes",
        "--review-first",
    ]


def test_a_launch_audits_the_reason_first_and_returns_once_the_journal_has_the_switch(tmp_path: Path) -> None:
    fx = Fixture(tmp_path)
    fx.marker.write_text("")
    launcher = fx.launcher()
    launch = launcher.launch(("group-b",), "planned", FP, "INC-7: group-a degraded", "127.0.0.1")
    try:
        record = fx.journal.load(launch.switch_id)
        assert record.fingerprint == FP and launch.running
        (event,) = fx.audit.read(types=[SWITCHOVER_CONFIRMED])
        assert event["reason"] == "INC-7: group-a degraded" and event["fingerprint"] == FP
        assert event["via"] == "console" and event["launch_id"] == launch.id
        # One switch at a time.
        with pytest.raises(ConflictError, match="still running"):
            launcher.launch(("group-b",), "planned", FP, "again", "127.0.0.1")
        assert launcher.by_switch(record.id) is launch and launcher.current() is launch
    finally:
        fx.marker.unlink()
    assert launch.finished.wait(30) and launch.returncode == 0
    assert fx.journal.load(launch.switch_id).status == "completed"
    assert launcher.current() is None


def test_an_unfinished_switch_of_the_stack_is_never_raced(tmp_path: Path) -> None:
    fx = Fixture(tmp_path)
    fx.journal.create("e2e", "switch", ["group-a"], ["group-b"], FP, "planned", ["acquire-lease"])
    with pytest.raises(ConflictError, match="--resume"):
        fx.launcher().launch(("group-b",), "planned", FP, "why", "127.0.0.1")
    assert fx.audit.read() == [] and not fx.pidfile.exists()  # nothing audited, nothing started


def test_a_refusal_of_the_cli_is_the_same_error_with_its_why_and_fix(tmp_path: Path) -> None:
    fx = Fixture(tmp_path, behaviour="blocked")
    launcher = fx.launcher()
    with pytest.raises(ConflictError) as info:
        launcher.launch(("group-b",), "planned", FP, "forged", "127.0.0.1")
    err = info.value
    assert err.what == "the switch is blocked" and "target-group-healthy" in err.why and err.fix
    assert err.exit_code == 7
    assert launcher.current() is None  # the refused child was reaped
    assert isinstance(error_from_output(2, "error: unknown group 'x'\n  why: w\n  fix: f"), UsageError)


def test_stop_ends_a_switch_that_outlives_the_grace_period(tmp_path: Path) -> None:
    fx = Fixture(tmp_path)
    fx.marker.write_text("")
    launcher = fx.launcher()
    launch = launcher.launch(("group-b",), "planned", FP, "drill", "127.0.0.1")
    pid = int(fx.pidfile.read_text())
    assert alive(pid)
    launcher.stop(grace=0.2)
    assert launch.finished.is_set() and launch.returncode == -signal.SIGTERM
    assert not alive(pid)


PARENT = textwrap.dedent(
    """
    import sys, pathlib, time
    sys.path.insert(0, sys.argv[2])
    from tests.unit.test_console_launcher import Fixture
    fx = Fixture(pathlib.Path(sys.argv[1]))
    fx.marker.write_text("")
    fx.launcher().launch(("group-b",), "planned", "0123456789abcdef", "drill", "127.0.0.1")
    print("launched", flush=True)
    while True:
        time.sleep(1)
    """
)


@pytest.mark.skipif(not Path("/usr/bin/setpriv").exists(), reason="util-linux setpriv is not installed")
def test_a_kill_9_of_the_server_takes_its_switch_child_along(tmp_path: Path) -> None:
    repo = str(Path(__file__).resolve().parents[2])
    server = subprocess.Popen(
        [sys.executable, "-c", PARENT, str(tmp_path), repo], stdout=subprocess.PIPE, text=True
    )
    try:
        assert server.stdout is not None and server.stdout.readline().strip() == "launched"
        pid = int((tmp_path / "child.pid").read_text())
        assert alive(pid)
        server.kill()
        server.wait(timeout=10)
        wait_for(lambda: not alive(pid), 10, "the switch child to die with its server")
    finally:
        if server.poll() is None:
            server.kill()
            server.wait(timeout=10)
        (tmp_path / "hold").unlink(missing_ok=True)
