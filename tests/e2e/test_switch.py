"""`orchestrator switch` end to end: real Pulumi, real PowerDNS/BIND/Unbound, real lease servers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import dns.message
import dns.query
import pytest
import requests

from orchestrator.devenv import find_server
from orchestrator.devenv.powerdns import ensure_zones
from tests.e2e.dnsutil import query, wait_for
from tests.e2e.kuadrant_rules import ZONE_SERVERS
from tests.e2e.kuadrant_rules import violations as kuadrant_violations
from tests.e2e.prober import Prober
from tests.e2e.project import HOSTS, LEASE, ORCHESTRATOR, TempProject, demo_topology

pytestmark = pytest.mark.e2e

STEPS = [
    "acquire-lease",
    "preflight",
    "flip-dns",
    "cleanup-inactive",
    "verify",
    "release-lease",
]
TTL = 3
EARLIER_TTL = 60  # the longest TTL another e2e module deploys for the same names


@pytest.fixture(scope="module")
def project(dev_env, tmp_path_factory):
    proj = TempProject.create(tmp_path_factory.mktemp("switch"), dev_env.state_dir, stack="switch")
    proj.topology = demo_topology(dev_env.group_a, dev_env.group_b, dev_env.workload_port, ttl=TTL)
    proj.lease = LEASE
    proj.write_stack(proj.topology, ["group-a"], lease=LEASE)
    proj.run("up", "--stack", proj.stack, "--yes")
    # Unbound is shared by the session: an earlier module's answers for the same names (the
    # demo's TTL of 30 s) may still be cached, and would outlive a switch here by that much.
    wait_for(lambda: resolver_ttls_at_most(dev_env, TTL), EARLIER_TTL + 10, f"Unbound's TTLs to be {TTL}s")
    yield proj
    proj.destroy()


@pytest.fixture
def at_group_a(project):
    """Each test starts from group-a active, deployed, with nothing interrupted."""
    project.write_stack(project.topology, ["group-a"], lease=project.lease)
    project.run("up", "--stack", project.stack, "--yes")
    return project


def resolver_ttls_at_most(dev_env, ttl: int) -> bool:
    """Whether Unbound answers every hostname with records of at most `ttl` seconds."""
    unbound = find_server(dev_env.status, "unbound")
    for host in HOSTS:
        ask = dns.message.make_query(host, "A")  # recursion desired: the client's view
        answer = dns.query.udp(ask, unbound["address"], port=unbound["port"], timeout=2)
        if not answer.answer or any(rrset.ttl > ttl for rrset in answer.answer):
            return False
    return True


def serves(dev_env, topology, group: str) -> bool:
    for host, role in HOSTS.items():
        server = find_server(dev_env.status, role)
        want = set(topology["groups"][group]["endpoints"][host]["a"])
        if query(server["address"], server["port"], host) != ("NOERROR", want):
            return False
    return True


def resolver_serves(dev_env, topology, group: str) -> bool:
    unbound = find_server(dev_env.status, "unbound")
    for host in HOSTS:
        want = set(topology["groups"][group]["endpoints"][host]["a"])
        if query(unbound["address"], unbound["port"], host, recursive=True) != ("NOERROR", want):
            return False
    return True


def prober_for(dev_env) -> Prober:
    """Every hostname at its authoritative server, and all of them through Unbound."""
    servers = []
    for role in ("powerdns", "bind"):
        s = find_server(dev_env.status, role)
        servers.append((role, s["address"], s["port"], False, [h for h, r in HOSTS.items() if r == role]))
    unbound = find_server(dev_env.status, "unbound")
    servers.append(("unbound", unbound["address"], unbound["port"], True, list(HOSTS)))
    return Prober(servers=servers)


def audit_events(project) -> list[dict]:
    path = project.root / ".orchestrator" / "audit.jsonl"
    return (
        [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []
    )


def stack_active(project) -> list[str]:
    import yaml

    return yaml.safe_load(project.stack_file.read_text())["config"]["orchestrator:activeGroups"]


def test_switch_to_b_and_back_never_leaves_a_name_unresolvable(at_group_a, dev_env):
    project = at_group_a
    with prober_for(dev_env) as prober:
        out = project.run("switch", "--stack", project.stack, "--to", "group-b", "--yes")
        assert "completed" in out.stdout
        assert serves(dev_env, project.topology, "group-b")
        wait_for(
            lambda: resolver_serves(dev_env, project.topology, "group-b"),
            TTL + 10,
            "Unbound to serve group-b",
        )
        assert stack_active(project) == ["group-b"]
        for zone in ZONE_SERVERS:  # registry entries follow the transition (zone transfer)
            assert kuadrant_violations(dev_env, zone, ["group-b"]) == [], zone
        project.run("switch", "--stack", project.stack, "--to", "group-a", "--yes")
        assert serves(dev_env, project.topology, "group-a")
        wait_for(
            lambda: resolver_serves(dev_env, project.topology, "group-a"),
            TTL + 10,
            "Unbound to serve group-a",
        )
    assert prober.queries > 50, "the prober must actually have probed during the switches"
    assert prober.failures == [], prober.failures[:10]
    types = [e["type"] for e in audit_events(project)]
    for needed in (
        "switchover.requested",
        "lease.acquired",
        "preflight.passed",
        "step.started",
        "step.completed",
        "lease.released",
        "switchover.completed",
        "active-groups.changed",
    ):
        assert needed in types, needed
    report = json.loads(project.run("status", "--stack", project.stack, "--json").stdout)
    assert report["in_sync"], report["problems"]


def test_history_joins_stack_updates_with_switches(at_group_a):
    project = at_group_a
    project.run("switch", "--stack", project.stack, "--to", "group-b", "--yes")
    rows = json.loads(project.run("history", "--stack", project.stack, "--json").stdout)
    switch_rows = [r for r in rows if r.get("switch_id") and r.get("kind") == "update"]
    assert switch_rows, rows
    latest = switch_rows[0]
    assert latest["to_groups"] == ["group-b"]
    assert len(latest["fingerprint"]) == 16


def test_switch_to_the_active_group_is_a_noop_that_says_so(at_group_a):
    before = at_group_a.state_files()
    out = at_group_a.run("switch", "--stack", at_group_a.stack, "--to", "group-a", "--yes")
    assert "already active" in out.stdout
    assert at_group_a.state_files() == before


def _snapshot(project, dev_env) -> dict:
    answers = {}
    for host, role in HOSTS.items():
        s = find_server(dev_env.status, role)
        answers[host] = query(s["address"], s["port"], host)
    audit = project.root / ".orchestrator" / "audit.jsonl"
    return {
        "state": project.state_files(),
        "stacks": {p.name: p.read_bytes() for p in (project.root / "stacks").iterdir()},
        "dns": answers,
        "audit": audit.read_bytes() if audit.exists() else b"",
        "journal": sorted(p.name for p in (project.root / ".orchestrator").rglob("*.json")),
    }


def test_dry_run_changes_nothing_and_its_fingerprint_is_stable(at_group_a, dev_env):
    project = at_group_a
    before = _snapshot(project, dev_env)
    fps = []
    for fmt in ("table", "json", "markdown"):
        out = project.run("switch", "--stack", project.stack, "--to", "group-b", "--dry-run", "--format", fmt)
        fps.append(out.stdout)
    report = json.loads(fps[1])
    fp = report["fingerprint"]
    assert len(fp) == 16 and all(fp in text for text in fps)
    assert {(c["action"], c["name"]) for c in report["changes"]} >= {("MODIFY", h) for h in HOSTS}
    assert [s["name"] for s in report["steps"]][:2] == ["acquire-lease", "preflight"]
    assert report["blockers"] == []
    assert _snapshot(project, dev_env) == before
    again = json.loads(
        project.run("switch", "--stack", project.stack, "--to", "group-b", "--dry-run", "--json").stdout
    )
    assert again["fingerprint"] == fp
    # A changed target changes the plan, and so the fingerprint.
    topo = json.loads(json.dumps(project.topology))
    topo["groups"]["group-b"]["endpoints"]["www.app.example.test"]["a"] = [
        topo["groups"]["group-b"]["endpoints"]["www.app.example.test"]["a"][0]
    ]
    project.write_stack(topo, ["group-a"], lease=project.lease)
    changed = json.loads(
        project.run("switch", "--stack", project.stack, "--to", "group-b", "--dry-run", "--json").stdout
    )
    assert changed["fingerprint"] != fp
    # --plan with the old fingerprint now refuses, and says why.
    proc = project.run(
        "switch", "--stack", project.stack, "--to", "group-b", "--yes", "--plan", fp, check=False
    )
    assert proc.returncode == 5 and "changed since it was reviewed" in proc.stderr
    assert "config.changed-since-preview" in [e["type"] for e in audit_events(project)]
    assert serves(dev_env, project.topology, "group-a")


@pytest.mark.parametrize(
    "args,needle",
    [
        (["switch", "--to", "group-x"], "group-x"),
        (["switch", "--to", "group-b", "--plan", "not-a-fingerprint"], "not a plan fingerprint"),
        (["remove-active-group", "group-a"], "last active group"),
        (["remove-active-group", "group-zz"], "unknown group"),
        (["switch"], "give exactly one of"),
    ],
    ids=["unknown-group", "malformed-fingerprint", "remove-last-group", "remove-unknown-group", "no-target"],
)
def test_bad_input_is_refused_with_exit_2_and_changes_nothing(at_group_a, dev_env, args, needle):
    before = _snapshot(at_group_a, dev_env)
    proc = at_group_a.run(*args, "--stack", at_group_a.stack, "--yes", check=False)
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert needle in proc.stderr and "fix:" in proc.stderr, proc.stderr
    after = _snapshot(at_group_a, dev_env)
    assert (
        after["state"] == before["state"]
        and after["stacks"] == before["stacks"]
        and after["dns"] == before["dns"]
    )


def test_add_and_remove_active_group_preview_every_affected_endpoint(at_group_a, dev_env):
    project = at_group_a
    dry = json.loads(
        project.run("add-active-group", "group-b", "--stack", project.stack, "--dry-run", "--json").stdout
    )
    assert dry["to_groups"] == ["group-a", "group-b"]
    project.run("add-active-group", "group-b", "--stack", project.stack, "--yes")
    out = project.run("get-active-groups", "--stack", project.stack, "--json")
    assert json.loads(out.stdout)["active_groups"] == ["group-a", "group-b"]
    removal = project.run("remove-active-group", "group-a", "--stack", project.stack, "--dry-run")
    for host in HOSTS:
        assert host in removal.stdout  # every affected endpoint is listed before confirming
    project.run("remove-active-group", "group-a", "--stack", project.stack, "--yes")
    assert serves(dev_env, project.topology, "group-b")


def test_two_concurrent_switches_exactly_one_proceeds(at_group_a, dev_env):
    project = at_group_a
    marker = project.root / ".orchestrator" / "paused-at-preflight"
    first = project.start(
        "switch", "--stack", project.stack, "--to", "group-b", "--yes", ORCHESTRATOR_PAUSE_AT="preflight"
    )
    try:
        wait_for(marker.exists, 60, "the first switch to hold the lease")
        second = project.run("switch", "--stack", project.stack, "--to", "group-b", "--yes", check=False)
        assert second.returncode == 5, second.stderr
        assert "lease" in second.stderr and "held by" in second.stderr and "switch" in second.stderr
        assert "lease.collision" in [e["type"] for e in audit_events(project)]
    finally:
        marker.unlink(missing_ok=True)
    out, err = first.communicate(timeout=300)
    assert first.returncode == 0, err
    assert serves(dev_env, project.topology, "group-b")


def test_quorum_one_lease_server_down_still_switches_two_down_blocks(at_group_a, dev_env):
    project = at_group_a
    env = dev_env.env
    env.stop_server("lease", 0)
    try:
        project.run("switch", "--stack", project.stack, "--to", "group-b", "--yes")
        env.stop_server("lease", 1)
        try:
            before = project.state_files()
            proc = project.run("switch", "--stack", project.stack, "--to", "group-a", "--yes", check=False)
            assert proc.returncode == 3, proc.stderr
            assert "majority" in proc.stderr or "unavailable" in proc.stderr.lower(), proc.stderr
            assert project.state_files() == before
            assert serves(dev_env, project.topology, "group-b")
        finally:
            env.start_server("lease", 1)
    finally:
        env.start_server("lease", 0)


@pytest.mark.parametrize("step", STEPS)
def test_kill_9_in_each_step_then_resume_reaches_the_target(at_group_a, dev_env, step):
    project = at_group_a
    marker = project.root / ".orchestrator" / f"paused-at-{step}"
    with prober_for(dev_env) as prober:
        proc = project.start(
            "switch", "--stack", project.stack, "--to", "group-b", "--yes", ORCHESTRATOR_PAUSE_AT=step
        )
        wait_for(marker.exists, 120, f"the switch to reach {step}")
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        marker.unlink(missing_ok=True)
        out = project.run("switch", "--stack", project.stack, "--resume", "--yes")
        assert "completed" in out.stdout, out.stdout  # killed before the end: there is always a step left
        assert serves(dev_env, project.topology, "group-b")
    assert prober.failures == [], prober.failures[:10]
    assert project.locks() == []
    assert stack_active(project) == ["group-b"]
    for zone in ZONE_SERVERS:  # a resumed switch leaves the registry as a straight one
        assert kuadrant_violations(dev_env, zone, ["group-b"]) == [], zone
    again = project.run("switch", "--stack", project.stack, "--to", "group-b", "--yes")
    assert "already active" in again.stdout


def test_kill_9_during_the_flip_update_then_resume(at_group_a, dev_env):
    """Killed while Pulumi itself is writing (the stack lock is held): resume clears up and finishes."""
    project = at_group_a
    proc = project.start("switch", "--stack", project.stack, "--to", "group-b", "--yes")
    wait_for(
        lambda: (
            bool(project.locks())
            and any(
                e["type"] == "step.started" and e.get("step") == "flip-dns" for e in audit_events(project)
            )
        ),
        120,
        "the flip's Pulumi update to start",
    )
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    project.run("switch", "--stack", project.stack, "--resume", "--yes")
    assert serves(dev_env, project.topology, "group-b")
    assert project.locks() == []


def _overwrite_lease(dev_env, holder: str):
    """Another holder overwrites the lease record on every lease server (as a rogue or split-brain peer)."""
    from orchestrator.adapters.lease import LeaseRecord, lease_from_config

    old = dict(os.environ)
    os.environ["ORCHESTRATOR_DEV_DIR"] = str(dev_env.state_dir)
    try:
        lease = lease_from_config(LEASE)
        now = time.time()
        for member in lease.members:
            seen = member.observe()
            epoch = (seen.record.epoch if seen.record else 0) + 1
            assert member.swap(seen, LeaseRecord(holder, epoch, now + 60, now))
        return lease
    finally:
        os.environ.clear()
        os.environ.update(old)


def test_lease_lost_mid_switch_stops_before_the_next_write(at_group_a, dev_env):
    project = at_group_a
    marker = project.root / ".orchestrator" / "paused-at-flip-dns"
    proc = project.start(
        "switch", "--stack", project.stack, "--to", "group-b", "--yes", ORCHESTRATOR_PAUSE_AT="flip-dns"
    )
    try:
        wait_for(marker.exists, 120, "the switch to reach flip-dns")
        lease = _overwrite_lease(dev_env, "intruder@elsewhere:1/sw-intruder")
    finally:
        marker.unlink(missing_ok=True)
    out, err = proc.communicate(timeout=300)
    try:
        assert proc.returncode == 5, err
        assert "lease" in err.lower() and "intruder" in err, err
        assert serves(dev_env, project.topology, "group-a"), "no write may happen after the lease was lost"
        types = [e["type"] for e in audit_events(project)]
        assert "step.failed" in types and "switchover.failed" in types
    finally:
        old = dict(os.environ)
        os.environ["ORCHESTRATOR_DEV_DIR"] = str(dev_env.state_dir)
        try:
            lease.release(lease.read())
        finally:
            os.environ.clear()
            os.environ.update(old)


# Inside the demo zone that Unbound forwards to PowerDNS, so verify's resolver vantage sees it too;
# its own PowerDNS zone, so its active-groups and registry records are its own.
BIG_ZONE = "big.app.example.test"
BIG_HOSTS = 200


def _powerdns_api(dev_env) -> tuple[str, dict[str, str]]:
    server = find_server(dev_env.status, "powerdns")
    return server["api_url"], {"X-API-Key": dev_env.secrets["powerdns_api_key"]}


def _big_a_records(dev_env) -> dict[str, list[str]]:
    """host -> A values served in the big zone (one GET of the zone, fast enough to poll)."""
    api, headers = _powerdns_api(dev_env)
    zone = requests.get(
        f"{api}/api/v1/servers/localhost/zones/{BIG_ZONE}.", headers=headers, timeout=10
    ).json()
    return {
        r["name"].rstrip("."): sorted(x["content"] for x in r["records"])
        for r in zone.get("rrsets", [])
        if r["type"] == "A"
    }


def _state_a_records(project) -> tuple[list, dict[str, list[str]]]:
    """(pending operations, host -> A values) of the stack's checkpoint file."""
    (path,) = (project.root / ".pulumi-state" / ".pulumi" / "stacks").rglob(f"{project.stack}.json")
    latest = json.loads(path.read_text())["checkpoint"]["latest"]
    records = {
        r["outputs"]["name"].rstrip("."): sorted(r["outputs"]["values"])
        for r in latest.get("resources", [])
        if (r.get("outputs") or {}).get("type") == "A"
    }
    return latest.get("pending_operations") or [], records


def deploy_big(dev_env, tmp_path, stack: str, hosts: list[str]) -> TempProject:
    """A stack of these hostnames in BIG_ZONE, each with a health URL, deployed at group-a."""
    api, headers = _powerdns_api(dev_env)
    ensure_zones(api, headers["X-API-Key"], [BIG_ZONE])
    health = {"port": dev_env.workload_port, "path": "/healthz"}

    def group(addresses: list[str]) -> dict:
        return {
            "endpoints": {
                h: {"a": [addresses[i % len(addresses)]], "health": health} for i, h in enumerate(hosts)
            }
        }

    proj = TempProject.create(tmp_path, dev_env.state_dir, stack=stack)
    proj.topology = {
        "ttl": TTL,
        "zones": [{"name": BIG_ZONE, "provider": "powerdns", "settings": {"server": "dev"}}],
        "groups": {"group-a": group(dev_env.group_a), "group-b": group(dev_env.group_b)},
    }
    proj.write_stack(proj.topology, ["group-a"], lease=LEASE)
    proj.run("up", "--stack", proj.stack, "--yes")
    return proj


@pytest.fixture
def big_project(dev_env, tmp_path):
    """A stack of BIG_HOSTS hostnames, each with a health URL, on its own PowerDNS zone."""
    proj = deploy_big(dev_env, tmp_path, "big", [f"h{i}.{BIG_ZONE}" for i in range(BIG_HOSTS)])
    yield proj
    proj.destroy()


def test_a_stack_config_over_128_kib_deploys_previews_and_switches(dev_env, tmp_path):
    """The engine passes a plugin its package's config in one environment string, which Linux
    caps at 128 KiB: the provider plugin, the program and the policy pack must each get a
    config bigger than that (long hostnames here, as ~900 short ones with health URLs)."""
    # Long names within DNS's limits, registry names included (first label at most 43).
    pad = f"{'x' * 35}.{'y' * 60}.{'z' * 60}"
    hosts = [f"h{i}-{pad}.{BIG_ZONE}" for i in range(400)]
    proj = deploy_big(dev_env, tmp_path, "wide", hosts)
    try:
        config = proj.stack_file.read_text()
        assert len(config.encode()) > 128 * 1024, "the config must be over the limit"
        dry = proj.run("switch", "--stack", proj.stack, "--to", "group-b", "--dry-run", "--json")
        plan = json.loads(dry.stdout)
        assert plan["blockers"] == [] and len(plan["changes"]) >= len(hosts), dry.stdout[-2000:]
        proj.run("switch", "--stack", proj.stack, "--to", "group-b", "--yes", "--plan", plan["fingerprint"])
        served = _big_a_records(dev_env)
        assert all(served.get(h) == [dev_env.group_b[i % 2]] for i, h in enumerate(hosts))
        assert stack_active(proj) == ["group-b"]
    finally:
        proj.destroy()


def test_kill_9_in_the_middle_of_a_large_update_then_resume(big_project, dev_env):
    """The switch's updates skip Pulumi's per-step checkpoints: a kill -9 halfway through the
    flip leaves the state of before the update (no pending operation) while DNS is half
    flipped; --resume refreshes, re-applies what is left, and no answer is ever empty."""
    project = big_project
    group_b = {f"h{i}.{BIG_ZONE}": sorted([dev_env.group_b[i % 2]]) for i in range(BIG_HOSTS)}
    pdns = find_server(dev_env.status, "powerdns")
    sample = [f"h{i}.{BIG_ZONE}" for i in range(0, BIG_HOSTS, 10)]
    with Prober(servers=[("powerdns", pdns["address"], pdns["port"], False, sample)]) as prober:
        # Output to a file, not a pipe: the report of 200 hostnames would fill a pipe nobody reads.
        log = project.root / "switch.log"
        with open(log, "w") as out:
            proc = subprocess.Popen(
                [ORCHESTRATOR, "switch", "--stack", project.stack, "--to", "group-b", "--yes"],
                cwd=project.root,
                env=project.env(),
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

        def halfway() -> bool:
            if proc.poll() is not None:  # over before we could catch it part way: say why
                raise AssertionError(f"the switch exited {proc.returncode} first\n{log.read_text()[-3000:]}")
            flipped = sum(1 for h, v in _big_a_records(dev_env).items() if group_b.get(h) == v)
            return 0 < flipped < BIG_HOSTS

        wait_for(halfway, 600, "the flip's update to be part way through")
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        served = _big_a_records(dev_env)
        flipped = sum(1 for h, v in served.items() if group_b.get(h) == v)
        assert 0 < flipped < BIG_HOSTS, f"killed with {flipped} of {BIG_HOSTS} flipped"
        # Checkpoints skipped: the state is the one from before the update, whole, with no
        # pending operation, although DNS is part way through.
        pending, in_state = _state_a_records(project)
        assert pending == []
        group_a = {f"h{i}.{BIG_ZONE}": sorted([dev_env.group_a[i % 2]]) for i in range(BIG_HOSTS)}
        assert in_state == group_a
        out = project.run("switch", "--stack", project.stack, "--resume", "--yes")
        assert "completed" in out.stdout, out.stdout
    assert prober.queries > len(sample), "the prober must have probed through the kill and the resume"
    assert prober.failures == [], prober.failures[:10]
    served = _big_a_records(dev_env)  # also holds the zone's own ns1 glue
    assert {h: served.get(h) for h in group_b} == group_b
    assert project.locks() == []
    assert stack_active(project) == ["group-b"]
    again = project.run("switch", "--stack", project.stack, "--to", "group-b", "--yes")
    assert "already active" in again.stdout


def test_powerdns_stopped_during_the_flip_one_clear_error_then_resume(at_group_a, dev_env):
    """PowerDNS frozen (SIGSTOP: it keeps its port, SIGCONT brings it back as it was) while the
    flip writes: the switch fails with one error naming PowerDNS, and --resume finishes."""
    project = at_group_a
    pdns = find_server(dev_env.status, "powerdns")
    marker = project.root / ".orchestrator" / "paused-at-flip-dns"
    proc = project.start(
        "switch", "--stack", project.stack, "--to", "group-b", "--yes", ORCHESTRATOR_PAUSE_AT="flip-dns"
    )
    stopped = False
    try:
        wait_for(marker.exists, 120, "the switch to reach flip-dns")
        os.kill(pdns["pid"], signal.SIGSTOP)
        stopped = True
        marker.unlink()
        out, err = proc.communicate(timeout=300)
    finally:
        marker.unlink(missing_ok=True)
        if stopped:
            os.kill(pdns["pid"], signal.SIGCONT)
    assert proc.returncode != 0, out
    errors = [ln for ln in err.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1, err
    assert "PowerDNS" in errors[0] and pdns["api_url"] in err, err
    assert "fix:" in err
    types = [e["type"] for e in audit_events(project)]
    assert "step.failed" in types and types[-1] in ("switchover.failed", "lease.released")
    out = project.run("switch", "--stack", project.stack, "--resume", "--yes")
    assert "completed" in out.stdout, out.stdout
    assert serves(dev_env, project.topology, "group-b")
    assert stack_active(project) == ["group-b"]
    assert project.locks() == []
