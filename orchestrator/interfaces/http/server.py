"""`orchestrator serve`: the API and the web console on a threaded stdlib WSGI server, loopback by default.

The token comes from $ORCHESTRATOR_API_TOKEN or a file ($ORCHESTRATOR_API_TOKEN_FILE or
`--token-file`, first line); the server refuses to start without one. Dry-runs run one at a
time (each is a Pulumi preview of the same stack). Switches confirmed over HTTP run as
supervised `orchestrator switch` children (launcher.py); stopping the server waits for them.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import signal
import threading
from collections.abc import Callable
from pathlib import Path
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from orchestrator.adapters.files.audit import AuditLog, default_audit_log
from orchestrator.adapters.files.journal import Journal
from orchestrator.adapters.files.paths import state_dir
from orchestrator.domain.errors import UsageError
from orchestrator.interfaces.http import readmodels
from orchestrator.interfaces.http.app import Api, Auth
from orchestrator.interfaces.http.console import Console
from orchestrator.interfaces.http.launcher import STOP_GRACE, Launcher, error_from_output
from orchestrator.services.metrics import StackMetrics

log = logging.getLogger("orchestrator.serve")

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8082
TOKEN_ENV = "ORCHESTRATOR_API_TOKEN"
TOKEN_FILE_ENV = "ORCHESTRATOR_API_TOKEN_FILE"
MIN_TOKEN_LENGTH = 16
DRY_RUN_WAIT = 300.0


def load_token(token_file: Path | None = None, environ: dict[str, str] | None = None) -> str:
    env = os.environ if environ is None else environ
    path = token_file or (Path(env[TOKEN_FILE_ENV]) if env.get(TOKEN_FILE_ENV) else None)
    if path is not None:
        try:
            lines = path.read_text().splitlines()
        except OSError as exc:
            raise UsageError(
                f"the API token file {path} cannot be read",
                str(exc),
                "point --token-file (or ORCHESTRATOR_API_TOKEN_FILE) at a readable file holding the token",
            ) from exc
        token = lines[0].strip() if lines else ""
        source = str(path)
    else:
        token = (env.get(TOKEN_ENV) or "").strip()
        source = TOKEN_ENV
    if not token:
        raise UsageError(
            "`orchestrator serve` has no API token",
            f"set {TOKEN_ENV}, or {TOKEN_FILE_ENV} / --token-file to a file holding it",
            f'e.g. `export {TOKEN_ENV}="$(python3 -c "import secrets; print(secrets.token_urlsafe(32))")"`',
        )
    if len(token) < MIN_TOKEN_LENGTH:
        raise UsageError(
            f"the API token from {source} is too short ({len(token)} characters)",
            f"a token shorter than {MIN_TOKEN_LENGTH} characters can be guessed",
            "generate one with `python3 -c 'import secrets; print(secrets.token_urlsafe(32))'`",
        )
    return token


class ProjectBackend:
    """The real data behind the API, for one stack of one project."""

    def __init__(
        self,
        root: Path,
        stack: str,
        stack_metrics: StackMetrics | None = None,
        launcher: Launcher | None = None,
    ) -> None:
        self.root = root
        self.stack = stack
        self.stack_metrics = stack_metrics or StackMetrics(root, stack)
        self._dry_run_lock = threading.Lock()
        self.journal = Journal(state_dir(root) / "journal")
        self.launcher = launcher or Launcher(
            root,
            stack,
            journal=self.journal,
            audit=AuditLog(default_audit_log(root)),
            log_dir=state_dir(root) / "console",
        )

    def dry_run(self, to_groups: tuple[str, ...], mode: str) -> dict[str, Any]:
        from orchestrator.domain.errors import ConflictError
        from orchestrator.services.switch.dryrun import dry_run

        if not self._dry_run_lock.acquire(timeout=DRY_RUN_WAIT):
            raise ConflictError(
                "another dry-run is still running", "dry-runs run one at a time", "retry in a minute"
            )
        try:
            return dry_run(
                self.root, self.stack, kind="switch", to_groups=to_groups, mode=mode
            ).plan.to_dict()
        finally:
            self._dry_run_lock.release()

    def health(self) -> dict[str, Any] | None:
        from orchestrator.services.health import load_report

        report = load_report(self.root, self.stack)
        return report.to_dict() if report else None

    def status(self) -> dict[str, Any]:
        from orchestrator.services.status import status_for_stack

        return status_for_stack(self.root, self.stack)

    def metrics(self, accept: str | None) -> tuple[bytes, str]:
        return self.stack_metrics.render(accept)

    def count(self, route: str, code: int) -> None:
        self.stack_metrics.metrics.api_requests.labels(route, str(code)).inc()

    def groups(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """(every group of the topology, the active ones): what the console offers as targets."""
        from orchestrator.services.deploy import load

        topology, active = load(self.root, self.stack)
        return tuple(topology.group_names), tuple(active)

    def execute(
        self, to_groups: tuple[str, ...], mode: str, fingerprint: str, reason: str, client: str
    ) -> dict[str, Any]:
        known, _active = self.groups()
        unknown = [g for g in to_groups if g not in known]
        if unknown:  # refused here, before anything is audited or started
            raise UsageError(
                f"unknown group '{unknown[0]}'",
                f"stack '{self.stack}' defines {', '.join(known)}",
                "use one of those names",
            )
        return self._launch_dict(self.launcher.launch(to_groups, mode, fingerprint, reason, client))

    def _launch_dict(self, launch: Any) -> dict[str, Any]:
        data = launch.to_dict()
        if launch.returncode:
            err = error_from_output(launch.returncode, self.launcher.output(launch))
            data["error"] = {"error": err.what, "why": err.why, "fix": err.fix, "status": launch.returncode}
        return data

    def switches(self, limit: int) -> list[dict[str, Any]]:
        return [readmodels.record_summary(r) for r in self.journal.list(self.stack)[:limit]]

    def switch(self, switch_id: str) -> dict[str, Any] | None:
        try:
            record = self.journal.load(switch_id)
        except UsageError:
            return None
        if record.stack != self.stack:
            return None
        launch = self.launcher.by_switch(switch_id)
        report = self.health()
        return {
            "switch": readmodels.record_summary(record),
            "launch": self._launch_dict(launch) if launch else None,
            "health": report if report and report.get("switch_id") == switch_id else None,
        }

    def overview(self) -> dict[str, Any]:
        return readmodels.overview(self.root, self.stack, lambda: self.journal.list(self.stack))

    def history(self, limit: int) -> list[dict[str, Any]]:
        return readmodels.history(self.root, self.stack, self.journal.list(self.stack), limit)


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 — the base class's name
        log.info("%s %s", self.address_string(), format % args)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def make_api_server(host: str, port: int, app: Api) -> WSGIServer:
    try:
        return make_server(host, port, app, server_class=_ThreadingWSGIServer, handler_class=_QuietHandler)
    except OSError as exc:
        raise UsageError(
            f"`orchestrator serve` cannot listen on {host}:{port}",
            str(exc),
            "pick another --port (or stop what listens there)",
        ) from exc


def run(
    root: Path,
    stack: str,
    *,
    host: str,
    port: int,
    token: str,
    echo: Callable[[str], None],
    grace: float = STOP_GRACE,
) -> None:
    """Serve until SIGTERM or SIGINT; then let a switch this server started finish (up to `grace` s)."""
    backend = ProjectBackend(root, stack)
    auth = Auth(token)
    app = Api(backend, auth, Console(backend, auth, stack))
    server = make_api_server(host, port, app)
    bound_host, bound_port = server.server_address[:2]
    if not is_loopback(host):
        echo(f"warning: listening on {host}, not loopback: anyone who can reach it may try the token")
    echo(f"orchestrator serve: stack '{stack}' on http://{bound_host}:{bound_port} (console: /console/)")

    def stop(*_: Any) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
        backend.launcher.stop(grace, echo)
    echo("orchestrator serve: stopped")
