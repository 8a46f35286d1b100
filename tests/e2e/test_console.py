"""The web console in a real browser: headless Debian Chromium driven by selenium, against a
running `orchestrator serve`, the real Pulumi engine, the policy pack and the local environment.

Screenshots (the overview, a running switch) are written to an artifacts directory the
module prints (`$ORCHESTRATOR_TEST_ARTIFACTS`, else pytest's temporary directory); docs/img/
holds a copy taken once. Every wait polls a condition with a deadline.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from orchestrator.adapters.files.audit import AuditLog
from orchestrator.devenv import find_server
from orchestrator.devenv.ports import pick_tcp_port
from tests.e2e.dnsutil import query, wait_for
from tests.e2e.project import LEASE, TempProject, demo_topology
from tests.e2e.test_policy import set_health, with_policy_pack

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()),
        reason="Debian chromium and chromium-driver are not installed (scripts/install-debian-packages.sh)",
    ),
]

HOSTS = {
    "www.app.example.test": "powerdns",
    "shop.app.example.test": "powerdns",
    "api.svc.example.test": "bind",
}
TOKEN = "e2e-" + secrets.token_urlsafe(24)
OWNER = {"Authorization": f"Bearer {TOKEN}", "X-Owner-Tier": "true"}
STEP_DONE = ("completed", "skipped")


def http() -> requests.Session:
    s = requests.Session()
    s.trust_env = False  # loopback only, never a proxy from the environment
    return s


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = Path(os.environ.get("ORCHESTRATOR_TEST_ARTIFACTS") or tmp_path_factory.getbasetemp() / "artifacts")
    path.mkdir(parents=True, exist_ok=True)
    print(f"\nconsole test artifacts (screenshots): {path}")
    return path


@pytest.fixture(scope="module")
def project(dev_env, tmp_path_factory):
    proj = with_policy_pack(
        TempProject.create(tmp_path_factory.mktemp("console"), dev_env.state_dir, "console")
    )
    proj.topology = demo_topology(dev_env.group_a, dev_env.group_b, dev_env.workload_port, ttl=3)
    proj.write_stack(proj.topology, ["group-a"], lease=LEASE)
    proj.run("up", "--stack", proj.stack, "--yes")
    yield proj
    proj.destroy()


@pytest.fixture
def at_group_a(project, dev_env):
    """group-a active and deployed, every workload healthy (also afterwards: the servers are shared)."""
    set_health(dev_env, [*dev_env.group_a, *dev_env.group_b], True)
    project.write_stack(project.topology, ["group-a"], lease=LEASE)
    project.run("up", "--stack", project.stack, "--yes")
    yield project
    set_health(dev_env, [*dev_env.group_a, *dev_env.group_b], True)


@pytest.fixture(scope="module")
def serve(project) -> Iterator[str]:
    port = pick_tcp_port()
    proc = project.start(
        "serve",
        "--stack",
        project.stack,
        "--port",
        str(port),
        "--switch-grace",
        "60",
        ORCHESTRATOR_API_TOKEN=TOKEN,
    )
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
        yield url
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=90)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
    err = proc.stderr.read()
    assert proc.returncode == 0, err
    assert TOKEN not in err


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in (
        "--headless=new",
        "--no-sandbox",  # root in a container has no user namespaces for Chromium's sandbox
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1280,800",
        "--no-proxy-server",
        f"--user-data-dir={tmp_path_factory.mktemp('chromium')}",
    ):
        options.add_argument(arg)
    # The driver is Debian's, named explicitly: selenium never looks for (or downloads) one.
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    # The viewport, not the window, is 1280x800 (the screenshots are what a 1280x800 screen shows).
    driver.set_window_size(1280, 800)
    inner = driver.execute_script("return [window.innerWidth, window.innerHeight]")
    driver.set_window_size(1280 + 1280 - inner[0], 800 + 800 - inner[1])
    driver.set_page_load_timeout(300)  # the report page runs a Pulumi preview with the policy pack
    try:
        yield driver
    finally:
        driver.quit()


def sign_in(driver: Any, url: str) -> None:
    """Sign in through the form, keyboard only: type the token, tick the owner tier, Enter."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    driver.delete_all_cookies()
    driver.get(f"{url}/console/login")
    token = driver.find_element(By.ID, "token")
    token.send_keys(TOKEN)
    token.send_keys(Keys.TAB)
    assert driver.switch_to.active_element.get_attribute("id") == "owner"
    driver.switch_to.active_element.send_keys(Keys.SPACE)
    driver.switch_to.active_element.send_keys(Keys.TAB)
    driver.switch_to.active_element.send_keys(Keys.ENTER)  # the Sign in button
    wait_for(lambda: driver.current_url.endswith("/console/"), 60, "the overview after signing in")
    assert driver.get_cookie("orchestrator_session")["httpOnly"] is True


def report_on_page(driver: Any) -> dict[str, Any]:
    from selenium.webdriver.common.by import By

    rows = []
    for tr in driver.find_elements(By.CSS_SELECTOR, "table.changes tbody tr"):
        cells = [td.text for td in tr.find_elements(By.TAG_NAME, "td")]
        rows.append(tuple(cells))
    blockers = [li.text for li in driver.find_elements(By.CSS_SELECTOR, "#blockers li")]
    return {
        "fingerprint": driver.find_element(By.ID, "fingerprint").text,
        "changes": sorted(rows),
        "blockers": blockers,
        "confirm_enabled": driver.find_element(By.ID, "confirm").is_enabled(),
    }


def cli_rows(report: dict[str, Any]) -> list[tuple[str, ...]]:
    return sorted(
        (
            c["action"],
            c["zone"],
            c["name"],
            c["type"],
            ", ".join(c["current"]) or "-",
            ", ".join(c["new"]) or "-",
        )
        for c in report["changes"]
    )


def served(dev_env, host: str) -> set[str]:  # noqa: ANN001
    server = find_server(dev_env.status, HOSTS[host])
    rcode, values = query(server["address"], server["port"], host)
    return values if rcode == "NOERROR" else set()


def test_a_page_without_the_token_is_refused(serve, browser):
    from selenium.webdriver.common.by import By

    r = http().get(f"{serve}/console/", timeout=30)
    assert r.status_code == 401 and 'action="/console/login"' in r.text
    assert "Active:" not in r.text and TOKEN not in r.text
    r = http().get(f"{serve}/v1/switchovers", timeout=30)
    assert r.status_code == 401
    browser.delete_all_cookies()
    browser.get(f"{serve}/console/history")
    assert browser.find_element(By.TAG_NAME, "h1").text == "Sign in"
    assert browser.find_elements(By.ID, "token") and not browser.find_elements(By.CSS_SELECTOR, "nav")


def test_the_report_is_the_clis_and_a_blocker_disables_confirm_and_refuses_a_forged_post(
    at_group_a, serve, browser, dev_env
):
    from selenium.webdriver.common.by import By

    project = at_group_a
    cli = json.loads(
        project.run("switch", "--stack", project.stack, "--to", "group-b", "--dry-run", "--json").stdout
    )
    sign_in(browser, serve)
    browser.get(f"{serve}/console/switch?to=group-b&mode=planned")
    page = report_on_page(browser)
    assert page["fingerprint"] == cli["fingerprint"]
    assert page["changes"] == cli_rows(cli) and {r[2] for r in page["changes"]} >= set(HOSTS)
    assert page["blockers"] == [] and page["confirm_enabled"]

    # group-b falls sick: the policy pack's target-group-healthy blocks the plan.
    set_health(dev_env, dev_env.group_b, False)
    browser.get(f"{serve}/console/switch?to=group-b&mode=planned")
    page = report_on_page(browser)
    assert any("target-group-healthy" in b for b in page["blockers"]), page["blockers"]
    assert not page["confirm_enabled"]
    assert not browser.find_element(By.ID, "reason").is_enabled()
    journal_before = sorted(p.name for p in (project.root / ".orchestrator" / "journal").glob("sw-*.json"))
    dns_before = {h: served(dev_env, h) for h in HOSTS}
    # A forged POST with a valid session and CSRF token (as a script on the page could send):
    # the switch re-checks the plan and refuses; nothing changes.
    session = browser.get_cookie("orchestrator_session")["value"]
    csrf = browser.find_element(By.CSS_SELECTOR, 'meta[name="csrf-token"]').get_attribute("content")
    form = {
        "csrf": csrf,
        "to": "group-b",
        "mode": "planned",
        "fingerprint": page["fingerprint"],
        "reason": "forged",
    }
    r = http().post(
        f"{serve}/console/switch",
        data=form,
        cookies={"orchestrator_session": session},
        headers={"Origin": serve},
        allow_redirects=False,
        timeout=300,
    )
    assert r.status_code == 409, r.text[:2000]
    assert "blocked" in r.text and "target-group-healthy" in r.text
    r = http().post(
        f"{serve}/v1/switchovers",
        json={"to_groups": ["group-b"], "fingerprint": page["fingerprint"], "reason": "forged"},
        headers=OWNER,
        timeout=300,
    )
    assert r.status_code == 409 and "blocked" in r.json()["error"], r.text
    # Without the CSRF token the same POST never reaches the switch.
    r = http().post(
        f"{serve}/console/switch",
        data={k: v for k, v in form.items() if k != "csrf"},
        cookies={"orchestrator_session": session},
        allow_redirects=False,
        timeout=30,
    )
    assert r.status_code == 403
    after = sorted(p.name for p in (project.root / ".orchestrator" / "journal").glob("sw-*.json"))
    assert after == journal_before
    assert {h: served(dev_env, h) for h in HOSTS} == dns_before
    confirmed = AuditLog(project.root / ".orchestrator" / "audit.jsonl").read(types=["switchover.confirmed"])
    assert [e["reason"] for e in confirmed][-2:] == ["forged", "forged"]  # the attempts are audited


def test_keyboard_only_confirm_runs_the_switch_with_live_progress(
    at_group_a, serve, browser, dev_env, artifacts
):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    project = at_group_a
    sign_in(browser, serve)
    browser.get(f"{serve}/console/switch?to=group-b&mode=planned")
    fingerprint = report_on_page(browser)["fingerprint"]
    # Keyboard only: Tab from the top of the freshly loaded page reaches the reason, then Confirm.
    order = []
    for _ in range(60):
        ActionChains(browser).send_keys(Keys.TAB).perform()
        order.append(browser.switch_to.active_element.get_attribute("id") or "")
        if order[-1] == "reason":
            break
    assert order[-1] == "reason", order
    browser.switch_to.active_element.send_keys("DRILL-15: console switchover")
    browser.switch_to.active_element.send_keys(Keys.TAB)
    assert browser.switch_to.active_element.get_attribute("id") == "confirm"
    browser.switch_to.active_element.send_keys(Keys.ENTER)
    wait_for(lambda: "/console/switches/sw-" in browser.current_url, 300, "the progress page of the switch")
    switch_id = browser.current_url.rsplit("/", 1)[1]
    browser.save_screenshot(str(artifacts / "console-switch-running.png"))

    seen: dict[str, set[str]] = {}

    def states() -> dict[str, str]:
        rows = browser.find_elements(By.CSS_SELECTOR, "#progress tbody tr")
        now = {r.get_attribute("data-step"): r.find_element(By.CSS_SELECTOR, ".state").text for r in rows}
        for step, state in now.items():
            seen.setdefault(step, set()).add(state)
        return now

    shot = []

    def finished() -> bool:
        now = states()
        status = browser.find_element(By.ID, "switch-status").get_attribute("data-status")
        assert status != "failed", browser.find_element(By.ID, "switch-error").text
        if not shot and status == "running" and "completed" in now.values() and "running" in now.values():
            # Mid-switch: some steps done, one running, the rest pending.
            browser.save_screenshot(str(artifacts / "console-switch-running.png"))
            shot.append(dict(now))
        return status == "completed" and all(s in STEP_DONE for s in now.values())

    wait_for(finished, 300, "every step of the switch to complete on the page")
    # The page followed the switch as it ran: steps seen pending or running, later completed.
    assert any(seen[s] & {"pending", "running"} and "completed" in seen[s] for s in seen), seen
    for row in browser.find_elements(By.CSS_SELECTOR, "#progress tbody tr"):
        if row.find_element(By.CSS_SELECTOR, ".state").text == "completed":
            assert re.fullmatch(r"\d+\.\d\ds", row.find_element(By.CSS_SELECTOR, ".duration").text)
    wait_for(
        lambda: "LastSwitchoverHealthy" in browser.find_element(By.ID, "health").text,
        60,
        "the health report on the progress page",
    )
    assert "True" in browser.find_element(By.ID, "health").text
    # The DNS servers serve group-b.
    topo = project.topology["groups"]["group-b"]["endpoints"]
    for host in HOSTS:
        assert served(dev_env, host) == set(topo[host]["a"]), host
    # The switch ran the reviewed plan, and the reason is in the audit log before it.
    record = json.loads((project.root / ".orchestrator" / "journal" / f"{switch_id}.json").read_text())
    assert record["fingerprint"] == fingerprint and record["status"] == "completed"
    events = AuditLog(project.root / ".orchestrator" / "audit.jsonl").read()
    confirmed = [e for e in events if e["type"] == "switchover.confirmed" and e["fingerprint"] == fingerprint]
    requested = [e for e in events if e["type"] == "switchover.requested" and e["switch_id"] == switch_id]
    assert confirmed[-1]["reason"] == "DRILL-15: console switchover" and requested
    assert confirmed[-1]["ts"] <= requested[0]["ts"]
    # The overview and the history show it.
    browser.get(f"{serve}/console/")
    assert browser.find_element(By.ID, "active-groups").text == "group-b"
    assert "True" in browser.find_element(By.ID, "last-healthy").text
    browser.save_screenshot(str(artifacts / "console-overview.png"))
    assert switch_id in browser.page_source
    browser.get(f"{serve}/console/history")
    assert switch_id in browser.page_source and "switchover.confirmed" in browser.page_source
    assert TOKEN not in browser.page_source


def test_schemathesis_covers_the_new_endpoints_on_the_running_server(serve):
    import schemathesis
    from hypothesis import HealthCheck, given, settings
    from schemathesis.specs.openapi.checks import positive_data_acceptance

    config = schemathesis.Config.from_dict({"generation": {"mode": "all", "max-examples": 8}})
    schema = schemathesis.openapi.from_url(f"{serve}/openapi.json", config=config)
    ran = []
    for result in schema.get_all_operations():
        operation = result.ok()
        if not operation.path.startswith("/v1/switchovers") or operation.path.endswith("dry-run"):
            continue

        @settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        @given(case=operation.as_strategy())
        def check(case) -> None:  # noqa: ANN001
            response = case.call_and_validate(
                base_url=serve,
                headers=dict(OWNER),
                excluded_checks=[positive_data_acceptance],
                timeout=300,  # a POST that reaches the switch waits for its dry-run (a Pulumi preview)
            )
            assert response.status_code < 500
            ran.append((case.method.upper(), case.path, response.status_code))

        check()
    assert {(m, p) for m, p, _ in ran} == {
        ("GET", "/v1/switchovers"),
        ("POST", "/v1/switchovers"),
        ("GET", "/v1/switchovers/{switch_id}"),
    }
    assert all(code < 500 for _, _, code in ran)
