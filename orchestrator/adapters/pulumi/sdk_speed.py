"""Four per-resource costs of the Pulumi Python SDK (3.259.0) that our program does without.

Measured with a profiler on the program of a 1,000-hostname stack (2,001 resources):

1. **Output draining is quadratic.** After the program body, `runtime.stack.wait_for_rpcs`
   loops `asyncio.wait(all pending outputs, FIRST_COMPLETED)` (pulumi/pulumi#22411). Each
   round adds and removes a done-callback on every pending task, and during an update outputs
   resolve one resource at a time, so thousands of rounds touch thousands of tasks: 1.3
   million `add_done_callback` calls and about 13 s of the update's 37 s (python/cpython#74741).
   `drain_outputs` waits for the same tasks with one callback each (FIRST_EXCEPTION).
2. **Every SDK debug line is a blocking RPC.** `pulumi.log.debug` calls the engine's Log
   synchronously on the event loop, four times per resource: 3.7 s per run. The engine shows
   those lines only with `--debug`; `ORCHESTRATOR_PROGRAM_DEBUG=1` keeps them.
3. **A source stack trace per resource** (`traceback.extract_stack`, 0.5–0.9 s per run): used
   only to point diagnostics at a line of the program, which for this program is always the
   same line of `program.py`.

4. **A resource class's types, resolved per resource.** `_types.resource_types` runs
   `typing.get_type_hints` (compiling the forward references anew) each time a resource's
   outputs are resolved, though the answer depends on the class alone: about 0.3 s per run.
   It is kept per class.

Each patch applies only to the SDK version it was measured on: another version runs unpatched
(slower, still correct), and a unit test fails so that the pin and this module move together.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Mapping
from importlib.metadata import version
from typing import Any

from pulumi import _types as sdk_types
from pulumi import log
from pulumi.runtime import resource as sdk_resource
from pulumi.runtime import stack as sdk_stack
from pulumi.runtime.proto import source_pb2

MEASURED_ON = "3.259.0"
DEBUG_ENV = "ORCHESTRATOR_PROGRAM_DEBUG"


async def drain_outputs(await_all_outstanding_tasks: bool = True) -> None:
    """`pulumi.runtime.stack.wait_for_rpcs` with a linear wait for outstanding outputs.

    Same contract: RPCs are awaited in turn; every output task is awaited, new ones created
    meanwhile included; the first failure other than ResourceRegistrationFailed (a failed
    resource under continue-on-error) is raised.
    """
    rpc_manager = sdk_stack._get_rpc_manager()  # noqa: SLF001 (the SDK's own state)
    settings = sdk_stack.SETTINGS
    while True:
        while rpc_manager.rpcs:
            await asyncio.sleep(0)
            try:
                await rpc_manager.rpcs.pop()
            except Exception as exn:
                if rpc_manager.unhandled_exception is not None:
                    cause = rpc_manager.unhandled_exception.with_traceback(rpc_manager.exception_traceback)
                    raise exn from cause
                raise
        if rpc_manager.unhandled_exception is not None:
            raise rpc_manager.unhandled_exception.with_traceback(rpc_manager.exception_traceback)
        if await_all_outstanding_tasks:
            while True:
                with settings.lock:
                    if not settings.outputs:
                        break
                    pending = list(settings.outputs)
                    settings.outputs.clear()
                # Returns when all are done or one has failed: each task gets one callback.
                done, not_done = await asyncio.wait(pending, return_when=asyncio.FIRST_EXCEPTION)
                for task in done:
                    # A failed resource under continue-on-error: consumed through
                    # Output.recover, or deliberately left (the SDK's own rule).
                    with contextlib.suppress(sdk_stack.ResourceRegistrationFailed):
                        await task
                if not_done:
                    with settings.lock:
                        settings.outputs.update(not_done)
        if not rpc_manager.rpcs:
            break


def _no_stack_trace() -> source_pb2.StackTrace:
    return source_pb2.StackTrace()


def _no_debug(*_args: Any, **_kwargs: Any) -> None:
    return None


_SDK_RESOURCE_TYPES = sdk_types.resource_types
_RESOURCE_TYPES: dict[type, dict[str, type]] = {}


def resource_types(resource_cls: type) -> dict[str, type]:
    """`_types.resource_types`, resolved once per class (callers get their own dict)."""
    known = _RESOURCE_TYPES.get(resource_cls)
    if known is None:
        known = _RESOURCE_TYPES[resource_cls] = _SDK_RESOURCE_TYPES(resource_cls)
    return dict(known)


def apply(env: Mapping[str, str] = os.environ) -> bool:
    """Installs the patches in this (program) process; False when the SDK is not the measured one."""
    if version("pulumi") != MEASURED_ON:
        return False
    sdk_stack.wait_for_rpcs = drain_outputs
    sdk_resource._get_stack_trace = _no_stack_trace  # noqa: SLF001
    sdk_types.resource_types = resource_types
    if not env.get(DEBUG_ENV):
        log.debug = _no_debug
    return True
