"""The provider plugin served in the orchestrator's process (provider/server.py, InProcess):
it serves and stops, and what differs from run to run (the lease fence, the database mode)
comes from the run's environment, never from the process's."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest
from google.protobuf import empty_pb2, struct_pb2
from pulumi.runtime.proto import provider_pb2, provider_pb2_grpc

from orchestrator import __version__
from orchestrator.adapters.lease import FENCE_ENV
from orchestrator.adapters.pulumi import attach, database, environment
from orchestrator.adapters.pulumi.provider import RECORD_SET_TYPE
from orchestrator.adapters.pulumi.provider.server import InProcess, OrchestratorProvider
from orchestrator.domain.errors import UsageError

MALFORMED_FENCE = "not json"  # any write under it is refused (test_lease_logic.py)


def plugin_version(port: int) -> str:
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = provider_pb2_grpc.ResourceProviderStub(channel)
        return stub.GetPluginInfo(empty_pb2.Empty(), timeout=10).version


def test_the_plugin_served_here_answers_and_stops_with_its_run():
    served = InProcess({})
    port = served.port(timeout=30)
    assert plugin_version(port) == __version__
    served.stop()
    with pytest.raises(grpc.RpcError):
        plugin_version(port)


def test_a_plugin_no_run_took_still_stops():
    served = InProcess({})
    served.stop()  # before anyone asked for its port
    assert not served._thread.is_alive()


def test_the_fence_is_the_runs_not_the_process(monkeypatch):
    monkeypatch.delenv(FENCE_ENV, raising=False)
    with pytest.raises(UsageError, match="write refused"):
        OrchestratorProvider({FENCE_ENV: MALFORMED_FENCE})._fence()
    monkeypatch.setenv(FENCE_ENV, MALFORMED_FENCE)
    OrchestratorProvider({})._fence()  # this run has no fence, whatever the process has
    with pytest.raises(UsageError, match="write refused"):
        OrchestratorProvider()._fence()  # a plugin process of its own: its environment is the run's


class Pair:
    """Stands in for a database pair's actuator: whether anything was asked of it."""

    asked: list[str] = []

    def is_primary(self, group: str) -> bool:
        return True

    def demote(self, group: str, primary_group: str) -> str:
        self.asked.append("demote")
        return "token"


def test_the_database_mode_and_fence_are_the_runs(monkeypatch):
    monkeypatch.delenv(database.MODE_ENV, raising=False)
    monkeypatch.delenv(FENCE_ENV, raising=False)
    assert database._mode({database.MODE_ENV: "failover"}) == "failover"
    assert database._mode(None) == "planned"
    monkeypatch.setattr(database, "_pair", lambda props: Pair())
    side = {"databasePair": "orders", "group": "group-a", "primary": False, "primaryGroup": "group-b"}
    with pytest.raises(RuntimeError, match="write refused"):
        database.converge(side, {FENCE_ENV: MALFORMED_FENCE})
    assert Pair.asked == []  # refused before the demote
    assert database.converge(side, {})["demotionToken"] == "token"  # no fence in this run


def test_the_plugin_is_served_here_unless_switched_off(monkeypatch, tmp_path: Path):
    monkeypatch.delenv(environment.IN_PROCESS_ENV, raising=False)
    here = attach.start({}, tmp_path, tmp_path / "provider.log")
    try:
        assert isinstance(here, attach.ServedProvider)
        port = int(here.attach_env()[attach.ATTACH_ENV].rsplit(":", 1)[1])
        assert plugin_version(port) == __version__
    finally:
        here.stop()
    child = attach.start({environment.IN_PROCESS_ENV: "0"}, tmp_path, tmp_path / "provider.log")
    try:
        assert isinstance(child, attach.StartedProvider)
        assert child.proc.poll() is None  # a process of its own
    finally:
        child.stop()


def test_a_served_plugin_refuses_a_write_under_the_runs_fence(monkeypatch, tmp_path: Path):
    """The run's fence reaches the plugin served here through attach.start, not through the
    orchestrator's environment: the write is refused before anything reaches a server."""
    monkeypatch.delenv(FENCE_ENV, raising=False)
    monkeypatch.delenv(environment.IN_PROCESS_ENV, raising=False)
    monkeypatch.setenv("POWERDNS_API_KEY", "unused")
    props = struct_pb2.Struct()
    props.update(
        {
            "backend": "powerdns",
            "zone": "example.test",
            "name": "www.example.test",
            "type": "A",
            "ttl": 60,
            "values": ["192.0.2.1"],
            "settings": {"apiUrl": "http://127.0.0.1:9"},  # nothing listens: never reached
        }
    )
    urn = f"urn:pulumi:s::orchestrator::{RECORD_SET_TYPE}::www"
    plugin = attach.start({FENCE_ENV: MALFORMED_FENCE}, tmp_path, tmp_path / "provider.log")
    try:
        port = int(plugin.attach_env()[attach.ATTACH_ENV].rsplit(":", 1)[1])
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = provider_pb2_grpc.ResourceProviderStub(channel)
            with pytest.raises(grpc.RpcError) as refused:
                stub.Create(provider_pb2.CreateRequest(urn=urn, properties=props), timeout=30)
    finally:
        plugin.stop()
    assert "write refused" in (refused.value.details() or "")
