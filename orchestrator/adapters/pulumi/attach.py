"""The provider plugin started by us, with the engine attaching to it by port.

Why: the engine hands a provider plugin every config key of its package's namespace in the
PULUMI_CONFIG environment variable (pkg/host/host.go), and this project's config namespace
is the plugin's package, `orchestrator`: the topology. Linux caps one environment string at
128 KiB (MAX_ARG_STRLEN), so with ~900 hostnames carrying health URLs the engine's exec of
`pulumi-resource-orchestrator` failed with "argument list too long", and a large stack could
not be deployed at all. The plugin needs none of that config (server.py, check_config).

So every engine run of ProjectStack starts the plugin itself, with the engine's environment
(the lease fence included), and names its port in PULUMI_DEBUG_PROVIDERS, which makes the
engine attach instead of exec (pkg/resource/plugin/provider_plugin.go). One plugin per
engine run, as when the engine starts it: its zone caches never outlive the run. It exits
with us (parent watch in server.py) and is stopped when the run ends.

ORCHESTRATOR_PROVIDER_ATTACH=0 lets the engine start the plugin itself (small stacks only).

By default the plugin is not even a process of its own: it is served on a thread of the
orchestrator's process (provider/server.py, InProcess), which has the interpreter, gRPC and
the SDK loaded already, with the run's environment handed over as a map. With
ORCHESTRATOR_IN_PROCESS=0 it is a child process, as before.
"""

from __future__ import annotations

import os
import select
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

from orchestrator.adapters.pulumi.environment import in_process
from orchestrator.adapters.pulumi.provider import PACKAGE
from orchestrator.domain.errors import OrchestratorError

ATTACH_ENV = "PULUMI_DEBUG_PROVIDERS"
SWITCH_ENV = "ORCHESTRATOR_PROVIDER_ATTACH"
START_TIMEOUT = 60.0
STOP_TIMEOUT = 5.0


def enabled(env: Mapping[str, str]) -> bool:
    return (env.get(SWITCH_ENV) or os.environ.get(SWITCH_ENV, "1")) not in ("0", "false", "no")


class ServedProvider:
    """The plugin for one engine run, served in this process (provider/server.py, InProcess)."""

    def __init__(self, env: Mapping[str, str], cwd: Path, log: Path) -> None:
        """As StartedProvider; `cwd` and `log` are a child process's, unused here."""
        from orchestrator.adapters.pulumi.provider.server import InProcess

        # What a child would get: this process's environment and the run's.
        environ = {**os.environ, **env}
        environ.pop(ATTACH_ENV, None)
        self._served = InProcess(environ)
        self._attach: dict[str, str] | None = None

    def attach_env(self) -> dict[str, str]:
        if self._attach is None:
            try:
                port = self._served.port(START_TIMEOUT)
            except Exception as exc:
                self._served.stop()
                raise OrchestratorError(
                    "the provider plugin did not start",
                    f"serving it in this process failed: {exc}",
                    "run again with ORCHESTRATOR_IN_PROCESS=0 to start it as a process of its own; "
                    "`make setup` reinstalls the project and its engine",
                ) from exc
            self._attach = {ATTACH_ENV: f"{PACKAGE}:{port}"}
        return self._attach

    def stop(self) -> None:
        self._served.stop()


def start(env: Mapping[str, str], cwd: Path, log: Path) -> Plugin:
    """The plugin for one engine run: served here, or with ORCHESTRATOR_IN_PROCESS=0 a child."""
    if in_process(env):
        return ServedProvider(env, cwd, log)
    return StartedProvider(env, cwd, log)


class StartedProvider:
    """The plugin for one engine run, started now; its port is read when first needed, so a
    caller can start it and prepare the run meanwhile (the plugin takes ~0.3 s to serve)."""

    def __init__(self, env: Mapping[str, str], cwd: Path, log: Path) -> None:
        log.parent.mkdir(parents=True, exist_ok=True)
        child_env = {**os.environ, **env}
        child_env.pop(ATTACH_ENV, None)
        self.log = log
        self._attach: dict[str, str] | None = None
        with log.open("ab") as err:
            self.proc = subprocess.Popen(
                # The engine address is not used by this plugin (no Construct, no engine logging).
                [sys.executable, "-u", "-m", "orchestrator.adapters.pulumi.provider", "127.0.0.1:0"],
                cwd=cwd,
                env=child_env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=err,
            )

    def attach_env(self) -> dict[str, str]:
        """The environment entries that make the engine attach to it (waits for its port)."""
        if self._attach is None:
            self._attach = {ATTACH_ENV: f"{PACKAGE}:{_read_port(self.proc, self.log)}"}
        return self._attach

    def stop(self) -> None:
        _stop(self.proc)


def _read_port(proc: subprocess.Popen[bytes], log: Path) -> int:
    assert proc.stdout is not None
    deadline = time.monotonic() + START_TIMEOUT
    line = b""
    while not line.endswith(b"\n"):
        left = deadline - time.monotonic()
        if left <= 0 or proc.poll() is not None:
            break
        ready, _, _ = select.select([proc.stdout], [], [], left)
        if ready:
            chunk = os.read(proc.stdout.fileno(), 64)
            if not chunk:
                break
            line += chunk
    if line.strip().isdigit():
        return int(line.strip())
    _stop(proc)
    raise OrchestratorError(
        "the provider plugin did not start",
        f"it printed {line[:200]!r} and exited with {proc.returncode}; its log is {log}",
        "read that log; `make setup` reinstalls the project and its engine",
    )


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    if proc.stdout is not None:
        proc.stdout.close()


# The plugin of one engine run, either way: attach_env() when the engine needs it, stop().
Plugin = ServedProvider | StartedProvider
