"""The language host must not outlive the engine that started it.

`pulumi` runs its plugins in their own process groups, so a kill -9 of a switch (and of its
`pulumi`) would orphan our language host for good. Here a stand-in parent starts the real
language host and is SIGKILLed; the host must exit on its own, within a deadline.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from orchestrator.adapters.processes import alive
from orchestrator.adapters.pulumi import langhost, langhost_exec

PARENT = """
import subprocess, sys
host = subprocess.Popen([sys.executable, "-m", "orchestrator.adapters.pulumi.langhost"],
                        stdout=subprocess.PIPE, start_new_session=True, text=True)
print(host.pid, host.stdout.readline().strip(), flush=True)  # pid, then the port it serves
import time; time.sleep(300)
"""


@contextlib.contextmanager
def _killed_on_error(parent: subprocess.Popen) -> Iterator[None]:
    """A parent that did not report its child must not sleep on after the test."""
    try:
        yield
    except BaseException:
        parent.kill()
        raise


def _orphan_exits(parent: subprocess.Popen, child: int, what: str) -> None:
    """SIGKILL the parent; the child must exit on its own within a deadline."""
    try:
        assert alive(child), f"the {what} must have started and be serving"
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(timeout=10)
        deadline = time.monotonic() + 10
        while alive(child) and time.monotonic() < deadline:
            time.sleep(0.05)  # polling a condition with a deadline
        assert not alive(child), f"the orphaned {what} is still running"
    finally:
        parent.kill()
        if alive(child):
            os.kill(child, signal.SIGKILL)


def test_the_language_host_exits_when_its_parent_is_killed():
    parent = subprocess.Popen([sys.executable, "-c", PARENT], stdout=subprocess.PIPE, text=True)
    with _killed_on_error(parent):
        host_pid, port = (int(x) for x in parent.stdout.readline().split())
        assert port > 0
    _orphan_exits(parent, host_pid, "language host")


POLICY_PARENT = """
import subprocess, sys
pack = subprocess.Popen([sys.executable, "-u", sys.argv[1], "127.0.0.1:1"],
                        stdout=subprocess.PIPE, start_new_session=True, text=True)
print(pack.pid, pack.stdout.readline().strip(), flush=True)  # pid, then the port it serves
import time; time.sleep(300)
"""


def test_the_policy_pack_exits_when_its_starter_is_killed():
    """Whoever starts the pack (our language host, or the engine) may be killed -9."""
    pack_dir = Path(__file__).resolve().parents[2] / "policy"
    parent = subprocess.Popen(
        [sys.executable, "-c", POLICY_PARENT, str(pack_dir)], stdout=subprocess.PIPE, text=True
    )
    with _killed_on_error(parent):
        pid, port = (int(x) for x in parent.stdout.readline().split())
        assert port > 0
    _orphan_exits(parent, pid, "policy pack")


@pytest.mark.parametrize(("code", "status"), [(None, 0), (0, 0), (3, 3), (256 + 7, 7), ("boom", 1)])
def test_the_program_runner_exits_with_the_status_sys_exit_would_give(code, status, capsys):
    assert langhost_exec.exit_status(code) == status
    assert ("boom" in capsys.readouterr().err) is (code == "boom")


ATTACHING_PARENT = """
import os, sys, time
from pathlib import Path
from orchestrator.adapters.pulumi import attach
log = Path(sys.argv[1])
started = attach.StartedProvider({}, Path.cwd(), log)
env = started.attach_env()
print(started.proc.pid, env[attach.ATTACH_ENV], flush=True)
time.sleep(300)
"""


def test_the_attached_provider_plugin_exits_when_its_starter_is_killed(tmp_path):
    """The plugin a switch starts for the engine to attach to (attach.py) dies with the switch."""
    parent = subprocess.Popen(
        [sys.executable, "-c", ATTACHING_PARENT, str(tmp_path / "provider.log")],
        stdout=subprocess.PIPE,
        text=True,
    )
    with _killed_on_error(parent):
        pid, attach_to = parent.stdout.readline().split()
        assert attach_to.startswith("orchestrator:") and int(attach_to.split(":")[1]) > 0
    _orphan_exits(parent, int(pid), "provider plugin")


STUBBORN = """
import signal, time
signal.signal(signal.SIGINT, signal.SIG_IGN)  # as a program blocked inside a gRPC call
print("ready", flush=True)
time.sleep(60)
"""


def test_the_language_host_stops_its_program_when_the_engine_closes_it(tmp_path):
    """The engine closes a plugin with SIGINT to its process group and kills it only 5 s
    later; a program still running then (a preview the policy pack refused leaves it waiting
    inside a gRPC call) must not hold the host, and the engine, for those 5 s."""
    import grpc
    from pulumi.runtime.proto import language_pb2, language_pb2_grpc

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    runner = bin_dir / "pulumi-language-python-exec"  # stands for Pulumi's program runner
    runner.write_text(STUBBORN)
    runner.chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    host = subprocess.Popen(
        [sys.executable, "-m", "orchestrator.adapters.pulumi.langhost"],
        stdout=subprocess.PIPE,
        env=env,
        start_new_session=True,  # its own process group, as the engine starts it
        text=True,
    )
    try:
        port = int(host.stdout.readline())
        channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        run = language_pb2_grpc.LanguageRuntimeStub(channel).Run.future(
            language_pb2.RunRequest(pwd=str(tmp_path), program=".", project="p", stack="s")
        )
        deadline = time.monotonic() + 20
        while not any("langhost_exec" in " ".join(_cmdline(p)) for p in children(host.pid)):
            assert time.monotonic() < deadline, "the program never started"
            time.sleep(0.05)  # polling a condition with a deadline
        os.killpg(host.pid, signal.SIGINT)
        host.wait(timeout=4)  # well inside the engine's 5 s
        run.cancel()
        channel.close()
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(host.pid, signal.SIGKILL)


def children(pid: int) -> list[int]:
    """Children of every thread of `pid` (the host starts programs from its gRPC threads)."""
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            out += [int(c) for c in (task / "children").read_text().split()]
    return out


def _cmdline(pid: int) -> list[str]:
    try:
        return open(f"/proc/{pid}/cmdline", "rb").read().decode().split("\0")
    except OSError:
        return []


@pytest.mark.parametrize(("setting", "lower_by"), [(None, 10), ("3", 3), ("0", 0), ("not a number", 10)])
def test_the_program_runs_below_the_engine(monkeypatch, setting, lower_by):
    """Its CPU must not delay the engine's serial path (langhost._program_nice)."""
    if setting is None:
        monkeypatch.delenv(langhost.PROGRAM_NICE_ENV, raising=False)
    else:
        monkeypatch.setenv(langhost.PROGRAM_NICE_ENV, setting)
    own = os.getpriority(os.PRIO_PROCESS, 0)
    report = "import os, sys; sys.exit(os.getpriority(os.PRIO_PROCESS, 0))"
    # The child reads its priority once start() has returned: after its first line of stdin.
    proc = langhost.Children().start(
        [sys.executable, "-c", f"import sys; sys.stdin.readline(); {report}"],
        nice=langhost._program_nice(),
        stdin=subprocess.PIPE,
    )
    proc.communicate(b"go\n", timeout=30)
    assert proc.returncode == min(19, own + lower_by)
