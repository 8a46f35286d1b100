"""The web console of `orchestrator serve`: server-rendered pages for the worst day (docs/console.md).

One renderer (about 750 lines, mostly HTML fragments): the pages share their escaping,
badges and tables; a template language would need a package the project does not ship.

Overview, Switch (dry-run report -> Confirm with a reason), live progress and history, read
from the same sources as the CLI. No build step and nothing fetched from elsewhere: one HTML
template and two static files shipped in the package; plain JS only polls the progress.
Every page needs the bearer token or a session cookie derived from it; every POST carries
the session's CSRF token; the token itself is never rendered.
"""

from __future__ import annotations

import html
import json
import re
from datetime import UTC, datetime
from importlib import resources
from string import Template
from typing import Any, Protocol
from urllib.parse import parse_qs, urlencode

from orchestrator.domain.errors import OrchestratorError
from orchestrator.interfaces.http.app import (
    MAX_BODY,
    Auth,
    HttpError,
    Principal,
    Response,
    _from_orchestrator_error,
    client_of,
    parse_dry_run,
    parse_execute,
    read_body,
    require_csrf,
    require_owner,
)
from orchestrator.interfaces.http.openapi import SWITCH_ID_PATTERN
from orchestrator.interfaces.http.session import (
    LOGIN_COOKIE,
    OWNER,
    READER,
    SESSION_COOKIE,
    SESSION_SECONDS,
    clear_cookie,
    cookies,
    set_cookie,
)

HTML = "text/html; charset=utf-8"
PREFIX = "/console"
STATIC = {"console.css": "text/css; charset=utf-8", "console.js": "text/javascript; charset=utf-8"}
# Everything from this server, nothing inline, no frames: a script injected into a value could not run.
SECURITY_HEADERS = (
    (
        "Content-Security-Policy",
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
        "form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
    ),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "same-origin"),
)
_SWITCH_PAGE_RE = re.compile(r"^/console/switches/(?P<id>[^/]+)$")
_SWITCH_ID_RE = re.compile(SWITCH_ID_PATTERN)
FINAL = ("completed", "failed", "rolled-back", "abandoned")


class ConsoleBackend(Protocol):
    def dry_run(self, to_groups: tuple[str, ...], mode: str) -> dict[str, Any]: ...

    def execute(
        self, to_groups: tuple[str, ...], mode: str, fingerprint: str, reason: str, client: str
    ) -> dict[str, Any]: ...

    def switch(self, switch_id: str) -> dict[str, Any] | None: ...

    def overview(self) -> dict[str, Any]: ...

    def history(self, limit: int) -> list[dict[str, Any]]: ...

    def groups(self) -> tuple[tuple[str, ...], tuple[str, ...]]: ...


def h(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _template() -> Template:
    text = resources.files(__package__).joinpath("templates", "page.html").read_text(encoding="utf-8")
    return Template(text)


def _static(name: str) -> bytes:
    return resources.files(__package__).joinpath("static", name).read_bytes()


def _when(value: Any) -> str:
    """Unix seconds or ISO text as `2026-11-29 01:02:03Z` (UTC, as the audit log writes it)."""
    if value is None:
        return "-"
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    return str(value).replace("T", " ").split(".")[0].rstrip("Z") + "Z"


def _secs(value: Any) -> str:
    return "-" if value is None else f"{float(value):.2f}s"


def _groups(values: Any) -> str:
    return ", ".join(values) if values else "(none)"


def _badge(status: str | None, text: str | None = None) -> str:
    kind = {
        "True": "ok",
        "completed": "ok",
        "healthy": "ok",
        "False": "bad",
        "failed": "bad",
        "unhealthy": "bad",
        "running": "run",
    }.get(str(status), "neutral")
    return f'<span class="badge {kind}">{h(text or status)}</span>'


def _error_box(part: dict[str, Any]) -> str:
    rows = [f"<p><strong>error:</strong> {h(part.get('error'))}</p>"]
    if part.get("why"):
        rows.append(f"<p><strong>why:</strong> {h(part['why'])}</p>")
    if part.get("fix"):
        rows.append(f"<p><strong>fix:</strong> {h(part['fix'])}</p>")
    return f'<div class="error" role="alert">{"".join(rows)}</div>'


def _failed(part: Any) -> bool:
    return isinstance(part, dict) and "error" in part


def _table(headers: list[str], rows: list[list[str]], cls: str = "", caption: str = "") -> str:
    head = "".join(f'<th scope="col">{h(x)}</th>' for x in headers)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    cap = f"<caption>{h(caption)}</caption>" if caption else ""
    return f'<table class="{cls}">{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


class Console:
    """The pages; `Api` hands it every request under / and /console."""

    def __init__(self, backend: ConsoleBackend, auth: Auth, stack: str) -> None:
        self.backend = backend
        self.auth = auth
        self.stack = stack
        self.template = _template()

    def owns(self, path: str) -> bool:
        return path == "/" or path == PREFIX or path.startswith(PREFIX + "/")

    # -- dispatch ------------------------------------------------------------------------------
    def handle(self, method: str, path: str, environ: dict[str, Any]) -> Response:
        try:
            return self._route(method, path, environ)
        except HttpError as err:
            if err.status == 401:
                return self._login_page(environ, 401, err.what)
            return self._error_page(environ, err)

    def _route(self, method: str, path: str, environ: dict[str, Any]) -> Response:
        if path in ("/", PREFIX):
            return _redirect(PREFIX + "/")
        if path.startswith(PREFIX + "/static/"):
            self._only(method, ("GET",), path)
            return self._static(path.removeprefix(PREFIX + "/static/"))
        if path == PREFIX + "/login":
            self._only(method, ("GET", "POST"), path)
            return self._login(environ) if method == "POST" else self._login_page(environ, 200)
        if path == PREFIX + "/logout":
            self._only(method, ("POST",), path)
            return self._logout(environ)
        routes = {
            PREFIX + "/": (("GET",), self._overview),
            PREFIX + "/switch": (("GET", "POST"), self._switch),
            PREFIX + "/history": (("GET",), self._history),
        }
        if path in routes:
            allowed, page = routes[path]
            self._only(method, allowed, path)
            return page(method, environ)
        m = _SWITCH_PAGE_RE.match(path)
        if m:
            self._only(method, ("GET",), path)
            return self._progress(m["id"], environ)
        raise HttpError(404, f"no page {path}"[:200], "", f"start at {PREFIX}/")

    @staticmethod
    def _only(method: str, allowed: tuple[str, ...], path: str) -> None:
        if method not in allowed and not (method == "HEAD" and "GET" in allowed):
            raise HttpError(
                405,
                f"{method} is not allowed on {path}"[:200],
                "",
                f"use {', '.join(allowed)}",
                (("Allow", ", ".join(allowed)),),
            )

    # -- rendering -----------------------------------------------------------------------------
    def _page(
        self,
        title: str,
        main: str,
        who: Principal | None,
        status: int = 200,
        headers: tuple[tuple[str, str], ...] = (),
    ) -> Response:
        csrf = self.auth.sessions.csrf(who.session) if who and who.session else ""
        nav = ""
        if who is not None:
            links = [
                ("Overview", f"{PREFIX}/"),
                ("Switch", f"{PREFIX}/switch"),
                ("History", f"{PREFIX}/history"),
            ]
            items = "".join(f'<li><a href="{h(u)}">{h(t)}</a></li>' for t, u in links)
            tier = "owner" if (who.session is None or who.session.owner) else "reader"
            if who.session is not None:
                items += (
                    f'<li><form method="post" action="{PREFIX}/logout" class="inline">'
                    f'<input type="hidden" name="csrf" value="{h(csrf)}">'
                    f'<button type="submit" class="link">Sign out ({h(tier)})</button></form></li>'
                )
            nav = f'<nav aria-label="Console"><ul>{items}</ul></nav>'
        body = self.template.substitute(
            title=h(title), stack=h(self.stack), csrf=h(csrf), nav=nav, main=main
        ).encode()
        return Response(status, body, HTML, (*SECURITY_HEADERS, *headers))

    def _error_page(self, environ: dict[str, Any], err: HttpError) -> Response:
        try:
            who: Principal | None = self.auth.principal(environ)
        except HttpError:
            who = None
        part = {"error": err.what, "why": err.why, "fix": err.fix}
        main = _error_box(part) + f'<p><a href="{PREFIX}/">Back to the overview</a></p>'
        response = self._page(f"Error {err.status}", main, who, err.status)
        return Response(response.status, response.body, HTML, (*response.headers, *err.headers))

    def _static(self, name: str) -> Response:
        if name not in STATIC:
            raise HttpError(404, f"no static file {name}"[:200])
        return Response(200, _static(name), STATIC[name], (("Cache-Control", "no-cache"),))

    # -- login ---------------------------------------------------------------------------------
    def _login_page(self, environ: dict[str, Any], status: int, problem: str | None = None) -> Response:
        import secrets

        nonce = secrets.token_urlsafe(24)
        note = ""
        if problem:
            note = f'<p class="error" role="alert">{h(problem)}</p>'
        main = f"""{note}
<p>Sign in with the API token of this server (ORCHESTRATOR_API_TOKEN). The page keeps a session
cookie derived from it for {SESSION_SECONDS // 3600} hours; the token itself is not stored.</p>
<form method="post" action="{PREFIX}/login" class="card">
  <input type="hidden" name="login_csrf" value="{h(nonce)}">
  <p><label for="token">API token</label><br>
  <input type="password" id="token" name="token" autocomplete="current-password" required size="48"></p>
  <p><input type="checkbox" id="owner" name="owner" value="1">
  <label for="owner">I act for the owners of this stack
  (owner tier: may run dry-runs and switches)</label></p>
  <p><button type="submit">Sign in</button></p>
</form>"""
        headers = (set_cookie(LOGIN_COOKIE, nonce, 600, PREFIX + "/login"),)
        if status == 401:
            headers += (("WWW-Authenticate", 'Bearer realm="orchestrator"'),)
        return self._page("Sign in", main, None, status, headers)

    def _login(self, environ: dict[str, Any]) -> Response:
        form = _form(environ)
        expected = cookies(environ.get("HTTP_COOKIE")).get(LOGIN_COOKIE)
        given = form.get("login_csrf", [""])[-1]
        import hmac

        if not expected or not hmac.compare_digest(given.encode(), expected.encode()):
            raise HttpError(
                403,
                "the sign-in form is stale or was not sent from this server",
                "its CSRF value does not match the cookie of the sign-in page",
                f"open {PREFIX}/login again and sign in there",
            )
        if not self.auth.token_ok(form.get("token", [""])[-1]):
            return self._login_page(
                environ, 401, "The token is not valid: it is not this server's API token."
            )
        session = self.auth.sessions.issue(OWNER if form.get("owner", [""])[-1] == "1" else READER)
        return _redirect(
            PREFIX + "/",
            (
                set_cookie(SESSION_COOKIE, session.cookie, SESSION_SECONDS),
                clear_cookie(LOGIN_COOKIE, PREFIX + "/login"),
            ),
        )

    def _logout(self, environ: dict[str, Any]) -> Response:
        who = self.auth.principal(environ)
        require_csrf(self.auth, who, environ, _form(environ).get("csrf", [""])[-1])
        return _redirect(PREFIX + "/login", (clear_cookie(SESSION_COOKIE),))

    # -- overview ------------------------------------------------------------------------------
    def _overview(self, method: str, environ: dict[str, Any]) -> Response:
        who = self.auth.principal(environ)
        data = self.backend.overview()
        parts = [self._summary(data), self._running(data)]
        parts.append(self._zones(data["status"]))
        parts.append(self._group_health(data["groups"]))
        parts.append(self._databases(data["databases"]))
        parts.append(self._lease(data["lease"]))
        parts.append(self._readiness(data.get("failover_readiness")))
        parts.append(self._switch_list(data["switches"]))
        return self._page("Overview", "".join(parts), who)

    def _readiness(self, paths: Any) -> str:
        head = '<section aria-labelledby="readiness"><h2 id="readiness">Failover readiness</h2>'
        if _failed(paths):
            return head + _error_box(paths) + "</section>"
        if not paths:
            return (
                head + '<p class="placeholder">No failover path checked yet: `orchestrator watch` '
                "dry-runs each path its publish rules could trigger and records the result "
                "(docs/watch.md).</p></section>"
            )
        rows = [
            [
                h(", ".join(p["to_groups"])),
                _badge("True" if p["ready"] else "False", "ready" if p["ready"] else "BLOCKED"),
                h("; ".join(p["blockers"]) or "-"),
                h(_when(p["since"])),
            ]
            for p in paths
        ]
        return head + _table(["failover to", "state", "blockers", "since"], rows) + "</section>"

    def _summary(self, data: dict[str, Any]) -> str:
        status = data["status"]
        if _failed(status):
            return '<section aria-labelledby="now"><h2 id="now">Now</h2>' + _error_box(status) + "</section>"
        cond = status.get("last_switchover_healthy") or {}
        sync = _badge("True" if status["in_sync"] else "False", "in sync" if status["in_sync"] else "drift")
        problems = "".join(f"<li>{h(p)}</li>" for p in status.get("problems") or [])
        return (
            '<section aria-labelledby="now"><h2 id="now">Now</h2>'
            '<p class="big">Active: '
            f'<strong id="active-groups">{h(_groups(status["active_groups"]))}</strong> {sync}</p>'
            f'<p id="last-healthy">{h(cond.get("type", "LastSwitchoverHealthy"))} '
            f"{_badge(cond.get('status'))} {h(cond.get('message'))}"
            f"{' (checked ' + h(_when(cond.get('checkedAt'))) + ')' if cond.get('checkedAt') else ''}</p>"
            + (f'<ul class="problems">{problems}</ul>' if problems else "")
            + "</section>"
        )

    def _running(self, data: dict[str, Any]) -> str:
        switches = data["switches"]
        if _failed(switches):
            return ""
        live = [s for s in switches if s["status"] in ("running", "failed")][:1]
        if not live:
            return ""
        s = live[0]
        return (
            '<p class="banner" role="status">Switch '
            f'<a href="{PREFIX}/switches/{h(s["id"])}">{h(s["id"])}</a> '
            f"({h(_groups(s['from_groups']))} &rarr; {h(_groups(s['to_groups']))}) "
            f"is {_badge(s['status'])}</p>"
        )

    def _zones(self, status: Any) -> str:
        head = '<section aria-labelledby="zones"><h2 id="zones">Active groups per zone</h2>'
        if _failed(status):
            return head + _error_box(status) + "</section>"
        rows = [
            [h(z["zone"]), h(z.get("provider")), h(_groups(z["active_groups"]))]
            for z in status.get("zones", [])
        ]
        return head + _table(["zone", "provider", "published active groups"], rows) + "</section>"

    def _group_health(self, groups: Any) -> str:
        head = '<section aria-labelledby="groups"><h2 id="groups">Groups</h2>'
        if _failed(groups):
            return head + _error_box(groups) + "</section>"
        rows = []
        for g in groups:
            ok = g["healthy"] == g["total"]
            problems = "<br>".join(
                f"{h(e['target'])}: {h(e['problem'])}" for e in g["endpoints"] if not e["healthy"]
            )
            rows.append(
                [
                    f"<strong>{h(g['group'])}</strong>",
                    "active" if g["active"] else "standby",
                    _badge("healthy" if ok else "unhealthy", f"{g['healthy']}/{g['total']} healthy"),
                    problems or "-",
                ]
            )
        return head + _table(["group", "role", "health", "problems"], rows, "groups") + "</section>"

    def _databases(self, pairs: Any) -> str:
        head = '<section aria-labelledby="dbs"><h2 id="dbs">Database primaries</h2>'
        if _failed(pairs):
            return head + _error_box(pairs) + "</section>"
        if not pairs:
            return head + "<p>This stack has no database pairs.</p></section>"
        rows = []
        for p in pairs:
            for c in p["clusters"]:
                lag = "-"
                if c["role"] == "standby":
                    size = c["lag_bytes"] if c["lag_bytes"] is not None else "-"
                    lag = f"{_secs(c['lag_seconds'])} / {h(size)} B"
                rows.append(
                    [
                        h(p["pair"]),
                        h(c["group"]),
                        _badge("True" if c["role"] == "primary" else c["role"], c["role"]),
                        lag,
                        h(c.get("error") or ""),
                    ]
                )
        return head + _table(["pair", "group", "role", "lag (time / bytes)", "error"], rows) + "</section>"

    def _lease(self, lease: Any) -> str:
        head = '<section aria-labelledby="lease"><h2 id="lease">Lease</h2>'
        if _failed(lease):
            return head + _error_box(lease) + "</section>"
        if not lease.get("configured"):
            return head + "<p>No lease configured for this stack.</p></section>"
        if not lease.get("live"):
            epoch = f" (last epoch {h(lease.get('epoch'))})" if lease.get("epoch") is not None else ""
            return head + f"<p>Free: nobody holds the lease{epoch}.</p></section>"
        return (
            head + f"<p>Held by <code>{h(lease['holder'])}</code>, epoch {h(lease['epoch'])}, "
            f"expires {h(_when(lease['expires_at']))}.</p></section>"
        )

    def _switch_list(self, switches: Any) -> str:
        head = '<section aria-labelledby="last"><h2 id="last">Last switches</h2>'
        if _failed(switches):
            return head + _error_box(switches) + "</section>"
        if not switches:
            return head + "<p>No switch yet.</p></section>"
        rows = [
            [
                f'<a href="{PREFIX}/switches/{h(s["id"])}">{h(s["id"])}</a>',
                h(s["kind"]),
                f"{h(_groups(s['from_groups']))} &rarr; {h(_groups(s['to_groups']))}",
                _badge(s["status"]),
                h(_when(s["created_at"])),
                _secs(s["steps_seconds"]),
                _secs(s["recovery_seconds"]),
            ]
            for s in switches
        ]
        return (
            head
            + _table(["switch", "kind", "groups", "status", "started", "steps", "recovery time"], rows)
            + "</section>"
        )

    # -- switch --------------------------------------------------------------------------------
    def _switch(self, method: str, environ: dict[str, Any]) -> Response:
        if method == "POST":
            return self._confirm(environ)
        who = self.auth.principal(environ)
        query = parse_qs(environ.get("QUERY_STRING") or "")
        targets = [t for t in query.get("to", []) if t]
        mode = (query.get("mode") or ["planned"])[-1]
        try:
            known, active = self.backend.groups()
        except OrchestratorError as err:
            raise _from_orchestrator_error(err) from err
        chosen = targets or [g for g in known if g not in active][:1]
        options = "".join(
            f'<option value="{h(g)}"{" selected" if g in chosen else ""}>{h(g)}'
            f"{' (active now)' if g in active else ''}</option>"
            for g in known
        )
        modes = "".join(
            f'<option value="{m}"{" selected" if m == mode else ""}>{label}</option>'
            for m, label in (
                ("planned", "planned (the active group steps back)"),
                ("failover", "failover (the active group is down)"),
            )
        )
        chooser = f"""
<form method="get" action="{PREFIX}/switch" class="card" data-busy="dry-run-busy">
  <p><label for="to">Target group</label>
  <select id="to" name="to">{options}</select>
  <label for="mode">Mode</label>
  <select id="mode" name="mode">{modes}</select>
  <button type="submit" id="show-dry-run">Show the dry-run</button>
  <span id="dry-run-busy" class="busy" hidden role="status">Running the dry-run
  (a Pulumi preview)&hellip;</span></p>
</form>"""
        if not targets:
            return self._page("Switch", chooser, who)
        require_owner(who, environ, "the dry-run")
        to_groups, mode = parse_dry_run(json.dumps({"to_groups": targets, "mode": mode}).encode())
        try:
            report = self.backend.dry_run(to_groups, mode)
        except OrchestratorError as err:
            failed = _from_orchestrator_error(err)
            main = chooser + _error_box({"error": err.what, "why": err.why, "fix": err.fix})
            return self._page("Switch", main, who, failed.status)
        return self._page("Switch", chooser + self._report(report, who), who)

    def _report(self, r: dict[str, Any], who: Principal) -> str:
        blockers = r.get("blockers") or []
        warnings = r.get("warnings") or []
        out = [
            '<section aria-labelledby="report"><h2 id="report">Dry-run report</h2>',
            f'<p class="big">{h(r["kind"])} ({h(r["mode"])}): {h(_groups(r["from_groups"]))} &rarr; '
            f"<strong>{h(_groups(r['to_groups']))}</strong></p>",
            f'<p>Plan fingerprint <code id="fingerprint">{h(r["fingerprint"])}</code> &middot; '
            f"expected {_secs(r.get('expected_seconds'))}</p>",
        ]
        if blockers:
            items = "".join(f"<li>{h(b)}</li>" for b in blockers)
            out.append(
                f'<div class="blockers" role="alert"><h3>Blockers ({len(blockers)})</h3>'
                f'<ul id="blockers">{items}</ul></div>'
            )
        else:
            out.append('<p id="no-blockers">' + _badge("True", "no blockers") + "</p>")
        if warnings:
            items = "".join(f"<li>{h(w)}</li>" for w in warnings)
            out.append(
                f'<div class="warnings"><h3>Warnings ({len(warnings)})</h3>'
                f'<ul id="warnings">{items}</ul></div>'
            )
        rows = [
            [
                h(c["action"]),
                h(c["zone"]),
                f'<span class="endpoint">{h(c["name"])}</span>',
                h(c["type"]),
                h(", ".join(c["current"]) or "-"),
                h(", ".join(c["new"]) or "-"),
            ]
            for c in r.get("changes") or []
        ]
        out.append("<h3>Affected endpoints</h3>")
        out.append(
            _table(["action", "zone", "name", "type", "old targets", "new targets"], rows, "changes")
            if rows
            else "<p>No record changes.</p>"
        )
        if r.get("databases"):
            db_rows = [[h(m["pair"]), h(m.get("from_group")), h(m.get("to_group"))] for m in r["databases"]]
            out.append("<h3>Database primaries that move</h3>" + _table(["pair", "from", "to"], db_rows))
        steps = [
            [
                h(s["name"]),
                _secs(s["expected_seconds"]) if not s.get("skipped") else "-",
                h(s.get("skipped") or ""),
            ]
            for s in r.get("steps") or []
        ]
        out.append("<h3>Steps</h3>" + _table(["step", "expected", "skipped because"], steps, "steps"))
        out.append("</section>")
        out.append(self._confirm_form(r, who, blockers))
        return "".join(out)

    def _confirm_form(self, r: dict[str, Any], who: Principal, blockers: list[str]) -> str:
        csrf = self.auth.sessions.csrf(who.session) if who.session else ""
        hidden = "".join(f'<input type="hidden" name="to" value="{h(g)}">' for g in r["to_groups"])
        disabled = " disabled" if blockers else ""
        why = (
            '<p class="note" id="confirm-why">Confirm is disabled: the plan has blockers. '
            "Fix them and show the dry-run again.</p>"
            if blockers
            else ""
        )
        if r.get("noop"):
            return '<p class="note">Nothing to do: the target is already active and served.</p>'
        return f"""
<section aria-labelledby="confirm-h"><h2 id="confirm-h">Confirm</h2>
<form method="post" action="{PREFIX}/switch" class="card" data-busy="confirm-busy" id="confirm-form">
  <input type="hidden" name="csrf" value="{h(csrf)}">
  {hidden}
  <input type="hidden" name="mode" value="{h(r["mode"])}">
  <input type="hidden" name="fingerprint" value="{h(r["fingerprint"])}">
  <p><label for="reason">Reason (audited)</label><br>
  <input type="text" id="reason" name="reason" required maxlength="500" size="70"
   placeholder="INC-1234: group-a is degraded"{disabled}></p>
  {why}
  <p><button type="submit" id="confirm" class="danger"{disabled}>Confirm switch to
  {h(_groups(r["to_groups"]))} (plan {h(r["fingerprint"])})</button>
  <span id="confirm-busy" class="busy" hidden role="status">Starting: the switch checks the plan
  again&hellip;</span></p>
  <p class="note">Runs exactly this plan: <code>orchestrator switch --to {h(" --to ".join(r["to_groups"]))}
  --plan {h(r["fingerprint"])} --yes</code>. It refuses if the plan changed since this report.</p>
</form></section>"""

    def _confirm(self, environ: dict[str, Any]) -> Response:
        who = self.auth.principal(environ)
        form = _form(environ)
        require_owner(who, environ, "executing a switch")
        require_csrf(self.auth, who, environ, form.get("csrf", [""])[-1])
        body = {
            "to_groups": form.get("to", []),
            "mode": form.get("mode", ["planned"])[-1],
            "fingerprint": form.get("fingerprint", [""])[-1],
            "reason": form.get("reason", [""])[-1],
        }
        to_groups, mode, fingerprint, reason = parse_execute(json.dumps(body).encode())
        try:
            launch = self.backend.execute(to_groups, mode, fingerprint, reason, client_of(environ))
        except OrchestratorError as err:
            failed = _from_orchestrator_error(err)
            again = urlencode([("to", g) for g in to_groups] + [("mode", mode)])
            main = (
                "<p>The switch was refused; nothing changed.</p>"
                + _error_box({"error": err.what, "why": err.why, "fix": err.fix})
                + f'<p><a href="{PREFIX}/switch?{h(again)}">Show the dry-run again</a></p>'
            )
            return self._page("Switch refused", main, who, failed.status)
        if launch.get("switch_id"):
            return _redirect(f"{PREFIX}/switches/{launch['switch_id']}")
        if launch.get("running"):
            main = (
                f"<p>Switch {h(launch['launch_id'])} is still checking its plan. "
                f'It will appear on the <a href="{PREFIX}/">overview</a>.</p>'
            )
            return self._page("Switch starting", main, who, 202)
        return self._page("Nothing to do", "<p>The target is already active and served.</p>", who)

    # -- progress ------------------------------------------------------------------------------
    def _progress(self, switch_id: str, environ: dict[str, Any]) -> Response:
        who = self.auth.principal(environ)
        found = self.backend.switch(switch_id) if _SWITCH_ID_RE.match(switch_id) else None
        if found is None:
            raise HttpError(
                404,
                f"no switch {switch_id}"[:200],
                "the journal has no such switch",
                f"pick one on the overview ({PREFIX}/)",
            )
        s = found["switch"]
        rows = "".join(
            f'<tr data-step="{h(st["name"])}"><td>{h(st["name"])}</td>'
            f'<td class="state">{_badge(st["status"])}</td>'
            f'<td class="duration">{_secs(st.get("duration_s"))}</td>'
            f'<td class="detail">{h(st.get("detail") or "")}</td></tr>'
            for st in s["steps"]
        )
        final = s["status"] in FINAL
        recovery = s.get("recovery_seconds")
        elapsed = "" if recovery is None else f"recovery time {_secs(recovery)}"
        main = f"""
<section aria-labelledby="sw">
<p class="big">{h(s["kind"])} ({h(s["mode"])}): {h(_groups(s["from_groups"]))} &rarr;
<strong>{h(_groups(s["to_groups"]))}</strong> &middot; plan <code>{h(s["fingerprint"])}</code></p>
<p role="status" aria-live="polite">Status:
<span id="switch-status" data-status="{h(s["status"])}">{_badge(s["status"])}</span>
<span id="switch-elapsed">{h(elapsed)}</span>
<span id="switch-error" class="error-text">{h(s.get("error") or "")}</span></p>
<h2 id="sw">Steps</h2>
<table class="steps" id="progress" data-url="/v1/switchovers/{h(s["id"])}"
 data-final="{"1" if final else ""}">
<thead><tr><th scope="col">step</th><th scope="col">state</th><th scope="col">duration</th>
<th scope="col">detail</th></tr></thead><tbody>{rows}</tbody></table>
<p id="launch-error" class="error-text" role="alert">{h(self._launch_error(found))}</p>
</section>
<section aria-labelledby="health-h"><h2 id="health-h">Health report</h2>
<div id="health">{self._health(found.get("health"))}</div></section>"""
        return self._page(f"Switch {s['id']}", main, who)

    @staticmethod
    def _launch_error(found: dict[str, Any]) -> str:
        err = (found.get("launch") or {}).get("error")
        return f"{err['error']} — {err.get('why', '')}" if err else ""

    @staticmethod
    def _health(report: dict[str, Any] | None) -> str:
        if not report:
            return "<p>Not yet: the verify step writes it.</p>"
        cond = report["condition"]
        rows = [[h(c["name"]), _badge(c["status"]), h(c["summary"])] for c in report["checks"]]
        return f"<p>{h(cond['type'])} {_badge(cond['status'])} {h(cond['message'])}</p>" + _table(
            ["check", "status", "summary"], rows
        )

    # -- history -------------------------------------------------------------------------------
    def _history(self, method: str, environ: dict[str, Any]) -> Response:
        who = self.auth.principal(environ)
        try:
            rows = self.backend.history(30)
        except OrchestratorError as err:
            raise _from_orchestrator_error(err) from err
        items = []
        for r in rows:
            sid = r.get("switch_id")
            link = f'<a href="{PREFIX}/switches/{h(sid)}">{h(sid)}</a>' if sid else "-"
            events = "".join(
                f"<li><code>{h(_when(e.get('ts')))}</code> <strong>{h(e.get('type'))}</strong> "
                f"{h(_event_detail(e))}</li>"
                for e in r.get("events") or []
            )
            detail = (
                f"<details><summary>{len(r.get('events') or [])} audit events</summary>"
                f"<ul>{events}</ul></details>"
                if events
                else ""
            )
            items.append(
                [
                    h(_when(r.get("time"))),
                    h(r.get("version") if r.get("version") is not None else "-"),
                    h(r.get("kind") or "-") + " " + (h(r.get("result")) if r.get("result") else ""),
                    link,
                    f"{h(_groups(r.get('from_groups')))} &rarr; {h(_groups(r.get('to_groups')))}"
                    if r.get("to_groups") is not None
                    else "-",
                    _badge(r.get("status")) if r.get("status") else "-",
                    h(r.get("changes") or "")
                    + (f"<br><em>{h(r['note'])}</em>" if r.get("note") else "")
                    + detail,
                ]
            )
        table = _table(
            ["time", "version", "update", "switch", "groups", "switch status", "changes / events"], items
        )
        return self._page("History", table if items else "<p>No history yet.</p>", who)


def _event_detail(e: dict[str, Any]) -> str:
    skip = {"ts", "type", "switch_id", "pid"}
    return " ".join(f"{k}={v}" for k, v in sorted(e.items()) if k not in skip)[:400]


def _form(environ: dict[str, Any]) -> dict[str, list[str]]:
    body = read_body(environ)
    if len(body) > MAX_BODY:
        raise HttpError(413, "the form is too large")
    try:
        return parse_qs(body.decode("utf-8"), keep_blank_values=True, max_num_fields=100)
    except (UnicodeDecodeError, ValueError) as exc:
        raise HttpError(
            400, "the form is not valid", str(exc)[:200], "submit the console's own form"
        ) from exc


def _redirect(location: str, headers: tuple[tuple[str, str], ...] = ()) -> Response:
    return Response(303, b"", HTML, (("Location", location), *SECURITY_HEADERS, *headers))
