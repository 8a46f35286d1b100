"""Observability end to end: a real Prometheus scrapes `orchestrator serve` during real switches.

Real PowerDNS/BIND/Unbound (the `dev_env` fixture), the real Pulumi engine, a real Debian
`prometheus` on a loopback port with its own storage (scrape and rule evaluation every
second, the committed rule files loaded), and `orchestrator serve` as its own process.
Nothing waits by sleeping: every wait polls a condition with a deadline.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from typing import Any

import pytest
import requests
import yaml

from orchestrator.devenv import find_server
from orchestrator.devenv.ports import pick_tcp_port
from tests.e2e.dnsutil import query, wait_for
from tests.e2e.project import LEASE, REPO, TempProject, demo_topology

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(shutil.which("prometheus") is None, reason="Debian prometheus is not installed"),
]

HOSTS = {
    "www.app.example.test": "app.example.test",
    "shop.app.example.test": "app.example.test",
    "api.svc.example.test": "svc.example.test",
}
TTL = 3
TOKEN = "e2e-" + secrets.token_urlsafe(24)
OWNER = {"Authorization": f"Bearer {TOKEN}", "X-Owner-Tier": "true"}
RULES = sorted((REPO / "docs" / "prometheus").glob("*.yml"))
DASHBOARD = REPO / "docs" / "grafana" / "orchestrator-failover.json"


def http() -> requests.Session:
    s = requests.Session()
    s.trust_env = False  # loopback only, never a proxy from the environment
    return s


@pytest.fixture(scope="module")
def project(dev_env, tmp_path_factory):
    proj = TempProject.create(tmp_path_factory.mktemp("observability"), dev_env.state_dir, stack="obs")
    proj.topology = demo_topology(dev_env.group_a, dev_env.group_b, dev_env.workload_port, ttl=TTL)
    proj.write_stack(proj.topology, ["group-a"], lease=LEASE)
    proj.run("up", "--stack", proj.stack, "--yes")
    yield proj
    proj.destroy()


@pytest.fixture
def at_group_a(project):
    project.write_stack(project.topology, ["group-a"], lease=LEASE)
    project.run("up", "--stack", project.stack, "--yes")
    return project


@dataclass
class Served:
    url: str
    proc: subprocess.Popen


@pytest.fixture(scope="module")
def serve(project):
    port = pick_tcp_port()
    proc = project.start("serve", "--stack", project.stack, "--port", str(port), ORCHESTRATOR_API_TOKEN=TOKEN)
    url = f"http://127.0.0.1:{port}"
    try:

        def up() -> bool:
            if proc.poll() is not None:
                raise AssertionError(f"orchestrator serve exited {proc.returncode}: {proc.stderr.read()}")
            try:
                return http().get(f"{url}/healthz", timeout=2).status_code == 200
            except requests.RequestException:
                return False

        wait_for(up, 30, "orchestrator serve to answer /healthz")
        yield Served(url, proc)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
    assert proc.returncode == 0, proc.stderr.read()


class Prometheus:
    def __init__(self, url: str) -> None:
        self.url = url
        self.s = http()

    def _get(self, path: str, **params: Any) -> Any:
        r = self.s.get(f"{self.url}{path}", params=params, timeout=10)
        body = r.json()
        assert body["status"] == "success", body
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        return self._get("/api/v1/query", query=expr)["result"]

    def series(self, expr: str) -> dict[tuple, float]:
        return {tuple(sorted(r["metric"].items())): float(r["value"][1]) for r in self.query(expr)}

    def range(self, expr: str, start: float, end: float) -> list[dict[str, Any]]:
        return self._get("/api/v1/query_range", query=expr, start=start, end=end, step="1s")["result"]


@pytest.fixture(scope="module")
def prometheus(serve, tmp_path_factory):
    work = tmp_path_factory.mktemp("prometheus")
    port = pick_tcp_port()
    target = serve.url.removeprefix("http://")
    (work / "prometheus.yml").write_text(
        yaml.safe_dump(
            {
                "global": {"scrape_interval": "1s", "evaluation_interval": "1s", "scrape_timeout": "1s"},
                "rule_files": [str(p) for p in RULES],
                "scrape_configs": [{"job_name": "orchestrator", "static_configs": [{"targets": [target]}]}],
            }
        )
    )
    proc = subprocess.Popen(
        [
            shutil.which("prometheus"),
            f"--config.file={work / 'prometheus.yml'}",
            f"--storage.tsdb.path={work / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--log.level=warn",
        ],
        stdout=subprocess.DEVNULL,
        stderr=(work / "prometheus.log").open("w"),
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:

        def ready() -> bool:
            if proc.poll() is not None:
                raise AssertionError(f"prometheus exited: {(work / 'prometheus.log').read_text()[-2000:]}")
            try:
                return http().get(f"{url}/-/ready", timeout=2).status_code == 200
            except requests.RequestException:
                return False

        wait_for(ready, 60, "Prometheus to be ready")
        prom = Prometheus(url)
        wait_for(
            lambda: bool(prom.query('up{job="orchestrator"} == 1')),
            30,
            "Prometheus to scrape orchestrator serve",
        )
        yield prom
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


def active(prom: Prometheus, group: str, value: int) -> set[str]:
    """The records whose dns_record_group_active{group} is `value` in Prometheus now."""
    got = prom.query(f'dns_record_group_active{{job="orchestrator",group="{group}"}} == {value}')
    return {r["metric"]["dns_record_name"] for r in got}


def test_prometheus_sees_every_record_flip_to_group_b_and_the_cleanup_counter_rise(
    at_group_a, serve, prometheus, dev_env, tmp_path
):
    project, prom = at_group_a, prometheus
    wait_for(lambda: active(prom, "group-a", 1) == set(HOSTS), 30, "Prometheus to see group-a serving")
    wait_for(lambda: active(prom, "group-b", 0) == set(HOSTS), 30, "Prometheus to see group-b standing by")
    cleanup = 'sum by (dns_record_name, zone) (dns_record_inactive_group_cleanup_total{group="group-a"})'
    before_cleanup = {dict(k)["dns_record_name"]: v for k, v in prom.series(cleanup).items()}
    completed = 'sum(orchestrator_switchovers_total{stack="obs",result="completed"})'
    done_before = sum(prom.series(completed).values())
    start = time.time()
    textfile = tmp_path / "textfile" / "orchestrator.prom"
    out = project.run(
        "--metrics-textfile", str(textfile), "switch", "--stack", project.stack, "--to", "group-b", "--yes"
    )
    assert "LastSwitchoverHealthy=True" in out.stdout, out.stdout
    wait_for(lambda: active(prom, "group-b", 1) == set(HOSTS), 30, "Prometheus to see group-b serving")
    assert active(prom, "group-a", 0) == set(HOSTS)

    def cleaned() -> bool:
        now = {dict(k)["dns_record_name"]: v for k, v in prom.series(cleanup).items()}
        return all(now.get(h, 0) > before_cleanup.get(h, 0) for h in HOSTS)

    wait_for(cleaned, 30, "the cleanup counter of group-a to rise for every record")
    wait_for(
        lambda: sum(prom.series(completed).values()) == done_before + 1,
        30,
        "Prometheus to count the completed switchover",
    )
    # A second past now: the range's last step (one per second from start - 5) must fall after
    # the scrape that Prometheus has just shown with group-b serving. A switch that takes under
    # 4 s otherwise ends the range on the step before that scrape.
    end = time.time() + 1.0
    # The flip, sample by sample: for every record group-a went 1 -> 0 and group-b 0 -> 1, and
    # group-b never served before group-a had served (make-before-break never shows a gap).
    for group, first, last in (("group-a", 1.0, 0.0), ("group-b", 0.0, 1.0)):
        rows = prom.range(f'dns_record_group_active{{job="orchestrator",group="{group}"}}', start - 5, end)
        # One series per record, and no other.
        names = sorted(r["metric"]["dns_record_name"] for r in rows)
        assert names == sorted(HOSTS), [r["metric"] for r in rows]
        for r in rows:
            host, values = r["metric"]["dns_record_name"], [float(v) for _, v in r["values"]]
            when = [float(t) - start for t, _ in r["values"]]  # seconds from the switch's start
            assert values[0] == first and values[-1] == last, (group, host, values, when, end - start)
            flip = values.index(last)
            assert all(v == last for v in values[flip:]), (group, host, values)  # one clean flip
    # The recording rule over the same window crosses over, per zone.
    crossing = prom.range('zone_group:dns_record_group_active:sum{group="group-b"}', start - 5, end)
    assert {r["metric"]["zone"] for r in crossing} == {"app.example.test", "svc.example.test"}
    # serve saw the switch run in another process: in progress during it, step durations after it.
    peak = prom.query(
        f'max_over_time(orchestrator_switchover_in_progress{{stack="obs"}}[{int(end - start) + 5}s])'
    )
    assert peak and float(peak[0]["value"][1]) >= 1
    steps = prom.series('orchestrator_switchover_last_step_duration_seconds{stack="obs"}')
    assert {dict(k)["step"] for k in steps} >= {
        "acquire-lease",
        "preflight",
        "flip-dns",
        "cleanup-inactive",
        "verify",
    }
    assert prom.series('orchestrator_lease_held{stack="obs"}') and all(
        v == 0 for v in prom.series('orchestrator_lease_held{stack="obs"}').values()
    )
    # The textfile the one-shot CLI run wrote for node-exporter carries the same story.
    text = textfile.read_text()
    assert re.search(r'orchestrator_switchovers_total\{result="completed",stack="obs"\} [1-9]', text), text[
        :2000
    ]
    for host in HOSTS:
        assert re.search(
            rf'dns_record_inactive_group_cleanup_total\{{dns_record_name="{re.escape(host)}",'
            r'group="group-a",zone="[a-z.]+"\} [1-9]',
            text,
        ), host
        assert re.search(
            rf'dns_record_group_active\{{dns_record_name="{re.escape(host)}",'
            r'group="group-b",zone="[a-z.]+"\} 1\.0',
            text,
        ), host
    # Every query of the committed Grafana dashboard parses and runs against real data.
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    assert exprs
    for expr in exprs:
        prom.query(expr.replace("$stack", "obs"))
    # The rule files loaded into the real Prometheus and evaluate without errors.
    groups = prom._get("/api/v1/rules")["groups"]
    assert {g["name"] for g in groups} == {"orchestrator-recording", "orchestrator-alerts"}
    assert all(r["health"] == "ok" for g in groups for r in g["rules"]), groups


def test_an_unhealthy_new_endpoint_fails_verify_naming_it_then_resume_heals(
    at_group_a, serve, prometheus, dev_env
):
    project = at_group_a
    sick = dev_env.group_b[0]
    # The endpoint falls sick after the flip, right before verify (as in real life: preflight and
    # the policy pack saw it healthy). The switch waits at verify until the marker is removed.
    marker = project.root / ".orchestrator" / "paused-at-verify"
    proc = project.start(
        "switch", "--stack", project.stack, "--to", "group-b", "--yes", ORCHESTRATOR_PAUSE_AT="verify"
    )
    try:
        wait_for(lambda: marker.exists() or proc.poll() is not None, 180, "the switch to reach verify")
        assert marker.exists(), proc.communicate()
        assert dev_env.env.set_workload_health(sick, False)
        marker.unlink()
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 1, (proc.returncode, out, err)
        assert "not healthy" in err and sick in err, err
        last = project.run("health", "--stack", project.stack, "--last", "--json", check=False)
        assert last.returncode == 1, last.stderr  # LastSwitchoverHealthy=False
        report = json.loads(last.stdout)
        checks = {c["name"]: c for c in report["checks"]}
        assert list(checks) == ["replicas-healthy", "dns-probes", "latency-normal", "audit-posted"]
        assert checks["latency-normal"]["status"] == "False"
        assert sick in checks["latency-normal"]["summary"] and "503" in checks["latency-normal"]["summary"]
        assert checks["dns-probes"]["status"] == "True"  # DNS did flip: only the endpoint is sick
        assert checks["replicas-healthy"]["status"] == "Deferred"
        assert report["condition"]["status"] == "False"
        assert sick in report["condition"]["message"] and "\n" not in report["condition"]["message"]
        status = json.loads(project.run("status", "--stack", project.stack, "--json").stdout)
        assert status["last_switchover_healthy"]["status"] == "False"
        assert status["last_switchover_healthy"]["type"] == "LastSwitchoverHealthy"
        table = project.run("status", "--stack", project.stack).stdout
        assert "LastSwitchoverHealthy=False" in table and sick in table
        served = http().get(f"{serve.url}/v1/health", headers=OWNER, timeout=10)
        assert served.status_code == 200 and served.json()["condition"]["status"] == "False"
        wait_for(
            lambda: bool(
                prometheus.query(
                    'orchestrator_health_check_status{stack="obs",check="latency-normal",status="False"} == 1'
                )
            ),
            30,
            "Prometheus to see latency-normal False",
        )
        # `health` (re-check now) exits 1 while the endpoint is sick.
        assert project.run("health", "--stack", project.stack, check=False).returncode == 1
    finally:
        marker.unlink(missing_ok=True)
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
        dev_env.env.set_workload_health(sick, True)
    out = project.run("switch", "--stack", project.stack, "--resume", "--yes")
    assert "completed" in out.stdout and "LastSwitchoverHealthy=True" in out.stdout, out.stdout
    report = json.loads(project.run("health", "--stack", project.stack, "--last", "--json").stdout)
    assert report["condition"]["status"] == "True", report["condition"]
    assert {c["name"]: c["status"] for c in report["checks"]} == {
        "replicas-healthy": "Deferred",
        "dns-probes": "True",
        "latency-normal": "True",
        "audit-posted": "True",
    }
    status = json.loads(project.run("status", "--stack", project.stack, "--json").stdout)
    assert status["last_switchover_healthy"]["status"] == "True"


def _snapshot(project: TempProject, dev_env) -> dict[str, Any]:  # noqa: ANN001
    answers = {}
    for host, zone in HOSTS.items():
        s = find_server(dev_env.status, "powerdns" if zone == "app.example.test" else "bind")
        answers[host] = query(s["address"], s["port"], host)
    state = project.root / ".orchestrator"
    return {
        "state": project.state_files(),
        "stacks": {p.name: p.read_bytes() for p in (project.root / "stacks").iterdir()},
        "dns": answers,
        "orchestrator": {
            str(p.relative_to(state)): p.read_bytes() for p in sorted(state.rglob("*")) if p.is_file()
        },
    }


def test_api_auth_and_a_dry_run_over_http_matches_the_cli_and_changes_nothing(at_group_a, serve, dev_env):
    project = at_group_a
    s = http()
    url = f"{serve.url}/v1/switchovers/dry-run"
    body = {"to_groups": ["group-b"]}
    cli = json.loads(
        project.run("switch", "--stack", project.stack, "--to", "group-b", "--dry-run", "--json").stdout
    )
    before = _snapshot(project, dev_env)
    r = s.post(url, json=body, timeout=30)
    assert r.status_code == 401 and r.headers["WWW-Authenticate"].startswith("Bearer")
    r = s.post(
        url, json=body, headers={"Authorization": "Bearer " + "x" * 30, "X-Owner-Tier": "true"}, timeout=30
    )
    assert r.status_code == 401 and TOKEN not in r.text
    r = s.post(url, json=body, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30)
    assert r.status_code == 403 and "X-Owner-Tier" in r.json()["why"]
    r = s.post(url, json=body, headers=OWNER, timeout=120)
    assert r.status_code == 200, r.text
    report = r.json()
    assert report["fingerprint"] == cli["fingerprint"]
    assert report == cli
    assert {c["name"] for c in report["changes"]} >= set(HOSTS)
    r = s.post(url, json={"to_groups": ["group-x"]}, headers=OWNER, timeout=30)
    assert r.status_code == 422 and "group-x" in r.json()["why"]
    assert _snapshot(project, dev_env) == before  # no state, stack file, DNS, journal or audit change
    status = s.get(f"{serve.url}/v1/status", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30)
    assert status.status_code == 200
    assert status.json()["active_groups"] == ["group-a"] and status.json()["in_sync"]
    assert status.json()["last_switchover_healthy"]["type"] == "LastSwitchoverHealthy"
    assert s.get(f"{serve.url}/v1/status", timeout=10).status_code == 401
    assert s.get(f"{serve.url}/metrics", timeout=10).status_code == 200  # open
    assert s.get(f"{serve.url}/openapi.json", timeout=10).json() == json.loads(
        (REPO / "docs" / "openapi.json").read_text()
    )


def test_schemathesis_against_the_running_server_finds_no_5xx(at_group_a, serve):
    import schemathesis
    from hypothesis import HealthCheck, given, settings
    from schemathesis.specs.openapi.checks import positive_data_acceptance

    config = schemathesis.Config.from_dict({"generation": {"mode": "all", "max-examples": 8}})
    schema = schemathesis.openapi.from_url(f"{serve.url}/openapi.json", config=config)
    ran = []
    for result in schema.get_all_operations():
        operation = result.ok()

        @settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        @given(case=operation.as_strategy())
        def check(case) -> None:  # noqa: ANN001
            response = case.call_and_validate(
                base_url=serve.url,
                headers=dict(OWNER),
                excluded_checks=[positive_data_acceptance],
                timeout=300,  # POST /v1/switchovers waits for the switch's own dry-run (docs/console.md)
            )
            assert response.status_code < 500
            ran.append((case.method, case.path, response.status_code))

        check()
    assert {(m.upper(), p) for m, p, _ in ran} >= {("POST", "/v1/switchovers/dry-run"), ("GET", "/v1/status")}
    assert all(code < 500 for _, _, code in ran)
