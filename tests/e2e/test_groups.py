"""Groups as Pulumi resources on real PowerDNS and BIND: transitions, registry, preview, bad input."""

from __future__ import annotations

import json

import pytest

from orchestrator.devenv import find_server
from tests.e2e.dnsutil import query
from tests.e2e.project import HOSTS, TempProject, demo_topology

pytestmark = pytest.mark.e2e

ZONE_ROLE = {"app.example.test": "powerdns", "svc.example.test": "bind"}
# Kuadrant's owner hash (SHA-224, base36, 8 chars) of the default owners, see test_kuadrant_formats.py.
OWNER_HASH = {"group-a": "d68s2bp8", "group-b": "xos7jddv"}


@pytest.fixture(scope="module")
def project(dev_env, tmp_path_factory):
    proj = TempProject.create(tmp_path_factory.mktemp("groups"), dev_env.state_dir, stack="groups")
    proj.topology = demo_topology(dev_env.group_a, dev_env.group_b, dev_env.workload_port)
    proj.write_stack(proj.topology, ["group-a"])
    proj.run("up", "--stack", proj.stack, "--yes")
    yield proj
    proj.destroy()


def ask(dev_env, zone_or_host: str, name: str, rtype: str) -> tuple[str, set[str]]:
    zone = next(z for z in ZONE_ROLE if zone_or_host.endswith(z))
    server = find_server(dev_env.status, ZONE_ROLE[zone])
    return query(server["address"], server["port"], name, rtype)


def targets(topology, group: str, host: str) -> list[str]:
    return sorted(topology["groups"][group]["endpoints"][host]["a"])


def assert_serves_exactly(project, dev_env, active: list[str]) -> None:
    topo = project.topology
    for host in HOSTS:
        want = {t for g in active for t in targets(topo, g, host)}
        assert ask(dev_env, host, host, "A") == ("NOERROR", want), host
    groups_txt = "version=1;groups=" + "&&".join(sorted(active))
    for zone in ZONE_ROLE:
        assert ask(dev_env, zone, f"kuadrant-active-groups.{zone}", "TXT") == ("NOERROR", {groups_txt})
    for host in HOSTS:
        for group in ("group-a", "group-b"):
            name = f"kuadrant-{OWNER_HASH[group]}-a-{host}"
            rcode, values = ask(dev_env, host, name, "TXT")
            if group in active:
                expected = (
                    f"heritage=external-dns,external-dns/group={group},external-dns/owner={group},"
                    f"external-dns/targets={';'.join(targets(topo, group, host))},external-dns/version=1"
                )
                assert values == {expected}, f"registry entry {name}"
            else:
                assert values == set(), f"stale registry entry {name} survived: {values}"
    report = json.loads(project.run("status", "--stack", project.stack, "--json").stdout)
    assert report["in_sync"], report["problems"]
    assert report["stale_registry"] == []
    for row in report["hostnames"]:
        assert set(row["owners"].values()) <= set(active), row


@pytest.mark.parametrize(
    "active",
    [["group-a"], ["group-a", "group-b"], ["group-b"], ["group-a"]],
    ids=["a", "a+b", "b", "back-to-a"],
)
def test_each_transition_serves_exactly_the_active_groups(project, dev_env, active):
    project.write_stack(project.topology, active)
    project.run("up", "--stack", project.stack, "--yes")
    assert_serves_exactly(project, dev_env, active)


def test_preview_lists_affected_record_sets_with_old_and_new_targets(project, dev_env):
    project.write_stack(project.topology, ["group-a"])
    project.run("up", "--stack", project.stack, "--yes")
    project.write_stack(project.topology, ["group-b"])
    try:
        report = json.loads(project.run("preview", "--stack", project.stack, "--json").stdout)
    finally:
        project.write_stack(project.topology, ["group-a"])
    topo = project.topology
    rows = {(r["name"], r["type"]): r for r in report["changes"]}
    for host in HOSTS:
        row = rows[(host, "A")]
        assert row["action"] == "MODIFY"
        assert row["old_values"] == targets(topo, "group-a", host)
        assert row["new_values"] == targets(topo, "group-b", host)
        assert rows[(f"kuadrant-{OWNER_HASH['group-b']}-a-{host}", "TXT")]["action"] == "CREATE"
        assert rows[(f"kuadrant-{OWNER_HASH['group-a']}-a-{host}", "TXT")]["action"] == "DELETE"
    for zone in ZONE_ROLE:
        row = rows[(f"kuadrant-active-groups.{zone}", "TXT")]
        assert (row["action"], row["old_values"], row["new_values"]) == (
            "MODIFY",
            ["version=1;groups=group-a"],
            ["version=1;groups=group-b"],
        )
    assert_serves_exactly(project, dev_env, ["group-a"])  # a preview changes nothing


def _bad(topology: dict, edit) -> dict:
    topo = json.loads(json.dumps(topology))
    edit(topo)
    return topo


BAD_TOPOLOGIES = {
    "unknown-active-group": (lambda t: None, ["group-c"], "orchestrator:activeGroups"),
    "empty-active-set": (lambda t: None, [], "orchestrator:activeGroups"),
    "hostname-outside-zones": (
        lambda t: t["groups"]["group-a"]["endpoints"].update({"www.elsewhere.test": {"a": ["127.0.0.9"]}}),
        ["group-a"],
        "www.elsewhere.test",
    ),
    "cname-mixed-with-a": (
        lambda t: t["groups"]["group-b"]["endpoints"].update(
            {"www.app.example.test": {"cname": "lb.example.net"}}
        ),
        ["group-a"],
        "www.app.example.test",
    ),
    "duplicate-targets": (
        lambda t: t["groups"]["group-a"]["endpoints"]["www.app.example.test"].update(
            {"a": ["127.0.110.1", "127.0.110.1"]}
        ),
        ["group-a"],
        "duplicate",
    ),
    "bad-group-name": (
        lambda t: t["groups"].update(
            {"group;x": {"endpoints": {"x.app.example.test": {"a": ["127.0.0.9"]}}}}
        ),
        ["group-a"],
        "group;x",
    ),
    "malformed-target": (
        lambda t: t["groups"]["group-a"]["endpoints"]["www.app.example.test"].update({"a": ["127.0.0.300"]}),
        ["group-a"],
        "127.0.0.300",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_TOPOLOGIES))
def test_bad_topology_is_refused_and_changes_nothing(project, dev_env, case):
    edit, active, needle = BAD_TOPOLOGIES[case]
    project.write_stack(project.topology, ["group-a"])
    project.run("up", "--stack", project.stack, "--yes")
    before_state = project.state_files()
    project.write_stack(_bad(project.topology, edit), active)
    try:
        for command in (["preview"], ["up", "--yes"]):
            proc = project.run(*command, "--stack", project.stack, check=False)
            assert proc.returncode == 2, proc.stderr
            assert needle in proc.stderr and "fix:" in proc.stderr, proc.stderr
    finally:
        project.write_stack(project.topology, ["group-a"])
    assert project.state_files() == before_state
    assert project.locks() == []
    assert_serves_exactly(project, dev_env, ["group-a"])


def test_the_dry_run_shows_what_the_servers_serve_not_what_the_state_remembers(project, dev_env):
    """The preview refreshes each record set as the program declares it (run_program): a hand
    edit shows as the current value, a record deleted by hand as one to create again."""
    from orchestrator.adapters.dns.powerdns import PowerDNSClient
    from orchestrator.devenv import load_secrets

    project.write_stack(project.topology, ["group-a"])
    project.run("up", "--stack", project.stack, "--yes")
    pdns = find_server(dev_env.status, "powerdns")
    client = PowerDNSClient(pdns["api_url"], load_secrets(dev_env.state_dir)["powerdns_api_key"])
    edited, deleted = "www.app.example.test", "shop.app.example.test"
    assert HOSTS[edited] == HOSTS[deleted] == "powerdns"
    client.replace_rrset("app.example.test", edited, "A", 30, ["127.0.120.1"])
    client.delete_rrset("app.example.test", deleted, "A")
    try:
        report = json.loads(
            project.run("switch", "--stack", project.stack, "--to", "group-b", "--dry-run", "--json").stdout
        )
        rows = {(c["name"], c["type"]): c for c in report["changes"]}
        assert rows[(edited, "A")]["current"] == ["127.0.120.1"], rows[(edited, "A")]
        assert rows[(edited, "A")]["new"] == targets(project.topology, "group-b", edited)
        assert rows[(deleted, "A")]["current"] == [], rows[(deleted, "A")]
        assert rows[(deleted, "A")]["new"] == targets(project.topology, "group-b", deleted)
        # Read-only: the servers still serve the hand edits.
        assert ask(dev_env, edited, edited, "A")[1] == {"127.0.120.1"}
    finally:
        project.run("up", "--stack", project.stack, "--yes")  # `up` refreshes first: it repairs the drift
    assert_serves_exactly(project, dev_env, ["group-a"])


def test_status_reports_drift_made_behind_the_stacks_back(project, dev_env):
    from orchestrator.adapters.dns.powerdns import PowerDNSClient
    from orchestrator.devenv import load_secrets

    project.write_stack(project.topology, ["group-a"])
    project.run("up", "--stack", project.stack, "--yes")
    pdns = find_server(dev_env.status, "powerdns")
    client = PowerDNSClient(pdns["api_url"], load_secrets(dev_env.state_dir)["powerdns_api_key"])
    stale_name = f"kuadrant-{OWNER_HASH['group-b']}-a-www.app.example.test"
    stale_value = (
        "heritage=external-dns,external-dns/group=group-b,external-dns/owner=group-b,"
        "external-dns/targets=127.0.120.1,external-dns/version=1"
    )
    client.replace_rrset("app.example.test", "www.app.example.test", "A", 30, ["127.0.120.1"])
    client.replace_rrset("app.example.test", stale_name, "TXT", 30, [stale_value])
    try:
        proc = project.run("status", "--stack", project.stack, "--check", check=False)
        assert proc.returncode == 6, proc.stdout
        assert "DRIFT" in proc.stdout
        assert "www.app.example.test A: serves ['127.0.120.1']" in proc.stdout
        assert f"stale registry entry app.example.test/{stale_name}/TXT" in proc.stdout
        assert "belong to inactive group(s)" in proc.stdout
    finally:
        client.delete_rrset("app.example.test", stale_name, "TXT")
        project.run("up", "--stack", project.stack, "--yes")  # `up` refreshes first: it repairs the drift
    report = json.loads(project.run("status", "--stack", project.stack, "--json").stdout)
    assert report["in_sync"], report["problems"]
