"""The plugin front (tools/pluginfront) in front of real policy packs, started by the front or
served inside the language host: what it answers itself, what it passes on unchanged, and
that it never outlives its parent."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import grpc
import pytest
from google.protobuf import empty_pb2
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc, language_pb2

from orchestrator.adapters.processes import alive
from orchestrator.adapters.pulumi import environment, langhost
from orchestrator.adapters.pulumi.environment import locate_engine
from orchestrator.adapters.pulumi.langhost import PLUGIN_FRONT
from tests.e2e.dnsutil import wait_for
from tests.unit.test_langhost_lifetime import _cmdline, children
from tests.unit.test_pack_in_host import PACK_OPTIONS, Context, info
from tests.unit.test_policy_speed import RECORD_TYPE, resource, stack_request

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
PACK = ROOT / "policy"
# A pack with one resource policy: the front must pass every per-resource call on to it.
RESOURCE_PACK = """
from pulumi_policy import EnforcementLevel, PolicyPack, ResourceValidationPolicy

def no_ttl_zero(args, report):
    if args.props.get("ttl") == 0:
        report("ttl 0 is not allowed")

PolicyPack("resource-pack", [ResourceValidationPolicy(
    name="no-ttl-zero", description="d", validate=no_ttl_zero,
    enforcement_level=EnforcementLevel.MANDATORY)])
"""


@pytest.fixture(scope="module")
def front() -> Path:
    path = locate_engine().bin_dir / PLUGIN_FRONT
    assert path.is_file(), f"{path} is missing: scripts/pulumi-engine.sh builds it (make setup)"
    return path


def read_port(proc: subprocess.Popen[bytes]) -> int:
    assert proc.stdout is not None
    line = proc.stdout.readline()  # the plugin protocol: the port, then the plugin serves
    assert line.strip().isdigit(), (line, proc.poll())
    return int(line)


@contextmanager
def served(command: list[str]) -> Iterator[tuple[grpc.Channel, analyzer_pb2_grpc.AnalyzerStub]]:
    """The plugin started by `command`, with a channel to the port it announces."""
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, cwd=ROOT)
    try:
        with grpc.insecure_channel(f"127.0.0.1:{read_port(proc)}") as channel:
            yield channel, analyzer_pb2_grpc.AnalyzerStub(channel)
    finally:
        proc.kill()
        proc.wait()


def pack_command(pack: Path) -> list[str]:
    return [sys.executable, "-u", str(pack), "127.0.0.1:1"]


def test_a_stack_only_pack_gets_no_per_resource_call(front):
    with served([str(front), "analyzer", "--", *pack_command(PACK)]) as (_, stub):
        row = resource(RECORD_TYPE, "x", {"zone": "z", "values": ["1.2.3.4"]})
        request = analyzer_pb2.AnalyzeRequest(
            type=row.type, urn=row.urn, name=row.name, properties=row.properties
        )
        assert stub.Analyze(request) == analyzer_pb2.AnalyzeResponse()
        assert stub.Remediate(request) == analyzer_pb2.RemediateResponse()


def test_the_front_answers_them_itself_without_reading_the_request(front):
    """Bytes no pack could decode still get the empty answer: the call never reached Python."""
    garbage = b"\xff\xff\xff not a protobuf message"
    with served([str(front), "analyzer", "--", *pack_command(PACK)]) as (channel, _):
        for method in ("Analyze", "Remediate"):
            call = channel.unary_unary(f"/pulumirpc.Analyzer/{method}")  # bytes in, bytes out
            assert call(garbage) == b""
    # The same bytes sent to the pack itself fail: they are not a request.
    with served(pack_command(PACK)) as (channel, _), pytest.raises(grpc.RpcError):
        channel.unary_unary("/pulumirpc.Analyzer/Analyze")(garbage)


def test_every_other_call_reaches_the_pack_unchanged(front):
    request = stack_request(["group-b"])
    with served(pack_command(PACK)) as (_, direct):
        info, verdict = direct.GetAnalyzerInfo(empty_pb2.Empty()), direct.AnalyzeStack(request)
    with served([str(front), "analyzer", "--", *pack_command(PACK)]) as (_, fronted):
        assert fronted.GetAnalyzerInfo(empty_pb2.Empty()) == info
        assert fronted.AnalyzeStack(request) == verdict
    assert info.policies and verdict.diagnostics  # something to compare: policies, violations


def test_a_pack_with_resource_policies_gets_every_resource(front, tmp_path):
    pack = tmp_path / "resource-pack"
    pack.mkdir()
    (pack / "__main__.py").write_text(textwrap.dedent(RESOURCE_PACK))
    row = resource(RECORD_TYPE, "x", {"zone": "z", "ttl": 0})
    request = analyzer_pb2.AnalyzeRequest(
        type=row.type, urn=row.urn, name=row.name, properties=row.properties
    )
    with served([str(front), "analyzer", "--", *pack_command(pack)]) as (_, stub):
        answer = stub.Analyze(request)
    assert [d.policyName for d in answer.diagnostics] == ["no-ttl-zero"]
    assert answer.diagnostics[0].message.endswith("ttl 0 is not allowed")


@pytest.mark.parametrize(("sent", "status"), [(signal.SIGINT, 0), (signal.SIGTERM, 128 + signal.SIGTERM)])
def test_a_signal_reaches_the_pack_and_the_front_exits_with_its_status(front, sent, status):
    # The engine stops a plugin with SIGINT (pulumi-policy then stops serving and exits 0).
    proc = subprocess.Popen(
        [str(front), "analyzer", "--", *pack_command(PACK)], stdout=subprocess.PIPE, cwd=ROOT
    )
    read_port(proc)
    (pack,) = children(proc.pid)
    proc.send_signal(sent)
    assert proc.wait(timeout=10) == status
    wait_for(lambda: not alive(pack), 10, "the pack to exit with its front")


def test_nothing_is_left_when_the_parent_is_killed(front):
    """kill -9 of whoever started the front (the language host): front and pack go too."""
    starter = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import subprocess, sys, time\n"
            "p = subprocess.Popen(sys.argv[1:], stdout=subprocess.PIPE)\n"
            "print(p.pid, p.stdout.readline().decode().strip(), flush=True)\n"
            "time.sleep(600)\n",
            str(front),
            "analyzer",
            "--",
            *pack_command(PACK),
        ],
        stdout=subprocess.PIPE,
        cwd=ROOT,
    )
    assert starter.stdout is not None
    front_pid, port = (int(x) for x in starter.stdout.readline().split())
    assert port > 0
    (pack,) = children(front_pid)
    os.kill(starter.pid, signal.SIGKILL)
    starter.wait()
    wait_for(lambda: not (alive(front_pid) or alive(pack)), 10, "the front and the pack to exit with it")


# The project's pack as the language host serves it: in its own process (langhost._serve_pack_here).


@pytest.fixture
def in_host(monkeypatch) -> Iterator[int]:
    monkeypatch.delenv(environment.IN_PROCESS_ENV, raising=False)
    here = langhost._serve_pack_here(info(PACK, PACK_OPTIONS), sys.executable, str(PACK))
    assert here is not None
    server, port = here
    try:
        yield port
    finally:
        server.stop(grace=None)


def upstream_command(front: Path, port: int) -> list[str]:
    return [str(front), "analyzer", "--upstream", f"127.0.0.1:{port}"]


def test_the_pack_in_the_host_answers_through_the_front_as_its_own_process_does(front, in_host):
    request = stack_request(["group-b"])
    with served(pack_command(PACK)) as (_, direct):
        info_, verdict = direct.GetAnalyzerInfo(empty_pb2.Empty()), direct.AnalyzeStack(request)
    with served(upstream_command(front, in_host)) as (channel, fronted):
        assert fronted.GetAnalyzerInfo(empty_pb2.Empty()) == info_
        assert fronted.AnalyzeStack(request) == verdict
        for method in ("Analyze", "Remediate"):  # answered by the front: never reach Python
            assert channel.unary_unary(f"/pulumirpc.Analyzer/{method}")(b"\xff not a message") == b""
    assert info_.policies and verdict.diagnostics


@pytest.mark.parametrize("sent", [signal.SIGINT, signal.SIGTERM])
def test_a_front_before_a_pack_in_the_host_exits_cleanly_on_a_signal(front, in_host, sent):
    proc = subprocess.Popen(upstream_command(front, in_host), stdout=subprocess.PIPE, cwd=ROOT)
    read_port(proc)
    assert children(proc.pid) == []  # nothing of its own to start
    proc.send_signal(sent)
    assert proc.wait(timeout=10) == 0


def test_the_host_starts_only_the_front_for_its_own_pack(front, monkeypatch):
    """What the engine sees through RunPlugin: the front's port, then its end when it closes
    the stream; no Python process for the pack."""
    monkeypatch.delenv(environment.IN_PROCESS_ENV, raising=False)
    monkeypatch.setenv("PATH", f"{front.parent}{os.pathsep}{os.environ['PATH']}")
    request = language_pb2.RunPluginRequest(
        pwd=str(PACK), program=str(PACK), info=info(PACK, PACK_OPTIONS), kind="analyzer"
    )
    context = Context()
    before = set(children(os.getpid()))
    answers = langhost.LanguageHost("127.0.0.1:1").RunPlugin(request, context)
    port = int(next(answers).stdout)
    (started,) = set(children(os.getpid())) - before
    assert Path(_cmdline(started)[0]).name == PLUGIN_FRONT
    assert children(started) == []
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        assert analyzer_pb2_grpc.AnalyzerStub(channel).GetAnalyzerInfo(empty_pb2.Empty()).policies
    context.cancel()
    assert [a.HasField("exitcode") for a in answers][-1]
    wait_for(lambda: not alive(started), 10, "the front to exit when the engine closes the stream")
