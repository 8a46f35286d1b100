"""The policy pack served inside the language host (langhost._serve_pack_here): when it is,
when it is not, and that the engine sees a plugin as before (a port, then an exit status)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import empty_pb2, struct_pb2
from pulumi.runtime.proto import analyzer_pb2_grpc, language_pb2

from orchestrator.adapters.pulumi import environment, langhost
from tests.unit.test_langhost_lifetime import children

PACK = Path(__file__).resolve().parents[2] / "policy"
# The runtime options of policy/PulumiPolicy.yaml, as the engine passes them on.
PACK_OPTIONS = {"virtualenv": "../.venv", langhost.PACK_IN_PROCESS_OPTION: "analyzer"}


def info(pack: Path, options: dict[str, Any]) -> language_pb2.ProgramInfo:
    opts = struct_pb2.Struct()
    opts.update(options)
    return language_pb2.ProgramInfo(
        root_directory=str(pack), program_directory=str(pack), entry_point=".", options=opts
    )


class Context:
    """The part of a gRPC servicer context RunPlugin uses; cancel() is the engine closing it."""

    def __init__(self) -> None:
        self.callbacks: list[Callable[[], Any]] = []

    def add_callback(self, fn: Callable[[], Any]) -> bool:
        self.callbacks.append(fn)
        return True

    def cancel(self) -> None:
        for fn in self.callbacks:
            fn()


def analyzer_info(port: int) -> Any:
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        return analyzer_pb2_grpc.AnalyzerStub(channel).GetAnalyzerInfo(empty_pb2.Empty(), timeout=10)


@pytest.fixture
def in_process(monkeypatch):
    monkeypatch.delenv(environment.IN_PROCESS_ENV, raising=False)


def test_the_projects_pack_is_served_in_the_host(in_process):
    here = langhost._serve_pack_here(info(PACK, PACK_OPTIONS), sys.executable, str(PACK))
    assert here is not None
    server, port = here
    try:
        assert analyzer_info(port).name == "failover-preconditions"
    finally:
        server.stop(grace=None)


def write_pack(tmp_path: Path, body: str) -> Path:
    pack = tmp_path / "pack"
    pack.mkdir()
    (pack / "__main__.py").write_text(textwrap.dedent(body))
    return pack


@pytest.mark.parametrize(
    ("body", "why"),
    [
        ("def analyzer():\n    raise RuntimeError('broken')\n", "the function fails"),
        ("raise ImportError('no such module')\n", "the module fails"),
        ("def analyzer():\n    return None\n", "this pulumi-policy cannot"),
        ("def other():\n    return 1\n", "no such function"),
    ],
)
def test_a_pack_that_cannot_be_served_here_runs_as_a_process(in_process, tmp_path, body, why):
    """The child process then reports the problem the way the engine shows it."""
    pack = write_pack(tmp_path, body)
    assert langhost._serve_pack_here(info(pack, PACK_OPTIONS), sys.executable, str(pack)) is None, why


def test_only_a_pack_that_asks_and_wants_our_interpreter_is_served_here(monkeypatch, in_process):
    unasked = info(PACK, {"virtualenv": "../.venv"})
    assert langhost._serve_pack_here(unasked, sys.executable, str(PACK)) is None
    assert langhost._serve_pack_here(info(PACK, PACK_OPTIONS), "/opt/other/bin/python", str(PACK)) is None
    assert langhost._serve_pack_here(None, sys.executable, str(PACK)) is None
    monkeypatch.setenv(environment.IN_PROCESS_ENV, "0")
    assert langhost._serve_pack_here(info(PACK, PACK_OPTIONS), sys.executable, str(PACK)) is None


def test_a_virtualenv_named_from_the_packs_directory_is_ours(in_process):
    """PulumiPolicy.yaml says "../.venv": the same interpreter, spelt through the pack's directory."""
    venv_bin = Path(sys.executable).parent
    roundabout = venv_bin / ".." / venv_bin.name / Path(sys.executable).name
    assert langhost._in_process(str(roundabout))


def test_without_the_front_the_host_announces_the_packs_port_and_stops_it_when_closed(
    monkeypatch, in_process
):
    monkeypatch.setenv("PATH", "/nonexistent")  # no plugin front to find
    request = language_pb2.RunPluginRequest(
        pwd=str(PACK), program=str(PACK), info=info(PACK, PACK_OPTIONS), kind="analyzer"
    )
    context = Context()
    before = children(os.getpid())
    answers = langhost.LanguageHost("127.0.0.1:1").RunPlugin(request, context)
    port = int(next(answers).stdout)
    assert analyzer_info(port).policies
    assert children(os.getpid()) == before  # no process of its own
    context.cancel()
    assert next(answers).exitcode == 0
    with pytest.raises(grpc.RpcError):
        analyzer_info(port)  # stopped with the stream
    assert list(answers) == []


EXIT_AFTER_A_CALL = """
import runpy, sys
from tests.unit.test_policy_speed import stack_request
pack = runpy.run_path(sys.argv[1], run_name="__orchestrator_pack__")
pack["analyzer"]().AnalyzeStack(stack_request(["group-a"]), None)
"""


def test_nothing_of_a_call_outlives_it():
    """The host serves many calls and then exits: a stack view kept past its call held
    parts of the request, and the interpreter crashed collecting them at exit (SIGSEGV)."""
    done = subprocess.run(
        [sys.executable, "-c", EXIT_AFTER_A_CALL, str(PACK / "__main__.py")],
        cwd=PACK.parent,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr[-2000:]
