"""A stack deployed by the previous version (dynamic providers) upgrades in place.

The fixture is the state `pulumi stack export` gave after the previous version (commit
6c52463) deployed the e2e demo topology (tests/fixtures/previous-version-state.json, local
paths removed). Here the servers are given the records that deploy left, the state is
imported, upgraded once, and an `up` must change nothing in DNS.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from pulumi import automation as auto

from orchestrator.adapters.dns.powerdns import PowerDNSClient
from orchestrator.adapters.dns.rfc2136 import RFC2136Client
from orchestrator.adapters.pulumi.provider import DYNAMIC_TYPE, RECORD_SET_TYPE
from orchestrator.adapters.pulumi.stack import ProjectStack
from orchestrator.devenv import find_server
from tests.e2e.project import TempProject, demo_topology

pytestmark = pytest.mark.e2e

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "previous-version-state.json"


def clients(dev_env) -> dict[str, PowerDNSClient | RFC2136Client]:
    pdns, bind, s = (
        find_server(dev_env.status, "powerdns"),
        find_server(dev_env.status, "bind"),
        dev_env.secrets,
    )
    return {
        "powerdns": PowerDNSClient(api_url=pdns["api_url"], api_key=s["powerdns_api_key"]),
        "rfc2136": RFC2136Client(
            bind["address"], int(bind["port"]), s["tsig_key_name"], s["tsig_secret"], s["tsig_algorithm"]
        ),
    }


def zones_served(dev_env) -> dict[str, dict]:
    by_backend = clients(dev_env)
    return {
        "app.example.test": by_backend["powerdns"].read_zone("app.example.test"),
        "svc.example.test": by_backend["rfc2136"].read_zone("svc.example.test"),
    }


class Env:
    def __init__(self, proj: TempProject) -> None:
        self.proj = proj

    def __enter__(self) -> None:
        self.saved = dict(os.environ)
        os.environ.update(self.proj.env())

    def __exit__(self, *exc: object) -> None:
        os.environ.clear()
        os.environ.update(self.saved)


def test_a_stack_of_the_previous_version_upgrades_with_no_dns_change(dev_env, tmp_path):
    doc = json.loads(FIXTURE.read_text())
    old = [r for r in doc["deployment"]["resources"] if r["type"] == DYNAMIC_TYPE]
    # What the previous version's deploy left on the servers.
    by_backend = clients(dev_env)
    for res in old:
        o = res["outputs"]
        by_backend[o["backend"]].apply(
            o["zone"], [("replace", o["name"], o["type"], int(o["ttl"]), o["values"])]
        )
    before = zones_served(dev_env)

    proj = TempProject.create(tmp_path, dev_env.state_dir)
    proj.write_stack(demo_topology(dev_env.group_a, dev_env.group_b, dev_env.workload_port), ["group-a"])
    with Env(proj):
        stack = ProjectStack(proj.root, proj.stack).stack()
        stack.import_stack(auto.Deployment(version=doc["version"], deployment=doc["deployment"]))
    try:
        upgrade = subprocess.run(
            [sys.executable, "-m", "orchestrator.adapters.pulumi.provider.upgrade", "--stack", proj.stack],
            cwd=proj.root,
            env=proj.env(),
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert upgrade.returncode == 0, upgrade.stderr
        assert f"{len(old)} resources moved" in upgrade.stdout
        assert zones_served(dev_env) == before  # the upgrade itself touches no server

        preview = proj.run("preview", "--stack", proj.stack, "--json")
        assert json.loads(preview.stdout)["changes"] == []  # no record set created, updated or deleted
        up = proj.run("up", "--stack", proj.stack, "--yes")
        assert zones_served(dev_env) == before, up.stdout
        with Env(proj):
            after = ProjectStack(proj.root, proj.stack).stack().export_stack().deployment["resources"]
        assert {r["type"] for r in after if r["urn"].rsplit("::", 1)[1] in {x["id"] for x in old}} == {
            RECORD_SET_TYPE
        }
        again = proj.run("up", "--stack", proj.stack, "--yes")
        assert "Nothing to change" in again.stdout, again.stdout
    finally:
        proj.destroy()
