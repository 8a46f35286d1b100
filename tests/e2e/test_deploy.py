"""`orchestrator up` / `preview` through the real Pulumi engine into real PowerDNS and BIND."""

from __future__ import annotations

import pytest

from orchestrator.devenv import find_server
from tests.e2e.dnsutil import query, wait_for
from tests.e2e.project import HOSTS, TempProject, demo_topology

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def project(dev_env, tmp_path_factory):
    proj = TempProject.create(tmp_path_factory.mktemp("deploy"), dev_env.state_dir)
    proj.topology = demo_topology(dev_env.group_a, dev_env.group_b, dev_env.workload_port)
    proj.write_stack(proj.topology, ["group-a"])
    yield proj
    proj.destroy()


def served(dev_env, role: str, host: str) -> set[str]:
    server = find_server(dev_env.status, role)
    rcode, values = query(server["address"], server["port"], host)
    assert rcode == "NOERROR", f"{role} answered {rcode} for {host}"
    return values


def expected_a(topology, group: str, host: str) -> set[str]:
    return set(topology["groups"][group]["endpoints"][host]["a"])


def test_up_creates_the_records_on_both_servers_and_unbound_resolves_them(project, dev_env):
    out = project.run("up", "--stack", project.stack, "--yes")
    assert "created" in out.stdout or "create" in out.stdout
    for host, role in HOSTS.items():
        assert served(dev_env, role, host) == expected_a(project.topology, "group-a", host)
    unbound = find_server(dev_env.status, "unbound")
    for host in HOSTS:
        rcode, values = query(unbound["address"], unbound["port"], host, recursive=True)
        assert (rcode, values) == ("NOERROR", expected_a(project.topology, "group-a", host))
    # The zone's active-groups TXT is published on each server.
    server = find_server(dev_env.status, "bind")
    assert query(server["address"], server["port"], "kuadrant-active-groups.svc.example.test", "TXT")[1] == {
        "version=1;groups=group-a"
    }


def test_second_up_changes_nothing(project):
    before = project.state_files()
    out = project.run("up", "--stack", project.stack, "--yes")
    assert "Nothing to change" in out.stdout
    assert project.state_files() == before


def test_changed_target_shows_as_update_in_preview_and_is_served_after_up(project, dev_env):
    topo = project.topology
    old = sorted(topo["groups"]["group-a"]["endpoints"]["www.app.example.test"]["a"])
    new_target = dev_env.group_a[0] if old[-1] != dev_env.group_a[0] else dev_env.group_a[1]
    topo["groups"]["group-a"]["endpoints"]["www.app.example.test"]["a"] = [new_target]
    project.write_stack(topo, ["group-a"])
    preview = project.run("preview", "--stack", project.stack, "--json")
    import json

    report = json.loads(preview.stdout)
    rows = [r for r in report["changes"] if r["name"] == "www.app.example.test" and r["type"] == "A"]
    assert rows == [
        {
            "action": "MODIFY",
            "resource": "app.example.test/www.app.example.test/A",
            "zone": "app.example.test",
            "name": "www.app.example.test",
            "type": "A",
            "old_values": old,
            "new_values": [new_target],
        }
    ]
    assert served(dev_env, "powerdns", "www.app.example.test") == set(old), "preview must not change DNS"
    project.run("up", "--stack", project.stack, "--yes")
    wait_for(
        lambda: served(dev_env, "powerdns", "www.app.example.test") == {new_target},
        10,
        "PowerDNS to serve the new target",
    )


def _assert_refused_cleanly(project, proc, *needles: str) -> None:
    assert proc.returncode != 0
    for needle in needles:
        assert needle in proc.stderr, proc.stderr
    assert "fix:" in proc.stderr
    assert project.locks() == [], "the stack must not be left locked"


def test_wrong_powerdns_api_key_is_one_clear_error_and_changes_nothing(project, dev_env):
    before = project.state_files()
    pdns = find_server(dev_env.status, "powerdns")
    proc = project.run("up", "--stack", project.stack, "--yes", check=False, POWERDNS_API_KEY="wrong-key")
    _assert_refused_cleanly(project, proc, pdns["api_url"], "API key")
    assert proc.returncode == 4
    assert project.state_files() == before
    project.run("up", "--stack", project.stack, "--yes")  # after the fix: succeeds


def test_tsig_key_mismatch_is_one_clear_error_and_changes_nothing(project, dev_env):
    before = project.state_files()
    bind = find_server(dev_env.status, "bind")
    wrong = "c2VjcmV0LXRoYXQtaXMtbm90LXRoZS1zZXJ2ZXJzLWtleQ=="
    proc = project.run("up", "--stack", project.stack, "--yes", check=False, TSIG_SECRET=wrong)
    _assert_refused_cleanly(project, proc, f"{bind['address']}:{bind['port']}", "TSIG")
    assert proc.returncode == 4
    assert project.state_files() == before
    project.run("up", "--stack", project.stack, "--yes")


def test_unreachable_server_is_one_clear_error_and_changes_nothing(project, dev_env):
    import socket

    with socket.socket() as s:  # a port with nothing listening
        s.bind(("127.0.0.1", 0))
        dead_port = s.getsockname()[1]
    topo = project.topology
    zones = [dict(z) for z in topo["zones"]]
    zones[0] = dict(zones[0], settings={"apiUrl": f"http://127.0.0.1:{dead_port}"})
    project.write_stack(dict(topo, zones=zones), ["group-a"])
    before = project.state_files()
    try:
        proc = project.run("up", "--stack", project.stack, "--yes", check=False, POWERDNS_API_KEY="x")
        _assert_refused_cleanly(project, proc, f"127.0.0.1:{dead_port}", "unreachable")
        assert proc.returncode == 3
        assert project.state_files() == before
    finally:
        project.write_stack(topo, ["group-a"])
    project.run("up", "--stack", project.stack, "--yes")
