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
import threading
import time
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path

import grpc
import pytest

from orchestrator.adapters.processes import alive
from orchestrator.adapters.pulumi import environment, langhost, langhost_exec, program_thread

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


class _DeafMonitor(grpc.GenericRpcHandler):
    """A resource monitor whose every call waits (as the engine's SignalAndWaitForShutdown
    does for a refused preview): a program that calls it is blocked inside a gRPC call."""

    def __init__(self) -> None:
        self.called = threading.Event()
        self.release = threading.Event()

    def service(self, handler_call_details):  # noqa: ANN001, ANN201 (grpc's interface)
        def wait(request: bytes, context: grpc.ServicerContext) -> bytes:
            self.called.set()
            self.release.wait(30)
            context.abort(grpc.StatusCode.UNAVAILABLE, "the test is over")

        return grpc.unary_unary_rpc_method_handler(wait)


@pytest.mark.parametrize("in_process", [True, False], ids=["program-in-the-host", "program-in-a-child"])
def test_the_language_host_stops_its_program_when_the_engine_closes_it(tmp_path, in_process):
    """The engine closes a plugin with SIGINT to its process group and kills it only 5 s
    later; a program still running then (a preview the policy pack refused leaves it waiting
    inside a gRPC call) must not hold the host, and the engine, for those 5 s."""
    from pulumi.runtime.proto import language_pb2, language_pb2_grpc

    program = tmp_path / "program"
    program.mkdir()
    (program / "__main__.py").write_text("raise SystemExit('the program must not get this far')\n")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    runner = bin_dir / "pulumi-language-python-exec"  # stands for Pulumi's program runner
    runner.write_text(STUBBORN)
    runner.chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    env[environment.IN_PROCESS_ENV] = "1" if in_process else "0"
    monitor = _DeafMonitor()
    monitor_server = grpc.server(futures.ThreadPoolExecutor(max_workers=4), handlers=[monitor])
    monitor_port = monitor_server.add_insecure_port("127.0.0.1:0")
    monitor_server.start()
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
            language_pb2.RunRequest(
                pwd=str(tmp_path),
                program=str(program),
                project="p",
                stack="s",
                monitor_address=f"127.0.0.1:{monitor_port}",
            )
        )

        def started() -> bool:
            if in_process:
                return monitor.called.is_set()
            return any("langhost_exec" in " ".join(_cmdline(p)) for p in children(host.pid))

        deadline = time.monotonic() + 20
        while not started():
            assert time.monotonic() < deadline, "the program never started"
            time.sleep(0.05)  # polling a condition with a deadline
        os.killpg(host.pid, signal.SIGINT)
        host.wait(timeout=4)  # well inside the engine's 5 s
        run.cancel()
        channel.close()
    finally:
        monitor.release.set()
        monitor_server.stop(grace=None)
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
    """Its CPU must not delay the engine's serial path (langhost._program_nice): a program in
    a child process of its own, under another interpreter."""
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


def test_the_program_in_the_host_runs_below_it_and_so_do_the_threads_it_starts():
    """program_thread.on_own_thread: on Linux a thread has its own priority and passes it on."""
    own = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    def priorities() -> tuple[int, int]:
        mine = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
        with futures.ThreadPoolExecutor(max_workers=1) as pool:
            started = pool.submit(lambda: os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))
            return mine, started.result(timeout=10)

    assert program_thread.on_own_thread(priorities, 4) == (min(19, own + 4),) * 2
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == own  # the caller's is kept


def test_a_failure_on_the_programs_thread_is_raised_to_the_caller():
    def fails() -> None:
        raise SystemExit(3)

    with pytest.raises(SystemExit) as raised:
        program_thread.on_own_thread(fails, 0)
    assert raised.value.code == 3


@pytest.mark.parametrize(
    ("status", "error", "bail"),
    [(0, "", False), (32, "", True), (1, "Program exited with non-zero exit code: 1", False)],
)
def test_the_engine_is_told_how_the_program_ended(status, error, bail):
    """32 is pulumi-language-python-exec's "already shown to the user": no second error."""
    answer = program_thread.answer(status)
    assert (answer.error, answer.bail) == (error, bail)


def test_the_program_runs_in_the_host_only_under_the_hosts_own_interpreter(monkeypatch):
    monkeypatch.delenv(environment.IN_PROCESS_ENV, raising=False)
    assert langhost._in_process(sys.executable)
    assert not langhost._in_process("/opt/other-venv/bin/python")
    monkeypatch.setenv(environment.IN_PROCESS_ENV, "0")
    assert not langhost._in_process(sys.executable)
