"""The policy pack end to end: real `pulumi preview --policy-pack policy`, real switches.

Per policy: a violating configuration is reported (non-zero exit for a mandatory policy)
and a compliant one passes, with the pinned Pulumi CLI run by hand-style from the project
root and the config written by `python -m orchestrator.services.policies` (the documented by-hand
flow). The violations the orchestrator's own program can produce also stop
`orchestrator switch` before any write. Three policies guard states the orchestrator's
program never produces (an empty active-groups TXT, a registry entry that lies, two
database primaries): those run against a program that declares record sets directly, as
a hand edit or another tool would.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from orchestrator.adapters.pulumi.environment import engine_env
from orchestrator.devenv import find_server
from orchestrator.domain.desired import desired_state
from orchestrator.domain.topology import load_topology
from tests.e2e.dnsutil import query, wait_for
from tests.e2e.project import HOSTS, LEASE, REPO, TempProject, demo_topology

pytestmark = pytest.mark.e2e

POLICY_LINE = re.compile(r"^\s*- \[(?P<level>mandatory|advisory)\]\s+(?P<policy>[a-z-]+)\s", re.M)

RAW_PROGRAM = '''"""Test program: declares the record sets of config `test:records` as they are."""
import json

import pulumi
from pulumi.dynamic import CreateResult, Resource, ResourceProvider

from orchestrator.adapters.pulumi.provider.resources import RecordSet


class _Noop(ResourceProvider):
    def create(self, props):
        return CreateResult(id_=props["databasePair"] + "/" + props["group"], outs=props)


class DatabaseStandIn(Resource, name="DatabaseStandIn"):
    pass


names = []
for rec in json.loads(pulumi.Config("test").require("records")):
    if rec.get("kind") == "database":  # a stand-in with the single-primary contract's props
        DatabaseStandIn(_Noop(), f"db/{rec['databasePair']}/{rec['group']}", dict(rec, kind=None))
        continue
    key = f"{rec['zone']}/{rec['name']}/{rec['type']}"
    names.append(key)
    RecordSet(key, backend="powerdns", zone=rec["zone"], name=rec["name"], type=rec["type"],
                 ttl=rec["ttl"], values=rec["values"], settings={"server": "dev"})
pulumi.export("recordSets", sorted(names))
'''


# --- fixtures and helpers ------------------------------------------------------------------------


def with_policy_pack(project: TempProject) -> TempProject:
    """policy/ beside the project, as in the repository (its venv path made absolute)."""
    shutil.copytree(REPO / "policy", project.root / "policy", ignore=shutil.ignore_patterns("__pycache__"))
    spec = project.root / "policy" / "PulumiPolicy.yaml"
    doc = yaml.safe_load(spec.read_text())
    doc["runtime"]["options"]["virtualenv"] = str(REPO / ".venv")
    spec.write_text(yaml.safe_dump(doc, sort_keys=False))
    return project


@pytest.fixture(scope="module")
def project(dev_env, tmp_path_factory):
    proj = with_policy_pack(
        TempProject.create(tmp_path_factory.mktemp("policy"), dev_env.state_dir, "policy")
    )
    proj.topology = demo_topology(dev_env.group_a, dev_env.group_b, dev_env.workload_port)
    proj.write_stack(proj.topology, ["group-a"], lease=LEASE)
    proj.run("up", "--stack", proj.stack, "--yes")
    proj.deployed_state = proj.state_files()  # the demo as deployed; a test that changes it redeploys
    yield proj
    proj.destroy()


def set_health(dev_env, addresses, healthy: bool) -> None:  # noqa: ANN001
    for address in addresses:
        dev_env.env.set_workload_health(address, healthy)


@pytest.fixture
def deployed(project, dev_env):
    """Each test starts from the demo topology, group-a active and deployed, every workload healthy
    (and leaves every workload healthy: the environment is shared with the other modules)."""
    set_health(dev_env, [*dev_env.group_a, *dev_env.group_b], True)
    project.write_stack(project.topology, ["group-a"], lease=LEASE)
    if project.state_files() != project.deployed_state:
        project.run("up", "--stack", project.stack, "--yes")
        project.deployed_state = project.state_files()
    yield project
    set_health(dev_env, [*dev_env.group_a, *dev_env.group_b], True)


@pytest.fixture(scope="module")
def raw(dev_env, tmp_path_factory):
    """A never-deployed stack whose program declares `test:records` directly."""
    proj = with_policy_pack(TempProject.create(tmp_path_factory.mktemp("raw"), dev_env.state_dir, "raw"))
    (proj.root / "programs" / "__main__.py").write_text(RAW_PROGRAM)
    created = pulumi(proj, "stack", "select", "--create", proj.stack)
    assert created.returncode == 0, created.stderr
    topo = load_topology(demo_topology(dev_env.group_a, dev_env.group_b, dev_env.workload_port))
    proj.records = [
        {"zone": r.zone, "name": r.name, "type": r.type, "ttl": r.ttl, "values": list(r.values)}
        for r in desired_state(topo, ["group-a"]).all()
    ]
    # The pack's config for a stack that is empty now and will publish group-a.
    limits = json.loads((REPO / "policy" / "config.json").read_text())
    limits["no-empty-hostname"].update(before=[], topologyHostnames=[])
    limits["blast-radius"]["before"] = []
    limits["target-group-healthy"]["activeBefore"] = ["group-a"]
    proj.config = proj.root / "raw-policy-config.json"
    proj.config.write_text(json.dumps(limits))
    return proj


def pulumi(project: TempProject, *args: str) -> subprocess.CompletedProcess[str]:
    env = project.env()
    env.update(
        {k: v for k, v in engine_env(project.root, warn=False).items() if k != "PULUMI_CONFIG_PASSPHRASE"}
    )
    return subprocess.run(
        ["pulumi", *args, "--non-interactive"],
        cwd=project.root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def preview_with_pack(project: TempProject, *configs: Path) -> tuple[int, dict[str, str], str]:
    """`pulumi preview --policy-pack policy` from the project root: exit code, {policy: level}, output."""
    args = ["preview", "-s", project.stack, "--policy-pack", "policy"]
    for cfg in configs:
        args += ["--policy-pack-config", str(cfg)]
    proc = pulumi(project, *args)
    out = proc.stdout + proc.stderr
    found = {m["policy"]: m["level"] for m in POLICY_LINE.finditer(out)}
    return proc.returncode, found, out


def by_hand_config(project: TempProject, out: Path) -> Path:
    """The documented by-hand flow: `python -m orchestrator.services.policies --stack S --out FILE`."""
    proc = subprocess.run(
        [sys.executable, "-m", "orchestrator.services.policies", "--stack", project.stack, "--out", str(out)],
        cwd=project.root,
        env=project.env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return out


def measured_config(project: TempProject, tmp_path: Path, **overrides: dict) -> Path:
    """What `python -m orchestrator.services.policies` writes (state and health measured now), in-process."""
    from orchestrator.adapters.pulumi.stack import ProjectStack
    from orchestrator.services.deploy import load
    from orchestrator.services.policies import policy_run

    saved = dict(os.environ)
    os.environ.update(project.env())
    try:
        topology, active = load(project.root, project.stack)
        with policy_run(project.root, ProjectStack(project.root, project.stack), topology, active) as run:
            doc = run.config
    finally:
        os.environ.clear()
        os.environ.update(saved)
    for name, values in overrides.items():
        doc[name].update(values)
    out = tmp_path / "policy-config.json"
    out.write_text(json.dumps(doc))
    return out


def write_raw(raw: TempProject, records: list[dict]) -> None:
    doc = {"config": {"test:records": json.dumps(records)}}
    raw.stack_file.write_text(yaml.safe_dump(doc))


def snapshot(project: TempProject, dev_env) -> dict:
    answers = {}
    for host, role in HOSTS.items():
        server = find_server(dev_env.status, role)
        answers[host] = query(server["address"], server["port"], host)
    return {
        "state": project.state_files(),
        "stacks": {p.name: p.read_bytes() for p in (project.root / "stacks").iterdir()},
        "dns": answers,
    }


def audit_events(project: TempProject, kind: str) -> list[dict]:
    path = project.root / ".orchestrator" / "audit.jsonl"
    if not path.exists():
        return []
    return [e for e in map(json.loads, path.read_text().splitlines()) if e["type"] == kind]


def edited(topology: dict, edit) -> dict:  # noqa: ANN001
    topo = json.loads(json.dumps(topology))
    edit(topo)
    return topo


def assert_refused_before_any_write(project, dev_env, before: dict, proc, policy: str) -> None:
    assert proc.returncode == 7, (proc.returncode, proc.stdout, proc.stderr)
    assert f"policy {policy}:" in proc.stdout + proc.stderr, proc.stdout + proc.stderr
    after = snapshot(project, dev_env)
    assert after["dns"] == before["dns"] and after["state"] == before["state"]
    assert after["stacks"] == before["stacks"]


# --- policies the orchestrator's program can violate -------------------------------------------------


def test_no_empty_hostname(deployed, dev_env, tmp_path):
    project = deployed
    legacy = edited(
        project.topology,
        lambda t: t["groups"]["group-a"]["endpoints"].update(
            {"legacy.app.example.test": {"a": [dev_env.group_a[0]]}}
        ),
    )
    project.write_stack(legacy, ["group-a"], lease=LEASE)
    project.run("up", "--stack", project.stack, "--yes")  # legacy is published, by group-a only
    try:
        project.write_stack(legacy, ["group-b"], lease=LEASE)
        code, found, out = preview_with_pack(project, measured_config(project, tmp_path))
        assert code != 0 and found == {"no-empty-hostname": "mandatory"}, out
        assert "legacy.app.example.test is published now" in out
        project.write_stack(legacy, ["group-a", "group-b"], lease=LEASE)
        code, found, out = preview_with_pack(project, measured_config(project, tmp_path))
        assert code == 0 and found == {}, out
        # The switch is stopped before any write.
        project.write_stack(legacy, ["group-a"], lease=LEASE)
        before = snapshot(project, dev_env)
        proc = project.run("switch", "--stack", project.stack, "--to", "group-b", "--yes", check=False)
        assert_refused_before_any_write(project, dev_env, before, proc, "no-empty-hostname")
    finally:
        project.write_stack(project.topology, ["group-a"], lease=LEASE)
        # Retiring legacy from the topology is a reviewed change, not an empty hostname.
        project.run("up", "--stack", project.stack, "--yes")
        project.deployed_state = project.state_files()


def test_target_group_healthy(deployed, dev_env, tmp_path):
    project = deployed
    project.write_stack(project.topology, ["group-b"], lease=LEASE)
    try:
        # Without a measurement (only the thresholds) the policy refuses: never a pass by default.
        code, found, out = preview_with_pack(project, project.root / "policy" / "config.json")
        assert code != 0 and found.get("target-group-healthy") == "mandatory", out
        assert "no health measurement of group-b" in out
        set_health(dev_env, dev_env.group_b, False)
        code, found, out = preview_with_pack(project, measured_config(project, tmp_path))
        assert code != 0 and found == {"target-group-healthy": "mandatory"}, out
        assert "0 healthy endpoint(s) of 3" in out and "answered 503" in out
        set_health(dev_env, dev_env.group_b, True)
        code, found, out = preview_with_pack(project, by_hand_config(project, tmp_path / "by-hand.json"))
        assert code == 0 and found == {}, out
    finally:
        project.write_stack(project.topology, ["group-a"], lease=LEASE)
    set_health(dev_env, dev_env.group_b, False)
    before = snapshot(project, dev_env)
    proc = project.run("switch", "--stack", project.stack, "--to", "group-b", "--yes", check=False)
    assert_refused_before_any_write(project, dev_env, before, proc, "target-group-healthy")


def test_target_group_healthy_is_measured_again_under_the_lease(deployed, dev_env):
    """Healthy at the dry-run, failing by preflight: the preflight's own run of the pack stops it."""
    project = deployed
    marker = project.root / ".orchestrator" / "paused-at-preflight"
    proc = project.start(
        "switch", "--stack", project.stack, "--to", "group-b", "--yes", ORCHESTRATOR_PAUSE_AT="preflight"
    )
    try:
        wait_for(marker.exists, 120, "the switch to hold the lease and reach preflight")
        before = snapshot(project, dev_env)
        set_health(dev_env, dev_env.group_b, False)
    finally:
        marker.unlink(missing_ok=True)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 7, err
    assert "blocked by preflight" in err and "policy target-group-healthy:" in err
    after = snapshot(project, dev_env)
    assert after["dns"] == before["dns"] and after["state"] == before["state"]
    blocked = audit_events(project, "preflight.blocked")
    assert blocked and any("target-group-healthy" in b for b in blocked[-1]["blockers"])


def _reip_group_a(dev_env, hosts: tuple[str, ...]):  # noqa: ANN202
    """group-a's targets of `hosts` edited while group-a stays active (a migration, not a move)."""

    def edit(t: dict) -> None:
        for host in hosts:
            t["groups"]["group-a"]["endpoints"][host]["a"] = [dev_env.group_a[1]]

    return edit


def test_blast_radius(deployed, dev_env, tmp_path):
    project = deployed
    both = edited(project.topology, _reip_group_a(dev_env, ("www.app.example.test", "shop.app.example.test")))
    one = edited(project.topology, _reip_group_a(dev_env, ("www.app.example.test",)))
    try:
        # The app zone has 2 hostname record sets: one may change in one update, both may not.
        project.write_stack(both, ["group-a"], lease=LEASE)
        code, found, out = preview_with_pack(project, measured_config(project, tmp_path))
        assert code != 0 and found == {"blast-radius": "mandatory"}, out
        assert "zone app.example.test: this update changes or deletes 2 of its 2" in out
        project.write_stack(one, ["group-a"], lease=LEASE)
        code, found, out = preview_with_pack(project, measured_config(project, tmp_path))
        assert code == 0 and found == {}, out
        # Edits hidden inside an add-active-group still count, and stop it before any write.
        project.write_stack(both, ["group-a"], lease=LEASE)
        before = snapshot(project, dev_env)
        proc = project.run("add-active-group", "group-b", "--stack", project.stack, "--yes", check=False)
        assert_refused_before_any_write(project, dev_env, before, proc, "blast-radius")
        # `orchestrator up` runs the pack on its preview too.
        proc = project.run("up", "--stack", project.stack, "--yes", check=False)
        assert proc.returncode == 7 and "blast-radius" in proc.stderr, proc.stderr
        assert snapshot(project, dev_env)["state"] == before["state"]
    finally:
        project.write_stack(project.topology, ["group-a"], lease=LEASE)


def test_ttl_ceiling_is_advisory(deployed, dev_env, tmp_path):
    project = deployed
    slow = dict(project.topology, ttl=3600)
    try:
        project.write_stack(slow, ["group-a"], lease=LEASE)
        cfg = measured_config(project, tmp_path)
        code, found, out = preview_with_pack(project, cfg)
        assert code == 0 and found == {"ttl-ceiling": "advisory"}, out
        assert "www.app.example.test A has TTL 3600s, above 60s" in out
        strict = measured_config(project, tmp_path, **{"ttl-ceiling": {"enforcementLevel": "mandatory"}})
        code, found, out = preview_with_pack(project, strict)
        assert code != 0 and found == {"ttl-ceiling": "mandatory"}, out
        # Advisory violations are warnings of the dry-run report, not blockers.
        dry = project.run("switch", "--stack", project.stack, "--to", "group-b", "--dry-run", "--json")
        report = json.loads(dry.stdout)
        assert report["blockers"] == []
        assert any(w.startswith("policy ttl-ceiling (advisory):") for w in report["warnings"]), report
    finally:
        project.write_stack(project.topology, ["group-a"], lease=LEASE)


# --- policies that guard states only a hand edit or another tool produces -------------------------


def test_a_stack_exactly_as_the_program_would_publish_it_passes_every_policy(raw):
    write_raw(raw, raw.records)
    code, found, out = preview_with_pack(raw, raw.config)
    assert code == 0 and found == {}, out


def test_at_least_one_active_group(raw):
    records = [
        dict(r, values=["version=1"]) if r["name"].startswith("kuadrant-active-groups.app") else r
        for r in raw.records
    ]
    write_raw(raw, records)
    code, found, out = preview_with_pack(raw, raw.config)
    assert code != 0 and found.get("at-least-one-active-group") == "mandatory", out
    assert "kuadrant-active-groups.app.example.test would list no group" in out


def test_registry_consistent(raw):
    def lie(r: dict) -> dict:
        if r["name"].startswith("kuadrant-") and r["name"].endswith("-a-www.app.example.test"):
            return dict(r, values=[r["values"][0].replace("targets=", "targets=127.0.99.9;")])
        return r

    write_raw(raw, [lie(r) for r in raw.records])
    code, found, out = preview_with_pack(raw, raw.config)
    assert code != 0 and found == {"registry-consistent": "mandatory"}, out
    assert "publishes 127.0.99.9 for www.app.example.test A" in out


def test_single_primary_refuses_two_primaries_and_an_unmeasured_promotion_is_refused(raw, tmp_path):
    pair = [
        {"kind": "database", "databasePair": "orders", "group": "group-a", "primary": True},
        {"kind": "database", "databasePair": "orders", "group": "group-b", "primary": True},
    ]
    write_raw(raw, raw.records + pair)
    code, found, out = preview_with_pack(raw, raw.config)
    assert code != 0 and found == {"single-primary": "mandatory", "replica-caught-up": "mandatory"}, out
    assert "database pair orders would have 2 primaries" in out
    # The raw stack's config carries no replication reading: never a pass.
    assert "no replication measurement of database pair(s) orders" in out
    lowered = json.loads(raw.config.read_text())
    for name in ("single-primary", "replica-caught-up"):
        lowered[name]["enforcementLevel"] = "advisory"  # what an override does for one run
    (tmp_path / "lowered.json").write_text(json.dumps(lowered))
    code, found, out = preview_with_pack(raw, tmp_path / "lowered.json")
    assert code == 0 and found == {"single-primary": "advisory", "replica-caught-up": "advisory"}, out
    # No database pairs (the compliant stack above): passes.


# --- break-glass -----------------------------------------------------------------------------------------


def test_override_lowers_exactly_one_policy_and_is_audited(deployed, dev_env):
    project = deployed
    both = edited(project.topology, _reip_group_a(dev_env, ("www.app.example.test", "shop.app.example.test")))
    reason = "CHG-42: re-IP of group-a while adding group-b"
    override = ["--override-policy", "blast-radius", "--reason", reason]
    project.write_stack(both, ["group-a"], lease=LEASE)
    try:
        set_health(dev_env, dev_env.group_b, False)
        before = snapshot(project, dev_env)
        # Two violations; the overridden one becomes a warning, the other still blocks.
        add_b = ["add-active-group", "group-b", "--stack", project.stack]
        dry = project.run(*add_b, "--dry-run", "--json", *override, check=False)
        assert dry.returncode == 7, dry.stderr
        report = json.loads(dry.stdout)
        assert [b.split(":")[0] for b in report["blockers"]] == ["policy target-group-healthy"], report
        assert any(w.startswith(f"policy blast-radius OVERRIDDEN ({reason}):") for w in report["warnings"])
        assert snapshot(project, dev_env) == before
        assert audit_events(project, "policy.overridden") == []  # nothing was bypassed yet
        # With the other violation fixed, the override lets exactly that policy through.
        set_health(dev_env, dev_env.group_b, True)
        project.run(*add_b, "--yes", *override, ORCHESTRATOR_USER="alice@ops")
        (event,) = audit_events(project, "policy.overridden")
        assert (event["policy"], event["reason"], event["user"]) == ("blast-radius", reason, "alice@ops")
        assert event["switch_id"] and "zone app.example.test" in " ".join(event["violations"])
        server = find_server(dev_env.status, "powerdns")
        want = {dev_env.group_a[1], *dev_env.group_b}
        assert query(server["address"], server["port"], "www.app.example.test") == ("NOERROR", want)
    finally:
        # Back to the demo without another override: deactivating group-a explains its targets
        # leaving (a move), and the next test's fixture moves back to group-a.
        project.write_stack(project.topology, ["group-b"], lease=LEASE)
        project.run("up", "--stack", project.stack, "--yes", check=False)
