"""`orchestrator serve`'s API: auth, owner tier, routes, errors, the OpenAPI document (fake backend)."""

from __future__ import annotations

import io
import json
import secrets
import threading
from pathlib import Path
from typing import Any
from wsgiref.util import setup_testing_defaults

import pytest
import requests

from orchestrator.domain.errors import ConflictError, EnvironmentProblem, OrchestratorError, UsageError
from orchestrator.domain.switch.plan import EndpointChange, build_plan
from orchestrator.interfaces.http.app import MAX_BODY, Api, Auth
from orchestrator.interfaces.http.openapi import document, document_json
from orchestrator.interfaces.http.server import load_token, make_api_server
from orchestrator.services.metrics import Metrics

REPO = Path(__file__).resolve().parents[2]
TOKEN = "t0k3n-" + "x" * 26
GROUPS = ("group-a", "group-b")


class FakeBackend:
    """Answers like ProjectBackend for a stack with group-a active; records what was asked."""

    def __init__(self) -> None:
        self.dry_runs: list[tuple[tuple[str, ...], str]] = []
        self.report: dict[str, Any] | None = None
        self.fail_with: Exception | None = None
        self.metrics_obj = Metrics()
        self.executed = []
        self.records = {}
        self.blockers: list[str] = []

    def dry_run(self, to_groups: tuple[str, ...], mode: str) -> dict[str, Any]:
        self.dry_runs.append((to_groups, mode))
        if self.fail_with:
            raise self.fail_with
        unknown = [g for g in to_groups if g not in GROUPS]
        if unknown:
            raise UsageError(f"unknown group '{unknown[0]}'", "the stack defines group-a, group-b", "use one")
        changes = [
            EndpointChange(
                "MODIFY", "app.example.test", "www.app.example.test", "A", ("127.0.110.1",), ("127.0.120.1",)
            )
        ]
        plan = build_plan(
            stack="e2e",
            kind="switch",
            mode=mode,
            from_groups=("group-a",),
            to_groups=tuple(sorted(set(to_groups))),
            changes=changes if "group-b" in to_groups else [],
            extra_blockers=list(self.blockers),
        )
        return plan.to_dict()

    def health(self) -> dict[str, Any] | None:
        return self.report

    def status(self) -> dict[str, Any]:
        return {
            "stack": "e2e",
            "active_groups": ["group-a"],
            "zones": [],
            "hostnames": [],
            "stale_registry": [],
            "problems": [],
            "in_sync": True,
            "last_switchover_healthy": {
                "type": "LastSwitchoverHealthy",
                "status": "Unknown",
                "reason": "NoHealthReport",
                "message": "no health report yet",
                "lastTransitionTime": None,
                "switchId": None,
                "checkedAt": None,
            },
        }

    def metrics(self, accept: str | None) -> tuple[bytes, str]:
        return self.metrics_obj.render(accept)

    def count(self, route: str, code: int) -> None:
        self.metrics_obj.api_requests.labels(route, str(code)).inc()

    # -- execution and progress (the console's backend) --------------------------------------
    executed: list[tuple[Any, ...]]
    records: dict[str, dict[str, Any]]

    def execute(
        self, to_groups: tuple[str, ...], mode: str, fingerprint: str, reason: str, client: str
    ) -> dict[str, Any]:
        plan = self.dry_run(to_groups, mode)
        if plan["blockers"]:
            raise ConflictError("the switch is blocked", "; ".join(plan["blockers"]), "fix the blockers")
        if plan["fingerprint"] != fingerprint:
            raise ConflictError(f"the plan changed since it was reviewed (reviewed {fingerprint})", "", "")
        self.executed.append((to_groups, mode, fingerprint, reason, client))
        switch_id = "sw-20261129T010203Z-abcdef"
        self.records[switch_id] = fake_record(switch_id, to_groups, fingerprint)
        return {
            "launch_id": "ln-20261129T010203Z-123456",
            "switch_id": switch_id,
            "fingerprint": fingerprint,
            "to_groups": list(to_groups),
            "mode": mode,
            "running": True,
            "exit_code": None,
        }

    def switches(self, limit: int) -> list[dict[str, Any]]:
        return list(self.records.values())[:limit]

    def switch(self, switch_id: str) -> dict[str, Any] | None:
        record = self.records.get(switch_id)
        return None if record is None else {"switch": record, "launch": None, "health": None}

    def groups(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        return GROUPS, ("group-a",)

    readiness: tuple[dict[str, Any], ...] = ()

    def overview(self) -> dict[str, Any]:
        return {
            "stack": "e2e",
            "active_groups": ["group-a"],
            "status": self.status(),
            "groups": [
                {"group": g, "active": g == "group-a", "endpoints": [], "healthy": 0, "total": 0}
                for g in GROUPS
            ],
            "databases": [],
            "lease": {"configured": True, "holder": None, "epoch": 3, "expires_at": None, "live": False},
            "switches": list(self.records.values()),
            "failover_readiness": list(self.readiness),
        }

    def history(self, limit: int) -> list[dict[str, Any]]:
        return []


def fake_record(switch_id: str, to_groups: tuple[str, ...], fingerprint: str) -> dict[str, Any]:
    return {
        "id": switch_id,
        "stack": "e2e",
        "kind": "switch",
        "mode": "planned",
        "from_groups": ["group-a"],
        "to_groups": list(to_groups),
        "fingerprint": fingerprint,
        "status": "running",
        "created_at": "2026-11-29T01:02:03.000Z",
        "updated_at": "2026-11-29T01:02:04.000Z",
        "holder": None,
        "epoch": None,
        "rollback_of": None,
        "error": None,
        "steps": [{"name": "acquire-lease", "status": "completed", "duration_s": 0.2}],
        "steps_seconds": 0.2,
        "recovery_seconds": None,
    }


def call(
    app: Api, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    environ: dict[str, Any] = {"REQUEST_METHOD": method, "PATH_INFO": path}
    setup_testing_defaults(environ)
    environ["PATH_INFO"] = path
    if body is not None:
        environ["CONTENT_LENGTH"] = str(len(body))
        environ["wsgi.input"] = io.BytesIO(body)
    for k, v in (headers or {}).items():
        key = k.upper().replace("-", "_")
        environ[key if key in ("CONTENT_TYPE", "CONTENT_LENGTH") else f"HTTP_{key}"] = v
    got: dict[str, Any] = {}

    def start_response(status: str, hdrs: list[tuple[str, str]]) -> None:
        got["status"] = int(status.split()[0])
        got["headers"] = dict(hdrs)

    data = b"".join(app(environ, start_response))
    return got["status"], got["headers"], data


@pytest.fixture
def backend() -> FakeBackend:
    return FakeBackend()


@pytest.fixture
def app(backend: FakeBackend) -> Api:
    return Api(backend, Auth(TOKEN))


BEARER = {"Authorization": f"Bearer {TOKEN}"}
OWNER = {**BEARER, "X-Owner-Tier": "true"}
BODY = json.dumps({"to_groups": ["group-b"]}).encode()


def test_healthz_metrics_and_openapi_are_open(app: Api) -> None:
    status, headers, body = call(app, "GET", "/healthz")
    assert (status, json.loads(body)) == (200, {"status": "ok"})
    status, headers, body = call(app, "GET", "/metrics")
    assert status == 200 and headers["Content-Type"].startswith("text/plain")
    assert b"orchestrator_api_requests_total" in body
    status, _, body = call(app, "GET", "/openapi.json")
    assert status == 200 and json.loads(body) == document()


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong-token-of-some-length"},
        {"Authorization": f"Basic {TOKEN}"},
        {"Authorization": "Bearer"},
        {"Authorization": f"Bearer {TOKEN}x"},
        {"Authorization": TOKEN},
    ],
    ids=["none", "wrong", "basic-scheme", "empty", "longer", "no-scheme"],
)
@pytest.mark.parametrize(
    "method,path", [("POST", "/v1/switchovers/dry-run"), ("GET", "/v1/health"), ("GET", "/v1/status")]
)
def test_every_v1_route_needs_the_right_bearer_token(
    app: Api, backend: FakeBackend, headers, method, path
) -> None:  # noqa: ANN001
    status, hdrs, body = call(
        app, method, path, BODY if method == "POST" else None, {**headers, "X-Owner-Tier": "true"}
    )
    assert status == 401
    assert hdrs["WWW-Authenticate"].startswith("Bearer")
    assert TOKEN.encode() not in body
    assert backend.dry_runs == []


def test_dry_run_without_the_owner_tier_header_is_forbidden(app: Api, backend: FakeBackend) -> None:
    for tier in (None, "false", "yes", ""):
        headers = dict(BEARER) if tier is None else {**BEARER, "X-Owner-Tier": tier}
        status, _, body = call(app, "POST", "/v1/switchovers/dry-run", BODY, headers)
        assert status == 403 and "X-Owner-Tier" in json.loads(body)["why"]
    assert backend.dry_runs == []
    # The owner tier is not needed to read health and status.
    assert call(app, "GET", "/v1/status", None, BEARER)[0] == 200


def test_dry_run_returns_the_report_with_its_fingerprint(app: Api, backend: FakeBackend) -> None:
    status, headers, body = call(
        app, "POST", "/v1/switchovers/dry-run", BODY, {**OWNER, "X-Owner-Tier": "TRUE"}
    )
    assert status == 200 and headers["Content-Type"] == "application/json"
    report = json.loads(body)
    assert report == backend.dry_run(("group-b",), "planned")
    assert len(report["fingerprint"]) == 16
    assert backend.dry_runs[0] == (("group-b",), "planned")
    call(
        app,
        "POST",
        "/v1/switchovers/dry-run",
        json.dumps({"to_groups": ["group-b"], "mode": "failover"}).encode(),
        OWNER,
    )
    assert backend.dry_runs[-1] == (("group-b",), "failover")


@pytest.mark.parametrize(
    "body,needle",
    [
        (b"", "JSON object"),
        (b"not json", "not JSON"),
        (b"\xff\xfe", "not JSON"),
        (b"[]", "JSON object"),
        (b'{"to_groups": []}', "1 to 16"),
        (b'{"to_groups": "group-b"}', "1 to 16"),
        (b'{"to_groups": [1]}', "not a group name"),
        (b'{"to_groups": ["a;b"]}', "not a group name"),
        (b'{"to_groups": ["' + b"x" * 17 + b'"]}', "not a group name"),
        (b'{"to_groups": ["group-b"], "mode": "yolo"}', "mode"),
        (b'{"to_groups": ["group-b"], "execute": true}', "unknown field"),
    ],
)
def test_bad_dry_run_bodies_are_400_and_reach_nothing(app: Api, backend: FakeBackend, body, needle) -> None:  # noqa: ANN001
    status, _, data = call(app, "POST", "/v1/switchovers/dry-run", body, OWNER)
    assert status == 400, data
    assert needle in json.loads(data)["error"]
    assert backend.dry_runs == []


def test_a_body_over_64k_is_refused_before_it_is_read(app: Api) -> None:
    environ_body = b"{" + b" " * (MAX_BODY + 10) + b"}"
    status, _, data = call(app, "POST", "/v1/switchovers/dry-run", environ_body, OWNER)
    assert status == 413


@pytest.mark.parametrize(
    "error,status",
    [
        (UsageError("unknown group 'group-x'", "why", "fix"), 422),
        (ConflictError("the stack 'e2e' is locked", "why", "fix"), 409),
        (EnvironmentProblem("PowerDNS is not running", "why", "fix"), 503),
        (OrchestratorError("pulumi failed", "why", "fix"), 503),
    ],
)
def test_orchestrator_errors_keep_their_what_why_fix(app: Api, backend: FakeBackend, error, status) -> None:  # noqa: ANN001
    backend.fail_with = error
    got, _, data = call(app, "POST", "/v1/switchovers/dry-run", BODY, OWNER)
    assert got == status
    doc = json.loads(data)
    assert (doc["error"], doc["why"], doc["fix"], doc["status"]) == (error.what, "why", "fix", status)


def test_a_bug_is_a_500_without_details(app: Api, backend: FakeBackend) -> None:
    backend.fail_with = RuntimeError("secret detail in /etc/passwd")
    status, _, data = call(app, "POST", "/v1/switchovers/dry-run", BODY, OWNER)
    assert status == 500 and b"secret detail" not in data


def test_unknown_routes_and_methods(app: Api) -> None:
    assert call(app, "GET", "/v1/nothing-here", None, OWNER)[0] == 404
    assert call(app, "GET", "/v1/switchovers/not-an-id", None, OWNER)[0] == 404
    status, headers, _ = call(app, "DELETE", "/v1/switchovers", None, OWNER)
    assert status == 405 and headers["Allow"] == "GET, POST"
    status, headers, _ = call(app, "GET", "/v1/switchovers/dry-run", None, OWNER)
    assert status == 405 and headers["Allow"] == "POST"
    status, headers, _ = call(app, "POST", "/metrics")
    assert status == 405 and headers["Allow"] == "GET"
    # The only POSTs: the dry-run (changes nothing) and the execution of a reviewed plan.
    posts = [p for p, ops in document()["paths"].items() if "post" in ops]
    assert posts == ["/v1/switchovers/dry-run", "/v1/switchovers"]
    status, _, body = call(app, "HEAD", "/healthz")
    assert status == 200 and body == b""


def test_health_is_404_until_a_report_exists(app: Api, backend: FakeBackend) -> None:
    status, _, body = call(app, "GET", "/v1/health", None, BEARER)
    assert status == 404 and "orchestrator health" in json.loads(body)["fix"]
    backend.report = {"kind": "HealthReport", "stack": "e2e"}
    status, _, body = call(app, "GET", "/v1/health", None, BEARER)
    assert status == 200 and json.loads(body)["kind"] == "HealthReport"


def test_requests_are_counted_by_route_and_code(app: Api, backend: FakeBackend) -> None:
    call(app, "GET", "/v1/status")
    call(app, "GET", "/nope")
    get = backend.metrics_obj.registry.get_sample_value
    assert get("orchestrator_api_requests_total", {"route": "/v1/status", "code": "401"}) == 1
    assert get("orchestrator_api_requests_total", {"route": "other", "code": "404"}) == 1


def test_the_committed_openapi_document_is_the_served_one() -> None:
    assert (REPO / "docs" / "openapi.json").read_text() == document_json(), (
        "docs/openapi.json is stale: regenerate it with "
        "`python -c 'from orchestrator.interfaces.http.openapi import document_json; "
        'print(document_json(), end="")\'`'
    )


def test_token_comes_from_env_or_file_and_must_be_long(tmp_path: Path) -> None:
    assert load_token(environ={"ORCHESTRATOR_API_TOKEN": f" {TOKEN}\n"}) == TOKEN
    f = tmp_path / "token"
    f.write_text(TOKEN + "\nignored\n")
    assert load_token(environ={"ORCHESTRATOR_API_TOKEN_FILE": str(f)}) == TOKEN
    assert load_token(f, environ={"ORCHESTRATOR_API_TOKEN": "other-token-that-is-long"}) == TOKEN
    with pytest.raises(UsageError, match="no API token"):
        load_token(environ={})
    with pytest.raises(UsageError, match="too short"):
        load_token(environ={"ORCHESTRATOR_API_TOKEN": "short"})
    with pytest.raises(UsageError, match="cannot be read"):
        load_token(tmp_path / "missing", environ={})
    with pytest.raises(ValueError):
        Auth("")


def test_a_real_threaded_server_on_loopback(backend: FakeBackend) -> None:
    server = make_api_server("127.0.0.1", 0, Api(backend, Auth(TOKEN)))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        host, port = server.server_address[:2]
        assert host == "127.0.0.1"
        base = f"http://{host}:{port}"
        s = requests.Session()
        s.trust_env = False
        assert s.get(f"{base}/healthz", timeout=5).json() == {"status": "ok"}
        assert (
            s.post(f"{base}/v1/switchovers/dry-run", json={"to_groups": ["group-b"]}, timeout=5).status_code
            == 401
        )
        r = s.post(
            f"{base}/v1/switchovers/dry-run", json={"to_groups": ["group-b"]}, headers=OWNER, timeout=5
        )
        assert r.status_code == 200 and len(r.json()["fingerprint"]) == 16
        r = s.post(
            f"{base}/v1/switchovers/dry-run", json={"to_groups": ["group-x"]}, headers=OWNER, timeout=5
        )
        assert r.status_code == 422 and "group-x" in r.json()["error"]
        # Concurrent scrapes and requests are served (threads), each answered.
        results: list[int] = []

        def hit() -> None:
            results.append(s.get(f"{base}/metrics", timeout=5).status_code)

        threads = [threading.Thread(target=hit) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=10)
        assert results == [200] * 8
    finally:
        server.shutdown()
        server.server_close()


def test_tokens_are_compared_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    import hmac

    seen: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest
    monkeypatch.setattr(hmac, "compare_digest", lambda a, b: seen.append((a, b)) or real(a, b))
    token = secrets.token_urlsafe(32)
    app = Api(FakeBackend(), Auth(token))
    assert call(app, "GET", "/v1/status", None, {"Authorization": "Bearer guess"})[0] == 401
    assert call(app, "GET", "/v1/status", None, {"Authorization": f"Bearer {token}"})[0] == 200
    assert seen == [(b"guess", token.encode()), (token.encode(), token.encode())]
