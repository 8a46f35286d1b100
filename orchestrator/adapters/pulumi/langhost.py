"""The Python language host (`pulumi-language-python`) that the Pulumi CLI launches.

Why this exists: Pulumi's own language host is a Go module
(github.com/pulumi/pulumi/sdk/python/cmd/pulumi-language-python/v3) that the Go module
proxy reachable here refuses for every version, so it cannot be built on this machine.
This is a small, complete implementation of the same gRPC service (LanguageRuntime, from
the proto stubs that ship in the `pulumi` Python package). It runs programs and Python
plugins (policy packs) exactly as Pulumi's host does: through Pulumi's own
`pulumi-language-python-exec` script, with the project's virtualenv.

Protocol: the CLI starts `pulumi-language-python <engine-address>` in the project
directory and reads the gRPC port from the first line of stdout.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import json
import os
import platform
import queue
import runpy
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path

import grpc
from google.protobuf import empty_pb2
from pulumi.runtime._grpc_settings import _GRPC_CHANNEL_OPTIONS
from pulumi.runtime.proto import analyzer_pb2_grpc, language_pb2, language_pb2_grpc, plugin_pb2

from orchestrator import __version__
from orchestrator.adapters.processes import exit_with_parent
from orchestrator.adapters.pulumi import environment, program_thread

# The Go plugin front (tools/pluginfront), built beside the CLI by scripts/pulumi-engine.sh:
# it answers a policy pack's per-resource calls that need no Python (docs/engine.md).
# Without it (not on PATH) the pack runs alone: same answers, slower previews.
PLUGIN_FRONT = "orchestrator-plugin-front"

# The program's scheduling priority below the engine's (`nice`; 0 = the same): _program_nice.
PROGRAM_NICE_ENV = "ORCHESTRATOR_PROGRAM_NICE"
PROGRAM_NICE = 10

# The runtime option of a Python policy pack (PulumiPolicy.yaml) that names a function of its
# __main__.py returning the pack's analyzer servicer (or None), for this host to serve in its
# own process: _serve_pack_here.
PACK_IN_PROCESS_OPTION = "inProcessAnalyzer"

EXEC_SCRIPT = "pulumi-language-python-exec"


def _python_for(info: language_pb2.ProgramInfo | None) -> str:
    """The interpreter of the project's virtualenv (runtime option `virtualenv`), else ours."""
    if info is not None and info.options and "virtualenv" in info.options:
        venv = Path(str(info.options["virtualenv"]))
        if not venv.is_absolute():
            venv = Path(info.root_directory or ".") / venv
        candidate = venv / "bin" / "python"
        if candidate.exists():
            return str(candidate)
        raise FileNotFoundError(
            f"the 'virtualenv' runtime option points at {venv}, which has no bin/python; "
            "run `make setup` to create it"
        )
    return sys.executable


def _exec_script() -> str:
    """Pulumi's program runner, installed beside the CLI by scripts/pulumi-engine.sh."""
    found = shutil.which(EXEC_SCRIPT)
    if found:
        return found
    pulumi = shutil.which("pulumi")
    if pulumi:
        beside = Path(pulumi).resolve().parent / EXEC_SCRIPT
        if beside.exists():
            return str(beside)
    raise FileNotFoundError(
        f"{EXEC_SCRIPT} is not on PATH nor beside the pulumi binary; run `make setup` to install the engine"
    )


class LanguageHost(language_pb2_grpc.LanguageRuntimeServicer):
    def __init__(self, engine_address: str) -> None:
        self.engine_address = engine_address

    # -- handshake and metadata ----------------------------------------------------------
    def Handshake(self, request, context):  # noqa: N802 (gRPC method names)
        if request.engine_address:
            self.engine_address = request.engine_address
        return language_pb2.LanguageHandshakeResponse()

    def GetPluginInfo(self, request, context):  # noqa: N802
        return plugin_pb2.PluginInfo(version=__version__)

    def GetRequiredPlugins(self, request, context):  # noqa: N802
        # Automatic plugin downloads are off (no network); the project's provider plugin
        # is found beside the CLI, so nothing has to be acquired up front.
        return language_pb2.GetRequiredPluginsResponse(plugins=[])

    def GetRequiredPackages(self, request, context):  # noqa: N802
        return language_pb2.GetRequiredPackagesResponse(packages=[])

    def About(self, request, context):  # noqa: N802
        try:
            python = _python_for(request.info if request.HasField("info") else None)
        except FileNotFoundError:
            python = sys.executable
        return language_pb2.AboutResponse(
            executable=python,
            version=platform.python_version(),
            metadata={"languageHost": f"orchestrator {__version__}"},
        )

    def GetProgramDependencies(self, request, context):  # noqa: N802
        deps = sorted(
            (d.metadata["Name"], d.version) for d in importlib.metadata.distributions() if d.metadata["Name"]
        )
        return language_pb2.GetProgramDependenciesResponse(
            dependencies=[language_pb2.DependencyInfo(name=n, version=v) for n, v in deps]
        )

    def InstallDependencies(self, request, context):  # noqa: N802
        # Dependencies are installed by `make setup` (pinned in pyproject.toml); the
        # engine only calls this from `pulumi install`/`pulumi new`.
        yield language_pb2.InstallDependenciesResponse(
            stdout=b"dependencies are managed by `make setup` (pyproject.toml)\n"
        )

    def Cancel(self, request, context):  # noqa: N802
        return empty_pb2.Empty()

    # -- running programs ----------------------------------------------------------------
    def Run(self, request, context):  # noqa: N802
        info = request.info if request.HasField("info") else None
        try:
            python = _python_for(info)
        except FileNotFoundError as exc:
            return language_pb2.RunResponse(error=str(exc))
        program_dir = (info.program_directory if info else "") or request.pwd
        entry = (info.entry_point if info else "") or request.program or "."
        program = str(Path(program_dir) / entry)
        if _in_process(python):
            return program_thread.run(request, program, self.engine_address, _program_nice())
        try:
            script = _exec_script()
        except FileNotFoundError as exc:
            return language_pb2.RunResponse(error=str(exc))
        # The config goes through a private file, not the environment: one environment
        # string is capped at 128 KiB and a large topology's config is bigger
        # (langhost_exec.py reads it back into the program's own environment).
        config_dir, config_file = _config_file(
            json.dumps(dict(request.config)), json.dumps(list(request.configSecretKeys))
        )
        args = [
            python,
            "-u",
            "-m",
            "orchestrator.adapters.pulumi.langhost_exec",
            str(config_file),
            script,
            "--monitor",
            request.monitor_address,
            "--engine",
            self.engine_address,
            "--project",
            request.project,
            "--stack",
            request.stack,
            "--pwd",
            request.pwd,
            "--parallel",
            str(request.parallel),
            "--dry_run",
            "true" if request.dryRun else "false",
            "--organization",
            request.organization,
        ]
        if info and info.root_directory:
            args += ["--root_directory", info.root_directory]
        args += [program, *request.args]
        env = dict(os.environ)
        env.pop("PULUMI_CONFIG", None)
        env.pop("PULUMI_CONFIG_SECRET_KEYS", None)
        env.pop("PYTHONHOME", None)
        # The program's output goes to our stdout/stderr, which the CLI relays.
        try:
            proc = _CHILDREN.run(args, cwd=request.pwd or None, env=env, nice=_program_nice())
        finally:
            shutil.rmtree(config_dir, ignore_errors=True)
        return program_thread.answer(proc.returncode)

    def RunPlugin(self, request, context) -> Iterator[language_pb2.RunPluginResponse]:  # noqa: N802
        """Runs a plugin written in Python (a policy pack) and streams its output."""
        info = request.info if request.HasField("info") else None
        python = _python_for(info)
        plugin_dir = (info.program_directory if info else "") or request.program
        env = dict(os.environ)
        for item in request.env:
            key, _, value = item.partition("=")
            env[key] = value
        env.pop("PYTHONHOME", None)
        front = shutil.which(PLUGIN_FRONT, path=env.get("PATH")) if request.kind == "analyzer" else None
        if request.kind == "analyzer" and (here := _serve_pack_here(info, python, plugin_dir)):
            server, port = here
            context.add_callback(lambda: server.stop(grace=None))
            try:
                if front:
                    proc = _CHILDREN.start(
                        [front, "analyzer", "--upstream", f"127.0.0.1:{port}"],
                        cwd=request.pwd or None,
                        env=env,
                        stdout=subprocess.PIPE,
                        stderr=subprocess.PIPE,
                    )
                    yield from _stream(proc, context)
                else:
                    # The engine reads the port, then cancels the stream to stop the plugin.
                    stopped = threading.Event()
                    context.add_callback(stopped.set)
                    yield language_pb2.RunPluginResponse(stdout=f"{port}\n".encode())
                    stopped.wait()
                    yield language_pb2.RunPluginResponse(exitcode=0)
            finally:
                server.stop(grace=None)
            return
        command = [python, "-u", plugin_dir, *request.args]
        config_dir = None
        if "PULUMI_CONFIG" in env:
            # The engine hands a policy pack the whole stack config too (constructEnv in
            # pkg/resource/plugin/analyzer_plugin.go): through a file, as for the program.
            config_dir, config_file = _config_file(
                env.pop("PULUMI_CONFIG"), env.pop("PULUMI_CONFIG_SECRET_KEYS", "")
            )
            command = [python, "-u", "-m", "orchestrator.adapters.pulumi.langhost_exec", str(config_file)]
            command += [plugin_dir, *request.args]
        if front:
            command = [front, "analyzer", "--", *command]
        try:
            proc = _CHILDREN.start(
                command, cwd=request.pwd or None, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
            )
        finally:
            if config_dir:
                # The plugin deletes the file once read; the directory goes when it has started.
                context.add_callback(lambda: shutil.rmtree(config_dir, ignore_errors=True))
        yield from _stream(proc, context)


def _stream(proc: subprocess.Popen, context) -> Iterator[language_pb2.RunPluginResponse]:
    """A plugin's stdout and stderr as the engine reads them, then its exit status; the
    engine cancels the stream to stop the plugin."""
    chunks: queue.Queue[tuple[str, bytes] | None] = queue.Queue()

    def pump(name: str, stream) -> None:
        for chunk in iter(lambda: stream.read1(65536), b""):
            chunks.put((name, chunk))
        chunks.put(None)

    for name, stream in (("stdout", proc.stdout), ("stderr", proc.stderr)):
        threading.Thread(target=pump, args=(name, stream), daemon=True).start()
    open_streams = 2
    context.add_callback(proc.kill)
    while open_streams:
        item = chunks.get()
        if item is None:
            open_streams -= 1
            continue
        name, chunk = item
        yield language_pb2.RunPluginResponse(**{name: chunk})
    code = proc.wait()
    _CHILDREN.forget(proc)
    yield language_pb2.RunPluginResponse(exitcode=code)


def _serve_pack_here(
    info: language_pb2.ProgramInfo | None, python: str, plugin_dir: str
) -> tuple[grpc.Server, int] | None:
    """The policy pack's analyzer served in this process, and its port; None when the pack
    must run as a process of its own.

    A Python process with gRPC and the SDK loaded holds 45-50 MB before any work, and this
    host has both loaded already (docs/engine.md, "The policy pack runs inside the host").
    Only a pack that says how (the `inProcessAnalyzer` runtime option: a function of its
    __main__.py, loaded without running the pack's main) and wants our interpreter is
    served here. Whatever goes wrong on the way, the pack starts as a process of its own,
    which reports the same problem in the way the engine shows.
    """
    options = info.options if info is not None and info.options else None
    entry = str(options[PACK_IN_PROCESS_OPTION]) if options and PACK_IN_PROCESS_OPTION in options else ""
    if not entry or not _in_process(python):
        return None
    try:
        namespace = runpy.run_path(str(Path(plugin_dir) / "__main__.py"), run_name="__orchestrator_pack__")
        servicer = namespace[entry]()
    except Exception:  # noqa: BLE001 (see the docstring: the child reports it)
        return None
    if servicer is None:
        return None
    # As pulumi-policy serves a pack: four workers, the SDK's 400 MB message limit (an
    # AnalyzeStack carries the whole stack).
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4), options=_GRPC_CHANNEL_OPTIONS)
    analyzer_pb2_grpc.add_AnalyzerServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    return server, port


def _in_process(python: str) -> bool:
    """Whether the program or policy pack runs in this process (program_thread.py,
    _serve_pack_here): when it wants our own interpreter (the project's virtualenv) and
    ORCHESTRATOR_IN_PROCESS is not "0"."""
    if not environment.in_process():
        return False
    # Lexically: a pack's virtualenv is "../.venv" from its directory. Not resolved: every
    # virtualenv's python links to the same system interpreter.
    return os.path.normpath(os.path.abspath(python)) == os.path.normpath(os.path.abspath(sys.executable))


def _program_nice() -> int:
    """How much lower the program runs than the engine and the plugins (docs/engine.md).

    The program declares resources far ahead of the engine, which generates their steps one
    at a time, waiting on the plugins; on a machine with few cores the program's CPU delayed
    that serial path (0.6 s of a 1,000-hostname dry-run on two). Lower, it takes what the
    others leave; it still finishes as soon as the engine has answered it.
    """
    try:
        return max(0, min(19, int(os.environ.get(PROGRAM_NICE_ENV, PROGRAM_NICE))))
    except ValueError:
        return PROGRAM_NICE


def _config_file(config: str, secret_keys: str) -> tuple[str, Path]:
    """A private file with the config (and its secret keys) for langhost_exec.py to read back."""
    config_dir = tempfile.mkdtemp(prefix="orchestrator-config-")
    config_file = Path(config_dir) / "config.json"
    fd = os.open(config_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(config + "\n" + secret_keys)
    return config_dir, config_file


class Children:
    """The programs and plugins this host started, killed when the host must exit."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._procs: set[subprocess.Popen] = set()

    def start(self, args: list[str], nice: int = 0, **kwargs) -> subprocess.Popen:
        with self._lock:
            proc = subprocess.Popen(args, **kwargs)
            self._procs.add(proc)
        if nice:
            with contextlib.suppress(OSError):  # gone already: its exit status tells
                os.setpriority(os.PRIO_PROCESS, proc.pid, os.getpriority(os.PRIO_PROCESS, 0) + nice)
        return proc

    def forget(self, proc: subprocess.Popen) -> None:
        with self._lock:
            self._procs.discard(proc)

    def run(self, args: list[str], **kwargs) -> subprocess.CompletedProcess:
        proc = self.start(args, **kwargs)
        try:
            return subprocess.CompletedProcess(args, proc.wait())
        finally:
            self.forget(proc)

    def kill_all(self) -> None:
        with self._lock:
            for proc in self._procs:
                with contextlib.suppress(OSError):  # already gone
                    proc.send_signal(signal.SIGKILL)


_CHILDREN = Children()


def main() -> None:
    # The program would otherwise outlive us: it is our child, not the engine's.
    exit_with_parent(before_exit=_CHILDREN.kill_all)
    engine_address = sys.argv[-1] if len(sys.argv) > 1 and not sys.argv[-1].startswith("-") else ""
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=16),
        options=[("grpc.max_receive_message_length", 400 * 1024 * 1024)],
    )
    language_pb2_grpc.add_LanguageRuntimeServicer_to_server(LanguageHost(engine_address), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    print(port, flush=True)
    try:
        server.wait_for_termination()
    except KeyboardInterrupt:
        # The engine closes its plugins with SIGINT, then waits 5 s before it kills them. A
        # program still running then is one the engine gave up on (a preview refused by the
        # policy pack leaves it waiting in SignalAndWaitForShutdown, deaf to SIGINT inside a
        # gRPC call): stop it now, or every refused preview takes those 5 s longer.
        _CHILDREN.kill_all()
        server.stop(grace=1)
        # A program running in this process (program_thread.py) is stopped by exiting: the
        # interpreter would otherwise wait for the gRPC thread that waits for it.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)


if __name__ == "__main__":
    main()
