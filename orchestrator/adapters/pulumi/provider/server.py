"""The provider plugin: a gRPC ResourceProvider served by `pulumi.provider.experimental`.

Why the experimental (async) server: its handlers are coroutines on one event loop, so
concurrent engine calls can meet in a batch (batching.py) with no locks; blocking client
calls run in worker threads. It fits custom resources: Check/Diff/Create/Read/Update/Delete
are plain methods of its Provider class.

Errors raised here reach the engine as text; an OrchestratorError's text is its
`error:/why:/fix:` rendering, which adapters/pulumi/stack.py recovers.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import sys
import threading
from collections.abc import Mapping
from typing import Any

import grpc
from google.protobuf import empty_pb2
from pulumi.provider.experimental import provider as p
from pulumi.provider.experimental.server import ProviderServicer
from pulumi.runtime._grpc_settings import _GRPC_CHANNEL_OPTIONS
from pulumi.runtime.proto import provider_pb2, provider_pb2_grpc

from orchestrator import __version__
from orchestrator.adapters.dns.registry import client_for
from orchestrator.adapters.lease import check_fence_from_env
from orchestrator.adapters.processes import exit_with_parent
from orchestrator.adapters.pulumi import database
from orchestrator.adapters.pulumi.provider import PRIMARY_TYPE, RECORD_SET_TYPE
from orchestrator.adapters.pulumi.provider.batching import ZoneClient, Zones
from orchestrator.adapters.pulumi.provider.recordset import (
    IDENTITY_KEYS,
    outputs,
    plan_diff,
    record_id,
)
from orchestrator.adapters.pulumi.provider.values import plain_map, struct_plain, to_struct, wire_map


class OrchestratorProvider(p.Provider):
    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        # The engine run's environment: this process's own when the plugin is a process of
        # its own (the engine's, passed on), else the one the orchestrator gives the run
        # (InProcess). What differs from run to run is read from it: the lease fence and the
        # database mode.
        self.environ = environ
        self.zones = Zones(fence=self._fence)
        self._clients: dict[tuple[str, str, str], ZoneClient] = {}

    def _fence(self) -> None:
        """Invariant 4: a writer whose lease is gone stops before it writes.

        A switch passes its lease (holder, epoch) in ORCHESTRATOR_FENCE, in the engine run's
        environment; without it (plain `orchestrator up`) there is nothing to check.
        """
        check_fence_from_env(self.environ)

    def _client(self, props: dict[str, Any]) -> ZoneClient:
        settings = props.get("settings") or {}
        key = (str(props["backend"]), str(props["zone"]), json.dumps(settings, sort_keys=True))
        if key not in self._clients:  # a dev server's address is looked up once per process
            self._clients[key] = client_for(key[0], key[1], settings)
        return self._clients[key]

    async def check_config(self, request: p.CheckRequest) -> p.CheckResponse:
        # The default provider of package `orchestrator` is handed the stack's whole
        # `orchestrator:` config namespace (the topology). The plugin needs none of it:
        # keeping it out of the provider's state keeps the state small and a switch (a new
        # activeGroups) from being a provider change.
        return p.CheckResponse(inputs={})

    async def diff_config(self, request: p.DiffRequest) -> p.DiffResponse:
        return p.DiffResponse(changes=False)

    async def configure(self, request: p.ConfigureRequest) -> p.ConfigureResponse:
        # No preview support: the engine never calls Create/Update during a preview.
        return p.ConfigureResponse(accept_secrets=True, accept_resources=True, accept_outputs=False)

    async def diff(self, request: p.DiffRequest) -> p.DiffResponse:
        return self.decide_diff(request.type, plain_map(request.old_state), plain_map(request.new_inputs))

    def decide_diff(self, rtype: str, olds: dict[str, Any], news: dict[str, Any]) -> p.DiffResponse:
        if rtype == RECORD_SET_TYPE:
            changes, replaces = plan_diff(olds, news)
            return p.DiffResponse(
                changes=bool(changes),
                replaces=replaces,
                stables=[k for k in IDENTITY_KEYS if k not in replaces],
                # The same (zone, name, type) must never be created before the old one is
                # deleted: the delete would remove the new content.
                delete_before_replace=True,
                diffs=changes,
            )
        changes, replaces = database.plan_diff(olds, news)
        return p.DiffResponse(changes=bool(changes), replaces=replaces, diffs=changes)

    async def create(self, request: p.CreateRequest) -> p.CreateResponse:
        props = plain_map(request.properties)
        if request.type == RECORD_SET_TYPE:
            await self._write(props, "replace")
            return p.CreateResponse(resource_id=record_id(props), properties=wire_map(outputs(props)))
        outs = await asyncio.to_thread(database.converge, props, self.environ)
        return p.CreateResponse(resource_id=database.record_id(props), properties=wire_map(outs))

    async def update(self, request: p.UpdateRequest) -> p.UpdateResponse:
        olds, news = plain_map(request.olds), plain_map(request.news)
        if request.type == RECORD_SET_TYPE:
            changes, _ = plan_diff(olds, news)
            if {"ttl", "values"} & set(changes):
                await self._write(news, "replace")
            return p.UpdateResponse(properties=wire_map(outputs(news)))
        outs = await asyncio.to_thread(database.update, olds, news, self.environ)
        return p.UpdateResponse(properties=wire_map(outs))

    async def delete(self, request: p.DeleteRequest) -> None:
        props = plain_map(request.properties)
        if request.type == RECORD_SET_TYPE:
            await self._write(props, "delete")
        # A database side leaving the topology stops being managed; the database stays as it is.

    async def read(self, request: p.ReadRequest) -> p.ReadResponse:
        inputs = plain_map(request.inputs)
        found, outs = await self.read_plain(request.type, plain_map(request.properties))
        if not found:
            return p.ReadResponse(resource_id=None, properties={}, inputs={})
        return p.ReadResponse(
            resource_id=request.resource_id, properties=wire_map(outs), inputs=wire_map(inputs)
        )

    async def read_plain(self, rtype: str, props: dict[str, Any]) -> tuple[bool, dict[str, Any]]:
        """(whether the resource still exists, its outputs as read back)."""
        if rtype == RECORD_SET_TYPE:
            client = self._client(props)
            live = await self.zones.reader(client, str(props["zone"])).get(
                str(props["name"]), str(props["type"])
            )
            if live is None:
                return False, {}
            ttl, values = live
            return True, outputs(dict(props, ttl=ttl, values=values))
        return True, await asyncio.to_thread(database.read, props)

    async def _write(self, props: dict[str, Any], op: str) -> None:
        client = self._client(props)
        ttl = int(props.get("ttl") or 0)
        values = list(props.get("values") or [])
        change = (op, str(props["name"]), str(props["type"]), ttl, values)
        await self.zones.writer(client, str(props["zone"])).write(change)


def _type_of(urn: str) -> str:
    """urn:pulumi:<stack>::<project>::<parent types$>type::<name> -> type."""
    return urn.split("::")[2].rsplit("$", 1)[-1]


class Servicer(ProviderServicer):
    """The library's servicer, plus Attach: the engine calls it when it attaches to a plugin
    it did not start (PULUMI_DEBUG_PROVIDERS; adapters/pulumi/attach.py).

    Check, Diff and Read read plain property maps straight from protobuf (values.struct_plain)
    and hand anything else (secrets, unknowns) to the library's PropertyValue path: the same
    decisions, at a fraction of the CPU on the engine's serial path (docs/engine.md).
    """

    _provider: OrchestratorProvider

    async def Attach(self, request: Any, context: Any) -> empty_pb2.Empty:  # noqa: N802 (gRPC name)
        self._engine_address = request.address
        return empty_pb2.Empty()

    async def Check(self, request: Any, context: Any) -> Any:  # noqa: N802 (gRPC name)
        # Inputs are accepted as given (as the library's default Provider.check does), so
        # they go back without being decoded.
        return provider_pb2.CheckResponse(inputs=request.news)

    async def Diff(self, request: Any, context: Any) -> Any:  # noqa: N802 (gRPC name)
        olds, news = struct_plain(request.olds), struct_plain(request.news)
        if olds is None or news is None:
            return await super().Diff(request, context)
        decided = self._provider.decide_diff(_type_of(request.urn), olds, news)
        return provider_pb2.DiffResponse(
            replaces=decided.replaces,
            stables=decided.stables,
            deleteBeforeReplace=bool(decided.delete_before_replace),
            changes=provider_pb2.DiffResponse.DIFF_SOME
            if decided.changes
            else provider_pb2.DiffResponse.DIFF_NONE,
            diffs=decided.diffs,
            hasDetailedDiff=True,  # as the library answers: no detailed diff, nothing hidden
        )

    async def Read(self, request: Any, context: Any) -> Any:  # noqa: N802 (gRPC name)
        props, inputs = struct_plain(request.properties), struct_plain(request.inputs)
        if props is None or inputs is None:
            return await super().Read(request, context)
        found, outs = await self._provider.read_plain(_type_of(request.urn), props)
        if not found:
            return provider_pb2.ReadResponse()
        return provider_pb2.ReadResponse(id=request.id, properties=to_struct(outs), inputs=request.inputs)


def _server(provider: OrchestratorProvider, args: list[str]) -> tuple[grpc.aio.Server, int]:
    server = grpc.aio.server(options=_GRPC_CHANNEL_OPTIONS)
    servicer = Servicer(args, __version__, provider, engine_address=args[0] if args else "")
    provider_pb2_grpc.add_ResourceProviderServicer_to_server(servicer, server)
    return server, server.add_insecure_port(address="127.0.0.1:0")


def serve(args: list[str]) -> None:
    """pulumi.provider.experimental.server.main with our servicer: port on stdout, then serve."""

    async def run() -> None:
        server, port = _server(OrchestratorProvider(), args)
        await server.start()
        sys.stdout.buffer.write(f"{port}\n".encode())
        sys.stdout.buffer.flush()
        await server.wait_for_termination()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run())


class InProcess:
    """The plugin served on a thread of this process (the orchestrator's), for one engine run.

    A Python process with gRPC and the Pulumi SDK holds 45-50 MB before any work, and the
    orchestrator has both loaded (docs/engine.md, "The provider plugin runs inside the
    orchestrator"). The plugin's calls run on an event loop of their own, on this thread;
    blocking client calls in worker threads, as in a process of its own.
    """

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._loop = asyncio.new_event_loop()
        self._ready: concurrent.futures.Future[int] = concurrent.futures.Future()
        self._stopped: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, args=(dict(environ),), daemon=True)
        self._thread.name = "provider-plugin"
        self._thread.start()

    def _run(self, environ: dict[str, str]) -> None:
        async def run() -> None:
            try:
                server, port = _server(OrchestratorProvider(environ), [])
                await server.start()
            except BaseException as exc:  # noqa: BLE001 (handed to port())
                self._ready.set_exception(exc)
                return
            self._stopped = asyncio.Event()
            self._ready.set_result(port)
            await self._stopped.wait()
            await server.stop(grace=None)

        try:
            self._loop.run_until_complete(run())
        finally:
            self._loop.close()

    def port(self, timeout: float) -> int:
        return self._ready.result(timeout=timeout)

    def stop(self) -> None:
        with contextlib.suppress(Exception):  # it failed to start: port() reported it
            self._ready.result(timeout=60)  # `_stopped` exists once it serves
        if self._stopped is not None:
            with contextlib.suppress(RuntimeError):  # the loop ended already
                self._loop.call_soon_threadsafe(self._stopped.set)
        self._thread.join(timeout=10)


def main() -> None:
    exit_with_parent()
    serve(sys.argv[1:])


__all__ = ["InProcess", "OrchestratorProvider", "PRIMARY_TYPE", "RECORD_SET_TYPE", "main"]
