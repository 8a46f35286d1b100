"""Runs the stack's program inside the language host, on a thread of its own.

Why: every Python process that loads gRPC and the Pulumi SDK holds 45-50 MB before it does any
work. The language host has both loaded already, and it only waits while the program runs; a
program in a child process of its own was one more such interpreter at the switch's peak of
memory (docs/engine.md, "The program runs inside the host").

How: as Pulumi's own in-process host runs an inline program
(`pulumi.automation._server.LanguageServer.Run`): the SDK's settings are reset, the config is
set, and the program runs in `run_in_stack` on an event loop of its own. Errors are reported as
`pulumi-language-python-exec` reports them: logged to the engine, then the engine is told to
bail without printing another one. Nothing leaks from one run into the next: `reset_options`
sets every one of the SDK's settings and clears its root resource, and the config is set anew.
All are context variables, which a new thread starts without: so the policy pack served in
this process (langhost._serve_pack_here), which sets them on its own gRPC threads, never
reaches the program's.

The thread runs `nice` levels below the engine (langhost._program_nice); on Linux the priority
belongs to a thread, and the threads it starts (the event loop's executor) inherit it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import runpy
import sys
import threading
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from pulumi import log
from pulumi.errors import RunError
from pulumi.runtime import run_in_stack, set_all_config
from pulumi.runtime.proto import language_pb2
from pulumi.runtime.settings import reset_options

from orchestrator.adapters.pulumi.langhost_exec import exit_status

# pulumi-language-python-exec's status for "the error has been shown to the user".
EXIT_SHOWN_TO_USER = 32
T = TypeVar("T")


def run(
    request: language_pb2.RunRequest, program: str, engine_address: str, nice: int
) -> language_pb2.RunResponse:
    """Runs `program` (a file or a directory with __main__.py) for the engine's `request`."""
    return on_own_thread(lambda: _run(request, program, engine_address), nice)


def on_own_thread(fn: Callable[[], T], nice: int) -> T:
    """fn(), on a new thread `nice` levels below this one; its exception is raised here."""
    outcome: list[tuple[bool, Any]] = []

    def body() -> None:
        if nice:
            tid = threading.get_native_id()
            with contextlib.suppress(OSError):
                os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + nice))
        try:
            outcome.append((True, fn()))
        except BaseException as exc:  # noqa: BLE001 (handed to the caller's thread)
            outcome.append((False, exc))

    # A daemon: a program the engine has given up on must not keep the host from exiting.
    thread = threading.Thread(target=body, name="pulumi-program", daemon=True)
    thread.start()
    thread.join()
    ok, value = outcome[0]
    if not ok:
        raise value
    return value


def _run(request: language_pb2.RunRequest, program: str, engine_address: str) -> language_pb2.RunResponse:
    # As pulumi-language-python-exec: asyncio's complaints about the futures of a failed
    # program are noise the user cannot act on.
    logging.getLogger("asyncio").setLevel(logging.CRITICAL)
    info = request.info if request.HasField("info") else None
    reset_options(
        project=request.project,
        stack=request.stack,
        root_directory=(info.root_directory if info else "") or None,
        parallel=request.parallel,
        engine_address=engine_address,
        monitor_address=request.monitor_address,
        preview=request.dryRun,
        organization=request.organization or None,
    )
    set_all_config(dict(request.config), list(request.configSecretKeys))
    if request.pwd:
        os.chdir(request.pwd)
    sys.argv = [program, *request.args]
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    executor = ThreadPoolExecutor(max_workers=max(request.parallel, 1) * 4)
    loop.set_default_executor(executor)
    try:
        loop.run_until_complete(run_in_stack(lambda: runpy.run_path(program, run_name="__main__")))
        return language_pb2.RunResponse()
    except RunError as exc:
        log.error(str(exc))
        return language_pb2.RunResponse(bail=True)
    except SystemExit as exc:
        return answer(exit_status(exc.code))
    except Exception:  # noqa: BLE001 (any failure of the program is the user's to read)
        log.error(f"Program failed with an unhandled exception:\n{traceback.format_exc()}")
        return language_pb2.RunResponse(bail=True)
    finally:
        for task in asyncio.all_tasks(loop):
            task.cancel()
            with contextlib.suppress(BaseException):
                loop.run_until_complete(task)
        loop.close()
        executor.shutdown(wait=False)
        sys.stdout.flush()
        sys.stderr.flush()


def answer(status: int) -> language_pb2.RunResponse:
    """The engine's answer for a program that ended with this exit status (in a child process,
    or here through sys.exit)."""
    if status == 0:
        return language_pb2.RunResponse()
    if status == EXIT_SHOWN_TO_USER:
        return language_pb2.RunResponse(bail=True)
    return language_pb2.RunResponse(error=f"Program exited with non-zero exit code: {status}")
