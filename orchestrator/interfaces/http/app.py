"""The HTTP API of `orchestrator serve` as a small WSGI application (stdlib only).

Routes (docs/openapi.json): GET /healthz, GET /metrics, GET /openapi.json (open);
POST /v1/switchovers/dry-run (bearer token + `X-Owner-Tier: true`), GET /v1/health,
GET /v1/status (bearer token). Nothing here executes a switch: the dry-run is the
read-only walk of `switch --dry-run` and the backend exposes no other write.
"""

from __future__ import annotations

import hmac
import json
import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from orchestrator.domain.errors import (
    AuthError,
    ConfigError,
    ConflictError,
    EnvironmentProblem,
    OrchestratorError,
    UsageError,
)
from orchestrator.interfaces.http.openapi import GROUP_PATTERN, MAX_GROUPS, document_json

log = logging.getLogger(__name__)

MAX_BODY = 64 * 1024
OWNER_TIER_HEADER = "X-Owner-Tier"
JSON = "application/json"
_GROUP_RE = re.compile(GROUP_PATTERN)
_REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    411: "Length Required",
    413: "Payload Too Large",
    422: "Unprocessable Entity",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
}


class Backend(Protocol):
    """What the API reads; ProjectBackend is the real one, tests pass fakes."""

    def dry_run(self, to_groups: tuple[str, ...], mode: str) -> dict[str, Any]: ...

    def health(self) -> dict[str, Any] | None: ...

    def status(self) -> dict[str, Any]: ...

    def metrics(self, accept: str | None) -> tuple[bytes, str]: ...

    def count(self, route: str, code: int) -> None: ...


@dataclass
class Response:
    status: int
    body: bytes
    content_type: str = JSON
    headers: tuple[tuple[str, str], ...] = ()


class HttpError(Exception):
    def __init__(self, status: int, what: str, why: str = "", fix: str = "", headers=()) -> None:  # noqa: ANN001
        super().__init__(what)
        self.status = status
        self.what = what
        self.why = why
        self.fix = fix
        self.headers = tuple(headers)


def json_response(status: int, data: Any, headers: Iterable[tuple[str, str]] = ()) -> Response:
    body = json.dumps(data, indent=2, sort_keys=True, default=str).encode() + b"\n"
    return Response(status, body, JSON, tuple(headers))


def error_response(err: HttpError) -> Response:
    data: dict[str, Any] = {"error": err.what, "status": err.status}
    if err.why:
        data["why"] = err.why
    if err.fix:
        data["fix"] = err.fix
    return json_response(err.status, data, err.headers)


class Auth:
    """Bearer token, compared in constant time; the token never appears in a response or log."""

    def __init__(self, token: str) -> None:
        if not token:
            raise ValueError("an empty API token would let anyone in")
        self._token = token.encode()

    def check(self, header: str | None) -> None:
        challenge = (("WWW-Authenticate", 'Bearer realm="orchestrator"'),)
        if not header:
            raise HttpError(
                401,
                "authentication required",
                "this route needs `Authorization: Bearer <token>`",
                "send the API token configured for `orchestrator serve`",
                challenge,
            )
        scheme, _, given = header.strip().partition(" ")
        if scheme.lower() != "bearer" or not given.strip():
            raise HttpError(
                401,
                "authentication required",
                "the Authorization header is not a bearer token",
                "send `Authorization: Bearer <token>`",
                challenge,
            )
        if not hmac.compare_digest(given.strip().encode(), self._token):
            raise HttpError(
                401,
                "the bearer token is not valid",
                "it does not match the token `orchestrator serve` was started with",
                "use the token from ORCHESTRATOR_API_TOKEN / ORCHESTRATOR_API_TOKEN_FILE of the server",
                (("WWW-Authenticate", 'Bearer realm="orchestrator", error="invalid_token"'),),
            )


def require_owner_tier(value: str | None) -> None:
    if (value or "").strip().lower() != "true":
        raise HttpError(
            403,
            "the dry-run is for the stack's owners",
            f"the request has no `{OWNER_TIER_HEADER}: true` header",
            f"send `{OWNER_TIER_HEADER}: true` when acting for the owners of the stack",
        )


def parse_dry_run(body: bytes) -> tuple[tuple[str, ...], str]:
    fix = 'send e.g. {"to_groups": ["group-b"]} (optional "mode": "planned" or "failover")'
    try:
        data = json.loads(body.decode("utf-8")) if body.strip() else None
    except (UnicodeDecodeError, ValueError) as exc:
        raise HttpError(400, "the body is not JSON", str(exc), fix) from exc
    if not isinstance(data, dict):
        raise HttpError(400, "the body must be a JSON object", "got " + type(data).__name__, fix)
    extra = sorted(str(k) for k in data if k not in ("to_groups", "mode"))
    if extra:
        raise HttpError(400, f"unknown field {extra[0]!r}", "only to_groups and mode are accepted", fix)
    groups = data.get("to_groups")
    if not isinstance(groups, list) or not groups or len(groups) > MAX_GROUPS:
        raise HttpError(400, "to_groups must be a list of 1 to 16 group names", f"got {groups!r}"[:200], fix)
    for g in groups:
        if not isinstance(g, str) or not _GROUP_RE.match(g):
            raise HttpError(
                400,
                f"{g!r} is not a group name"[:200],
                "a group name has 1-16 characters and none of ; & , \" ' = or space",
                fix,
            )
    mode = data.get("mode", "planned")
    if mode not in ("planned", "failover"):
        raise HttpError(400, f"mode {mode!r} is not planned or failover"[:200], "", fix)
    return tuple(groups), mode


def _from_orchestrator_error(err: OrchestratorError) -> HttpError:
    if isinstance(err, UsageError | ConfigError):
        status = 422
    elif isinstance(err, ConflictError):
        status = 409
    elif isinstance(err, EnvironmentProblem | AuthError):
        status = 503
    else:
        status = 503  # the engine or a server failed: the dependency, not this API
    return HttpError(status, err.what, err.why, err.fix)


class Api:
    """WSGI callable: `Api(backend, Auth(token))`."""

    def __init__(self, backend: Backend, auth: Auth) -> None:
        self.backend = backend
        self.auth = auth
        get = "GET"
        self.routes: dict[str, dict[str, Callable[[dict[str, Any]], Response]]] = {
            "/healthz": {get: self.alive},
            "/metrics": {get: self.metrics},
            "/openapi.json": {get: self.openapi},
            "/v1/switchovers/dry-run": {"POST": self.dry_run},
            "/v1/health": {get: self.health},
            "/v1/status": {get: self.status},
        }

    # -- WSGI ---------------------------------------------------------------------------------
    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        path = environ.get("PATH_INFO") or "/"
        method = (environ.get("REQUEST_METHOD") or "GET").upper()
        route = path if path in self.routes else "other"
        try:
            response = self.dispatch(method, path, environ)
        except HttpError as err:
            response = error_response(err)
        except Exception:  # a bug: say so without details (they may hold secrets); log them
            log.exception("unexpected error serving %s %s", method, path)
            response = error_response(
                HttpError(500, "internal error", "the server hit a bug; its log has the details")
            )
        try:
            self.backend.count(route, response.status)
        except Exception:  # noqa: BLE001 — counting never fails a request
            log.exception("counting a request failed")
        headers = [
            ("Content-Type", response.content_type),
            ("Content-Length", str(len(response.body))),
            ("Cache-Control", "no-store"),
            ("X-Content-Type-Options", "nosniff"),
            *response.headers,
        ]
        start_response(f"{response.status} {_REASONS.get(response.status, 'Unknown')}", headers)
        return [b"" if method == "HEAD" else response.body]

    def dispatch(self, method: str, path: str, environ: dict[str, Any]) -> Response:
        methods = self.routes.get(path)
        if methods is None:
            raise HttpError(404, f"no route {path}"[:200], "", "see /openapi.json for the routes")
        handler = methods.get(method) or (methods.get("GET") if method == "HEAD" else None)
        if handler is None:
            raise HttpError(
                405,
                f"{method} is not allowed on {path}"[:200],
                "",
                f"use {', '.join(sorted(methods))}",
                (("Allow", ", ".join(sorted(methods))),),
            )
        return handler(environ)

    # -- handlers -----------------------------------------------------------------------------
    def alive(self, environ: dict[str, Any]) -> Response:
        return json_response(200, {"status": "ok"})

    def metrics(self, environ: dict[str, Any]) -> Response:
        body, content_type = self.backend.metrics(environ.get("HTTP_ACCEPT"))
        return Response(200, body, content_type)

    def openapi(self, environ: dict[str, Any]) -> Response:
        return Response(200, document_json().encode(), JSON)

    def dry_run(self, environ: dict[str, Any]) -> Response:
        self.auth.check(environ.get("HTTP_AUTHORIZATION"))
        require_owner_tier(environ.get("HTTP_X_OWNER_TIER"))
        body = read_body(environ)
        to_groups, mode = parse_dry_run(body)
        try:
            report = self.backend.dry_run(to_groups, mode)
        except OrchestratorError as err:
            raise _from_orchestrator_error(err) from err
        return json_response(200, report)

    def health(self, environ: dict[str, Any]) -> Response:
        self.auth.check(environ.get("HTTP_AUTHORIZATION"))
        report = self.backend.health()
        if report is None:
            raise HttpError(
                404,
                "no health report yet",
                "no switch has been verified and `orchestrator health` has not run for this stack",
                "run `orchestrator health` (or finish a switch)",
            )
        return json_response(200, report)

    def status(self, environ: dict[str, Any]) -> Response:
        self.auth.check(environ.get("HTTP_AUTHORIZATION"))
        try:
            report = self.backend.status()
        except OrchestratorError as err:
            raise _from_orchestrator_error(err) from err
        return json_response(200, report)


def read_body(environ: dict[str, Any]) -> bytes:
    raw = environ.get("CONTENT_LENGTH") or ""
    try:
        length = int(raw) if raw.strip() else 0
    except ValueError as exc:
        raise HttpError(400, "Content-Length is not a number", "", "send a JSON body") from exc
    if length < 0:
        raise HttpError(400, "Content-Length is negative", "", "send a JSON body")
    if length > MAX_BODY:
        raise HttpError(413, f"the body has {length} bytes; at most {MAX_BODY} are accepted", "", "")
    stream = environ.get("wsgi.input")
    return stream.read(length) if stream is not None and length else b""
