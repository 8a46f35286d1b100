"""The web console's pages, sessions and CSRF against a fake backend (no servers, no browser)."""

from __future__ import annotations

import json
import re
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orchestrator.interfaces.http.app import Api, Auth
from orchestrator.interfaces.http.console import Console
from orchestrator.interfaces.http.session import LOGIN_COOKIE, SESSION_COOKIE, Sessions
from tests.unit.test_api import BEARER, TOKEN, FakeBackend
from tests.unit.test_api import call as call_api

FORM = {"Content-Type": "application/x-www-form-urlencoded", "Host": "127.0.0.1:8082"}


@pytest.fixture
def backend() -> FakeBackend:
    return FakeBackend()


@pytest.fixture
def app(backend: FakeBackend) -> Api:
    auth = Auth(TOKEN)
    return Api(backend, auth, Console(backend, auth, "e2e"))


def call(
    app: Api, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    """test_api's call, keeping every Set-Cookie header (joined by newlines)."""
    cookies: list[str] = []

    def keep(environ: dict[str, Any], start_response: Any) -> Any:
        environ["PATH_INFO"], _, environ["QUERY_STRING"] = environ["PATH_INFO"].partition("?")

        def start(status: str, hdrs: list[tuple[str, str]]) -> None:
            cookies.extend(v for k, v in hdrs if k == "Set-Cookie")
            start_response(status, hdrs)

        return app(environ, start)

    status, got, data = call_api(keep, method, path, body, headers)  # type: ignore[arg-type]
    if cookies:
        got["Set-Cookie"] = "\n".join(cookies)
    return status, got, data


def set_cookies(headers: dict[str, str]) -> SimpleCookie:
    jar: SimpleCookie = SimpleCookie()
    for line in headers.get("Set-Cookie", "").splitlines():
        jar.load(line)
    return jar


def login(app: Api, owner: bool = True) -> tuple[str, str]:
    """Sign in through the form; returns (Cookie header, CSRF token of the session)."""
    status, headers, page = call(app, "GET", "/console/login")
    assert status == 200
    nonce = set_cookies(headers)[LOGIN_COOKIE].value
    assert f'value="{nonce}"' in page.decode()
    form = {"login_csrf": nonce, "token": TOKEN} | ({"owner": "1"} if owner else {})
    status, headers, _ = call(
        app, "POST", "/console/login", urlencode(form).encode(), FORM | {"Cookie": f"{LOGIN_COOKIE}={nonce}"}
    )
    assert status == 303 and headers["Location"] == "/console/"
    raw = headers["Set-Cookie"]
    assert "HttpOnly" in raw and "SameSite=Strict" in raw
    cookie = f"{SESSION_COOKIE}={set_cookies(headers)[SESSION_COOKIE].value}"
    status, _, page = call(app, "GET", "/console/", None, {"Cookie": cookie})
    assert status == 200
    csrf = re.search(r'<meta name="csrf-token" content="([0-9a-f]+)">', page.decode())
    assert csrf, page[:500]
    return cookie, csrf[1]


def test_pages_without_the_token_are_refused_with_the_sign_in_form(app: Api) -> None:
    for path in (
        "/console/",
        "/console/switch",
        "/console/history",
        "/console/switches/sw-20261129T010203Z-abcdef",
    ):
        status, headers, page = call(app, "GET", path)
        assert status == 401, path
        assert 'action="/console/login"' in page.decode() and "Active:" not in page.decode()
        assert headers["WWW-Authenticate"].startswith("Bearer")
    assert call(app, "GET", "/")[1]["Location"] == "/console/"
    # A forged or expired cookie is no session.
    forged = f"{SESSION_COOKIE}=v1.9999999999.owner.00.{'0' * 64}"
    assert call(app, "GET", "/console/", None, {"Cookie": forged})[0] == 401
    expired = Sessions(TOKEN, clock=lambda: 0.0).issue("owner").cookie
    assert call(app, "GET", "/console/", None, {"Cookie": f"{SESSION_COOKIE}={expired}"})[0] == 401
    # The bearer token works for pages too (curl), and the static files are open.
    assert call(app, "GET", "/console/", None, BEARER)[0] == 200
    assert call(app, "GET", "/console/static/console.js")[0] == 200
    assert call(app, "GET", "/console/static/../app.py")[0] == 404


def test_a_wrong_token_or_a_forged_sign_in_form_gets_no_session(app: Api) -> None:
    _, headers, _ = call(app, "GET", "/console/login")
    nonce = set_cookies(headers)[LOGIN_COOKIE].value
    cookie = {"Cookie": f"{LOGIN_COOKIE}={nonce}"}
    body = urlencode({"login_csrf": nonce, "token": "x" * 32}).encode()
    status, headers, _ = call(app, "POST", "/console/login", body, FORM | cookie)
    assert status == 401 and SESSION_COOKIE not in headers.get("Set-Cookie", "")
    body = urlencode({"login_csrf": "other", "token": TOKEN}).encode()
    status, headers, _ = call(app, "POST", "/console/login", body, FORM | cookie)
    assert status == 403 and SESSION_COOKIE not in headers.get("Set-Cookie", "")


def test_the_overview_shows_the_stack_and_never_the_token(app: Api) -> None:
    cookie, csrf = login(app)
    status, headers, page = call(app, "GET", "/console/", None, {"Cookie": cookie})
    text = page.decode()
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert "default-src 'none'" in headers["Content-Security-Policy"]
    assert 'id="active-groups">group-a<' in text and "Failover readiness" in text
    assert "No failover path checked yet" in text  # no watch has checked: nothing made up
    assert TOKEN not in text and cookie.split("=", 1)[1] not in text


def test_the_report_renders_endpoints_and_fingerprint_and_confirm_is_enabled(
    app: Api, backend: FakeBackend
) -> None:
    cookie, _ = login(app)
    status, _, page = call(app, "GET", "/console/switch", None, {"Cookie": cookie})
    assert status == 200 and '<option value="group-b" selected>' in page.decode()
    report = backend.dry_run(("group-b",), "planned")
    status, _, page = call(app, "GET", "/console/switch?to=group-b&mode=planned", None, {"Cookie": cookie})
    text = page.decode()
    assert status == 200
    assert f'<code id="fingerprint">{report["fingerprint"]}</code>' in text
    assert '<span class="endpoint">www.app.example.test</span>' in text and "127.0.120.1" in text
    confirm = re.search(r'<button type="submit" id="confirm"[^>]*>', text)[0]
    assert "disabled" not in confirm


def test_blockers_disable_confirm_and_a_forged_post_is_refused(app: Api, backend: FakeBackend) -> None:
    cookie, csrf = login(app)
    backend.blockers = ["policy target-group-healthy: group-b has 0 healthy endpoint(s) of 3"]
    status, _, page = call(app, "GET", "/console/switch?to=group-b", None, {"Cookie": cookie})
    text = page.decode()
    assert status == 200 and 'id="blockers"' in text and "target-group-healthy" in text
    assert re.search(r'<button type="submit" id="confirm"[^>]*disabled', text)
    fp = re.search(r'<code id="fingerprint">([0-9a-f]{16})</code>', text)[1]
    form = urlencode(
        {"csrf": csrf, "to": "group-b", "mode": "planned", "fingerprint": fp, "reason": "forged"}
    )
    status, _, page = call(app, "POST", "/console/switch", form.encode(), FORM | {"Cookie": cookie})
    assert status == 409 and "blocked" in page.decode() and backend.executed == []


def test_confirm_needs_csrf_owner_tier_and_a_reason_then_redirects_to_progress(
    app: Api, backend: FakeBackend
) -> None:
    cookie, csrf = login(app)
    fp = backend.dry_run(("group-b",), "planned")["fingerprint"]
    base = {"to": "group-b", "mode": "planned", "fingerprint": fp, "reason": "INC-1: group-a degraded"}
    headers = FORM | {"Cookie": cookie}
    # No CSRF token, a wrong one, or another site's Origin: refused, nothing started.
    for form, extra in (
        (base, {}),
        (base | {"csrf": "0" * 64}, {}),
        (base | {"csrf": csrf}, {"Origin": "http://evil.example"}),
    ):
        status, _, _ = call(app, "POST", "/console/switch", urlencode(form).encode(), headers | extra)
        assert status == 403
    status, _, _ = call(
        app, "POST", "/console/switch", urlencode(base | {"csrf": csrf, "reason": " "}).encode(), headers
    )
    assert status == 400
    # A reader session (no owner tier) may look but not execute.
    reader, reader_csrf = login(app, owner=False)
    form = urlencode(base | {"csrf": reader_csrf}).encode()
    assert call(app, "POST", "/console/switch", form, FORM | {"Cookie": reader})[0] == 403
    assert call(app, "GET", "/console/switch?to=group-b", None, {"Cookie": reader})[0] == 403
    assert backend.executed == []
    # A plan that changed since the report is refused.
    stale = urlencode(base | {"csrf": csrf, "fingerprint": "0" * 16}).encode()
    status, _, page = call(
        app, "POST", "/console/switch", stale, headers | {"Origin": "http://127.0.0.1:8082"}
    )
    assert status == 409 and "plan changed" in page.decode()
    status, got, _ = call(app, "POST", "/console/switch", urlencode(base | {"csrf": csrf}).encode(), headers)
    assert status == 303 and got["Location"] == "/console/switches/sw-20261129T010203Z-abcdef"
    assert backend.executed == [
        (("group-b",), "planned", fp, "INC-1: group-a degraded", "unknown")
    ]  # no REMOTE_ADDR in a bare environ
    status, _, page = call(app, "GET", got["Location"], None, {"Cookie": cookie})
    assert status == 200 and 'data-step="acquire-lease"' in page.decode()


def test_the_api_accepts_a_session_with_its_csrf_token(app: Api, backend: FakeBackend) -> None:
    cookie, csrf = login(app)
    fp = backend.dry_run(("group-b",), "planned")["fingerprint"]
    body = json.dumps({"to_groups": ["group-b"], "fingerprint": fp, "reason": "drill"}).encode()
    headers: dict[str, Any] = {"Cookie": cookie, "Content-Type": "application/json"}
    assert call(app, "POST", "/v1/switchovers", body, headers)[0] == 403  # no CSRF header
    status, got, data = call(app, "POST", "/v1/switchovers", body, headers | {"X-CSRF-Token": csrf})
    assert status == 202 and got["Location"] == "/v1/switchovers/sw-20261129T010203Z-abcdef", data
    assert call(app, "GET", got["Location"], None, {"Cookie": cookie})[0] == 200
    assert call(app, "GET", "/v1/switchovers", None, {"Cookie": cookie})[0] == 200


def test_sign_out_needs_csrf_and_clears_the_cookie(app: Api) -> None:
    cookie, csrf = login(app)
    assert call(app, "POST", "/console/logout", b"", FORM | {"Cookie": cookie})[0] == 403
    status, headers, _ = call(
        app, "POST", "/console/logout", urlencode({"csrf": csrf}).encode(), FORM | {"Cookie": cookie}
    )
    assert status == 303 and f"{SESSION_COOKIE}=;" in headers["Set-Cookie"]


header_values = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=60)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS"]),
    path=st.one_of(
        st.sampled_from(
            [
                "/",
                "/console",
                "/console/",
                "/console/login",
                "/console/logout",
                "/console/switch",
                "/console/switch?to=group-b",
                "/console/switch?to=group-x&mode=nope",
                "/console/history",
                "/console/switches/sw-20261129T010203Z-abcdef",
                "/console/switches/nope",
                "/console/static/console.css",
                "/console/static/nope",
            ]
        ),
        st.text(st.characters(min_codepoint=33, max_codepoint=126), max_size=30).map(
            lambda s: "/console/" + s
        ),
    ),
    session=st.booleans(),
    cookie=st.one_of(st.none(), header_values),
    origin=st.one_of(st.none(), st.just("http://127.0.0.1:8082"), header_values),
    body=st.one_of(
        st.none(),
        st.binary(max_size=200),
        st.dictionaries(
            st.sampled_from(["csrf", "to", "mode", "fingerprint", "reason", "token", "login_csrf", "owner"]),
            header_values,
            max_size=6,
        ).map(lambda d: urlencode(d).encode()),
    ),
)
def test_any_console_request_is_answered_without_a_server_error(
    method: str, path: str, session: bool, cookie: str | None, origin: str | None, body: bytes | None
) -> None:
    backend = FakeBackend()
    auth = Auth(TOKEN)
    app = Api(backend, auth, Console(backend, auth, "e2e"))
    headers = dict(FORM)
    if session:
        headers["Cookie"] = f"{SESSION_COOKIE}={auth.sessions.issue('owner').cookie}"
    elif cookie is not None:
        headers["Cookie"] = cookie
    if origin is not None:
        headers["Origin"] = origin
    status, _, page = call(app, method, path, body, headers)
    assert status < 500, (status, page[:300])
    assert TOKEN.encode() not in page
    if status == 200 and not path.startswith("/console/static/") and "/login" not in path:
        assert session  # a page with content needs a session (or the bearer token)
    assert backend.executed == []  # no generated request carries the session's CSRF token


def test_the_console_guide_links_its_screenshots_and_is_linked_from_the_readme() -> None:
    repo = Path(__file__).resolve().parents[2]
    guide = (repo / "docs" / "console.md").read_text()
    images = re.findall(r"\]\((img/[^)]+\.png)\)", guide)
    assert sorted(images) == ["img/console-overview.png", "img/console-switch-running.png"]
    for image in images:
        assert (repo / "docs" / image).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "(docs/console.md)" in (repo / "README.md").read_text()


def test_the_overview_shows_each_failover_path_watch_checked(app: Api, backend: FakeBackend) -> None:
    backend.readiness = (
        {
            "to_groups": ["group-b"],
            "ready": False,
            "blockers": ["replica-caught-up: lags"],
            "since": None,
        },
    )
    cookie, _ = login(app)
    status, _, page = call(app, "GET", "/console/", None, {"Cookie": cookie})
    text = page.decode()
    assert status == 200 and "BLOCKED" in text and "replica-caught-up: lags" in text
