"""The HTTP API of `orchestrator serve` as a small WSGI application (stdlib only).

Over 400 lines because every route, its tier check and its error mapping sit together, so
that a reviewer sees the whole attack surface in one file.

Routes (docs/openapi.json): GET /healthz, GET /metrics, GET /openapi.json (open);
POST /v1/switchovers/dry-run and POST /v1/switchovers (owner tier), GET /v1/health,
GET /v1/status, GET /v1/switchovers[/{id}] (bearer token or console session). The only
write is POST /v1/switchovers: it starts `orchestrator switch --plan FP --yes` (launcher.py),
which refuses unless the plan still has the reviewed fingerprint and has no blockers.
A console session (a cookie, docs/console.md) stands for the bearer token; a state-changing
request made with it also needs the session's CSRF token. /console/* is the web console.
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
from orchestrator.interfaces.http.openapi import (
    FINGERPRINT_PATTERN,
    GROUP_PATTERN,
    MAX_GROUPS,
    MAX_REASON,
    SWITCH_ID_PATTERN,
    document_json,
)
from orchestrator.interfaces.http.session import SESSION_COOKIE, Session, Sessions, cookies

log = logging.getLogger(__name__)

MAX_BODY = 64 * 1024
OWNER_TIER_HEADER = "X-Owner-Tier"
CSRF_HEADER = "X-CSRF-Token"
JSON = "application/json"
_GROUP_RE = re.compile(GROUP_PATTERN)
_FINGERPRINT_RE = re.compile(FINGERPRINT_PATTERN)
_SWITCH_PATH_RE = re.compile(r"^/v1/switchovers/(?P<id>[^/]+)$")
_SWITCH_ID_RE = re.compile(SWITCH_ID_PATTERN)
_REASONS = {
    200: "OK",
    202: "Accepted",
    303: "See Other",
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

    def execute(
        self, to_groups: tuple[str, ...], mode: str, fingerprint: str, reason: str, client: str
    ) -> dict[str, Any]: ...

    def switches(self, limit: int) -> list[dict[str, Any]]: ...

    def switch(self, switch_id: str) -> dict[str, Any] | None: ...

    def overview(self) -> dict[str, Any]: ...

    def history(self, limit: int) -> list[dict[str, Any]]: ...


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


@dataclass(frozen=True)
class Principal:
    """Who is asking: the bearer token's holder, or a console session derived from it."""

    via: str  # bearer | session
    session: Session | None = None


class Auth:
    """Bearer token, compared in constant time; the token never appears in a response or log."""

    def __init__(self, token: str) -> None:
        if not token:
            raise ValueError("an empty API token would let anyone in")
        self._token = token.encode()
        self.sessions = Sessions(token)

    def token_ok(self, given: str) -> bool:
        return hmac.compare_digest(given.strip().encode(), self._token)

    def principal(self, environ: dict[str, Any]) -> Principal:
        """The bearer token when one is sent, else a valid session cookie, else 401."""
        header = environ.get("HTTP_AUTHORIZATION")
        if not header:
            session = self.sessions.verify(cookies(environ.get("HTTP_COOKIE")).get(SESSION_COOKIE))
            if session is not None:
                return Principal("session", session)
        self.check(header)
        return Principal("bearer")

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


def require_owner_tier(value: str | None, what: str = "the dry-run") -> None:
    if (value or "").strip().lower() != "true":
        raise HttpError(
            403,
            f"{what} is for the stack's owners",
            f"the request has no `{OWNER_TIER_HEADER}: true` header",
            f"send `{OWNER_TIER_HEADER}: true` when acting for the owners of the stack",
        )


def require_owner(principal: Principal, environ: dict[str, Any], what: str) -> None:
    """Bearer: today's `X-Owner-Tier: true` header. Session: opened with the owner tier."""
    if principal.session is None:
        require_owner_tier(environ.get("HTTP_X_OWNER_TIER"), what)
    elif not principal.session.owner:
        raise HttpError(
            403,
            f"{what} is for the stack's owners",
            "this console session was opened without the owner tier",
            "sign out and sign in again with 'I act for the owners of this stack' ticked",
        )


def same_origin(environ: dict[str, Any]) -> bool:
    """An Origin (or Referer) header, when the browser sends one, names this server."""
    host = environ.get("HTTP_HOST") or ""
    for header in ("HTTP_ORIGIN", "HTTP_REFERER"):
        value = environ.get(header)
        if value and value != "null":
            rest = value.split("://", 1)[-1]
            return rest.split("/", 1)[0] == host
    return True


def require_csrf(auth: Auth, principal: Principal, environ: dict[str, Any], given: str | None) -> None:
    """A state-changing request made with a session cookie carries the session's CSRF token.

    A bearer request needs none: a cross-site page cannot make a browser send that header.
    """
    if principal.session is None:
        return
    if not same_origin(environ):
        raise HttpError(
            403,
            "cross-site request refused",
            "the request's Origin is not this server",
            "use the console's own pages",
        )
    if not auth.sessions.csrf_ok(principal.session, given):
        raise HttpError(
            403,
            "the CSRF token is missing or not valid",
            f"a request made with a console session must carry its {CSRF_HEADER} (or csrf form field)",
            "reload the console page and try again",
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


def parse_execute(body: bytes) -> tuple[tuple[str, ...], str, str, str]:
    """(to_groups, mode, fingerprint, reason) of a POST /v1/switchovers body."""
    fix = (
        'send e.g. {"to_groups": ["group-b"], "fingerprint": "<from the dry-run>", '
        '"reason": "INC-1234: group-a is degraded"}'
    )
    try:
        data = json.loads(body.decode("utf-8")) if body.strip() else None
    except (UnicodeDecodeError, ValueError) as exc:
        raise HttpError(400, "the body is not JSON", str(exc), fix) from exc
    if not isinstance(data, dict):
        raise HttpError(400, "the body must be a JSON object", "got " + type(data).__name__, fix)
    rest = {k: v for k, v in data.items() if k in ("to_groups", "mode")}
    extra = sorted(str(k) for k in data if k not in ("to_groups", "mode", "fingerprint", "reason"))
    if extra:
        raise HttpError(
            400, f"unknown field {extra[0]!r}"[:200], "accepted: to_groups, mode, fingerprint, reason", fix
        )
    to_groups, mode = parse_dry_run(json.dumps(rest).encode())
    fingerprint = data.get("fingerprint")
    if not isinstance(fingerprint, str) or not _FINGERPRINT_RE.match(fingerprint):
        raise HttpError(
            400,
            "fingerprint must be the 16 hex digits of the reviewed dry-run",
            f"got {fingerprint!r}"[:200],
            fix,
        )
    reason = data.get("reason")
    if not isinstance(reason, str) or not reason.strip() or len(reason) > MAX_REASON:
        raise HttpError(
            400,
            f"reason must be 1 to {MAX_REASON} characters saying why the switch runs now",
            "every switch started over HTTP is audited with its reason",
            fix,
        )
    return to_groups, mode, fingerprint, " ".join(reason.split())


def parse_limit(environ: dict[str, Any], default: int = 20, most: int = 200) -> int:
    from urllib.parse import parse_qs

    values = parse_qs(environ.get("QUERY_STRING") or "", keep_blank_values=True).get("limit")
    if not values:
        return default
    try:
        limit = int(values[-1])
    except ValueError as exc:
        raise HttpError(400, "limit is not a number", "", f"send ?limit=1..{most}") from exc
    if not 1 <= limit <= most:
        raise HttpError(400, f"limit must be 1 to {most}", f"got {limit}", f"send ?limit=1..{most}")
    return limit


def client_of(environ: dict[str, Any]) -> str:
    return str(environ.get("REMOTE_ADDR") or "unknown")[:64]


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


class Pages(Protocol):
    """The web console (orchestrator.interfaces.http.console): /, /console/*."""

    def owns(self, path: str) -> bool: ...

    def handle(self, method: str, path: str, environ: dict[str, Any]) -> Response: ...


class Api:
    """WSGI callable: `Api(backend, Auth(token))`, optionally with the console's pages."""

    def __init__(self, backend: Backend, auth: Auth, pages: Pages | None = None) -> None:
        self.backend = backend
        self.auth = auth
        self.pages = pages
        get = "GET"
        self.routes: dict[str, dict[str, Callable[[dict[str, Any]], Response]]] = {
            "/healthz": {get: self.alive},
            "/metrics": {get: self.metrics},
            "/openapi.json": {get: self.openapi},
            "/v1/switchovers/dry-run": {"POST": self.dry_run},
            "/v1/health": {get: self.health},
            "/v1/status": {get: self.status},
            "/v1/switchovers": {get: self.list_switches, "POST": self.execute},
        }

    # -- WSGI ---------------------------------------------------------------------------------
    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        path = environ.get("PATH_INFO") or "/"
        method = (environ.get("REQUEST_METHOD") or "GET").upper()
        route = path if path in self.routes else "other"
        if _SWITCH_PATH_RE.match(path):
            route = "/v1/switchovers/{switch_id}"
        elif self.pages is not None and self.pages.owns(path):
            route = "/console"
        try:
            if route == "/console":
                response = self.pages.handle(method, path, environ)  # type: ignore[union-attr]
            else:
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
        if methods is None and _SWITCH_PATH_RE.match(path):
            methods = {"GET": self.get_switch}
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
        who = self.auth.principal(environ)
        require_owner(who, environ, "the dry-run")
        require_csrf(self.auth, who, environ, environ.get("HTTP_X_CSRF_TOKEN"))
        body = read_body(environ)
        to_groups, mode = parse_dry_run(body)
        try:
            report = self.backend.dry_run(to_groups, mode)
        except OrchestratorError as err:
            raise _from_orchestrator_error(err) from err
        return json_response(200, report)

    def health(self, environ: dict[str, Any]) -> Response:
        self.auth.principal(environ)
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
        self.auth.principal(environ)
        try:
            report = self.backend.status()
        except OrchestratorError as err:
            raise _from_orchestrator_error(err) from err
        return json_response(200, report)

    def execute(self, environ: dict[str, Any]) -> Response:
        who = self.auth.principal(environ)
        require_owner(who, environ, "executing a switch")
        require_csrf(self.auth, who, environ, environ.get("HTTP_X_CSRF_TOKEN"))
        to_groups, mode, fingerprint, reason = parse_execute(read_body(environ))
        launch = self.start(to_groups, mode, fingerprint, reason, client_of(environ))
        headers = ()
        if launch.get("switch_id"):
            headers = (("Location", f"/v1/switchovers/{launch['switch_id']}"),)
        return json_response(202, launch, headers)

    def start(
        self, to_groups: tuple[str, ...], mode: str, fingerprint: str, reason: str, client: str
    ) -> dict[str, Any]:
        """Start a confirmed plan (the API and the console's Confirm share this)."""
        try:
            return self.backend.execute(to_groups, mode, fingerprint, reason, client)
        except OrchestratorError as err:
            raise _from_orchestrator_error(err) from err

    def list_switches(self, environ: dict[str, Any]) -> Response:
        self.auth.principal(environ)
        limit = parse_limit(environ)
        try:
            return json_response(200, {"switches": self.backend.switches(limit)})
        except OrchestratorError as err:
            raise _from_orchestrator_error(err) from err

    def get_switch(self, environ: dict[str, Any]) -> Response:
        self.auth.principal(environ)
        switch_id = _SWITCH_PATH_RE.match(environ.get("PATH_INFO") or "")["id"]  # type: ignore[index]
        if not _SWITCH_ID_RE.match(switch_id):
            raise HttpError(
                404,
                "no such switch",
                "a switch id looks like sw-20261121T101500Z-a1b2c3",
                "see /v1/switchovers",
            )
        try:
            found = self.backend.switch(switch_id)
        except OrchestratorError as err:
            raise _from_orchestrator_error(err) from err
        if found is None:
            raise HttpError(404, f"no switch {switch_id} in the journal", "", "see GET /v1/switchovers")
        return json_response(200, found)


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
