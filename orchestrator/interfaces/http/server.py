"""`orchestrator serve`: the API on a threaded stdlib WSGI server, loopback by default.

The token comes from $ORCHESTRATOR_API_TOKEN or a file ($ORCHESTRATOR_API_TOKEN_FILE or
`--token-file`, first line); the server refuses to start without one. Dry-runs run one at a
time (each is a Pulumi preview of the same stack).
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

from orchestrator.domain.errors import UsageError
from orchestrator.interfaces.http.app import Api, Auth
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

    def __init__(self, root: Path, stack: str, stack_metrics: StackMetrics | None = None) -> None:
        self.root = root
        self.stack = stack
        self.stack_metrics = stack_metrics or StackMetrics(root, stack)
        self._dry_run_lock = threading.Lock()

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
) -> None:
    """Serve until SIGTERM or SIGINT."""
    app = Api(ProjectBackend(root, stack), Auth(token))
    server = make_api_server(host, port, app)
    bound_host, bound_port = server.server_address[:2]
    if not is_loopback(host):
        echo(f"warning: listening on {host}, not loopback: anyone who can reach it may try the token")
    echo(f"orchestrator serve: stack '{stack}' on http://{bound_host}:{bound_port} (never executes a switch)")

    def stop(*_: Any) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
    echo("orchestrator serve: stopped")
