"""The project's provider plugin against the real servers and the real engine.

- the DNS clients' batch writes and whole-zone reads on PowerDNS and BIND (AXFR with TSIG);
- the plugin's batching with one error per record set, and the lease fence inside the plugin;
- the state it writes (typed resources, no pickled provider);
- a stack config over 128 KiB reaches the program (it once overflowed an environment string);
- a kill -9 of the orchestrator, or of its process group, leaves no process behind.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from pathlib import Path

import dns.message
import dns.opcode
import dns.query
import dns.rcode
import dns.xfr
import dns.zone
import pytest
import yaml

from orchestrator.adapters.dns.errors import CredentialsRejected, ProviderError
from orchestrator.adapters.dns.livezone import read_live
from orchestrator.adapters.dns.powerdns import Change, PowerDNSClient
from orchestrator.adapters.dns.rfc2136 import MAX_MESSAGE, RFC2136Client
from orchestrator.adapters.lease import LeaseRecord, fence_env, lease_from_config
from orchestrator.adapters.pulumi.provider import PRIMARY_TYPE, RECORD_SET_TYPE
from orchestrator.adapters.pulumi.provider.batching import ZoneWriter
from orchestrator.adapters.pulumi.stack import ProjectStack
from orchestrator.devenv import find_server
from orchestrator.domain.topology import load_topology
from tests.e2e.dnsutil import query, wait_for
from tests.e2e.project import HOSTS, TempProject, demo_topology
from tests.e2e.test_lease import lease_cfg, write_directly

pytestmark = pytest.mark.e2e

PDNS_ZONE = "app.example.test"
BIND_ZONE = "svc.example.test"


def powerdns(dev_env) -> PowerDNSClient:
    server = find_server(dev_env.status, "powerdns")
    return PowerDNSClient(api_url=server["api_url"], api_key=dev_env.secrets["powerdns_api_key"])


def bind(dev_env, secret: str | None = None) -> RFC2136Client:
    server = find_server(dev_env.status, "bind")
    s = dev_env.secrets
    return RFC2136Client(
        address=server["address"],
        port=int(server["port"]),
        key_name=s["tsig_key_name"],
        key_secret=secret or s["tsig_secret"],
        key_algorithm=s["tsig_algorithm"],
    )


def names(prefix: str, zone: str, count: int) -> list[str]:
    return [f"{prefix}{i}.{zone}" for i in range(count)]


# --- the clients: one request for many changes, one read for a whole zone -------------------------


def test_powerdns_one_patch_applies_many_changes_and_one_get_reads_the_whole_zone(dev_env):
    client = powerdns(dev_env)
    hosts = names("batch-p", PDNS_ZONE, 300)
    client.apply(
        PDNS_ZONE, [("replace", h, "A", 60, [f"10.1.{i // 250}.{i % 250 + 1}"]) for i, h in enumerate(hosts)]
    )
    zone = client.read_zone(PDNS_ZONE)
    assert zone[(hosts[7], "A")] == (60, ["10.1.0.8"])
    assert all((h, "A") in zone for h in hosts)
    assert (PDNS_ZONE, "SOA") in zone  # the whole zone, not only what we wrote
    server = find_server(dev_env.status, "powerdns")
    assert query(server["address"], server["port"], hosts[299]) == ("NOERROR", {"10.1.1.50"})
    client.apply(PDNS_ZONE, [("delete", h, "A", 0, ()) for h in hosts])
    assert not any((h, "A") in client.read_zone(PDNS_ZONE) for h in hosts)


def test_rfc2136_changes_beyond_one_message_are_split_at_64k_and_axfr_reads_them_all(dev_env):
    sent: list[int] = []

    class Counting(RFC2136Client):
        def _send(self, msg):  # noqa: ANN001, ANN202 (dnspython message types)
            if msg.opcode() == dns.opcode.UPDATE:
                sent.append(len(msg.to_wire()))
            return super()._send(msg)

    client = Counting(
        **{
            f: getattr(bind(dev_env), f)
            for f in ("address", "port", "key_name", "key_secret", "key_algorithm")
        }
    )
    hosts = names("batch-b", BIND_ZONE, 600)
    value = "x" * 200  # ~600 x 260 bytes: about 150 KB of changes
    client.apply(BIND_ZONE, [("replace", h, "TXT", 60, [f"{value}-{i}"]) for i, h in enumerate(hosts)])
    assert len(sent) >= 3 and max(sent) <= MAX_MESSAGE, sent
    zone = client.read_zone(BIND_ZONE)
    assert zone[(hosts[599], "TXT")] == (60, [f"{value}-599"])
    assert all((h, "TXT") in zone for h in hosts)
    client.apply(BIND_ZONE, [("delete", h, "TXT", 0, ()) for h in hosts])
    assert not any((h, "TXT") in client.read_zone(BIND_ZONE) for h in hosts)


def test_the_local_bind_allows_axfr_only_with_the_tsig_key(dev_env):
    server = find_server(dev_env.status, "bind")
    unsigned = dns.zone.Zone(f"{BIND_ZONE}.")
    with pytest.raises(dns.xfr.TransferError) as refused:
        dns.query.inbound_xfr(server["address"], unsigned, port=int(server["port"]), timeout=5)
    assert refused.value.rcode == dns.rcode.REFUSED
    with pytest.raises(CredentialsRejected, match="rejected the TSIG key"):
        bind(dev_env, secret="d3Jvbmcgc2VjcmV0IGZvciB0aGUgdGVzdA==").read_zone(BIND_ZONE)
    assert (BIND_ZONE, "SOA") in bind(dev_env).read_zone(BIND_ZONE)


@pytest.mark.parametrize("role", ["powerdns", "bind"])
def test_a_failed_batch_lands_its_error_on_the_one_bad_record_set(dev_env, role):
    client, zone = (powerdns(dev_env), PDNS_ZONE) if role == "powerdns" else (bind(dev_env), BIND_ZONE)
    fences: list[int] = []
    writer = ZoneWriter(client, zone, fence=lambda: fences.append(1), window=0.05)
    hosts = names(f"culprit-{role}-", zone, 8)
    changes: list[Change] = [("replace", h, "A", 60, [f"10.2.0.{i + 1}"]) for i, h in enumerate(hosts)]
    changes[5] = ("replace", "outside.other-zone.test", "A", 60, ["10.2.0.99"])  # not in the zone

    async def write_all() -> list:
        return await asyncio.gather(*(writer.write(c) for c in changes), return_exceptions=True)

    results = asyncio.run(write_all())
    assert writer.batches == [8] and fences == [1]
    assert [r is None for r in results] == [True] * 5 + [False] + [True] * 2
    assert isinstance(results[5], ProviderError)
    live = client.read_zone(zone)
    assert all((h, "A") in live for i, h in enumerate(hosts) if i != 5)
    client.apply(zone, [("delete", h, "A", 0, ()) for i, h in enumerate(hosts) if i != 5])


# --- through the engine --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def project(dev_env, tmp_path_factory):
    proj = TempProject.create(tmp_path_factory.mktemp("provider"), dev_env.state_dir)
    proj.topology = demo_topology(dev_env.group_a, dev_env.group_b, dev_env.workload_port)
    proj.write_stack(proj.topology, ["group-a"])
    proj.run("up", "--stack", proj.stack, "--yes")
    yield proj
    proj.destroy()


def exported(proj: TempProject) -> dict:
    saved = dict(os.environ)
    os.environ.update(proj.env())
    try:
        return ProjectStack(proj.root, proj.stack).stack().export_stack().deployment
    finally:
        os.environ.clear()
        os.environ.update(saved)


def test_the_state_holds_typed_resources_served_by_the_project_plugin(project):
    resources = exported(project)["resources"]
    record_sets = [r for r in resources if r["type"] == RECORD_SET_TYPE]
    assert {r["inputs"]["name"] for r in record_sets} >= set(HOSTS)
    assert not [r for r in resources if r["type"].startswith("pulumi-python")]
    providers = {r["urn"] for r in resources if r["type"] == "pulumi:providers:orchestrator"}
    assert all(r["provider"].rsplit("::", 1)[0] in providers for r in record_sets)
    assert "__provider" not in json.dumps(resources)

    # Smaller than the same record set deployed by the previous version (its pickled provider
    # gone), not counting the engine's registration metadata (source position, stack trace).
    def size(r: dict) -> int:
        return len(json.dumps({k: v for k, v in r.items() if k not in ("sourcePosition", "stackTrace")}))

    fixture = json.loads(
        (Path(__file__).resolve().parents[1] / "fixtures" / "previous-version-state.json").read_text()
    )
    before = {r["id"]: size(r) for r in fixture["deployment"]["resources"] if "id" in r}
    shrunk = {r["id"]: (before[r["id"]], size(r)) for r in record_sets if r["id"] in before}
    assert len(shrunk) == 8 and all(new < old - 300 for old, new in shrunk.values()), shrunk
    assert all(
        r["id"] == f"{r['inputs']['zone']}/{r['inputs']['name']}/{r['inputs']['type']}" for r in record_sets
    )
    assert PRIMARY_TYPE  # (the demo topology of the tests has no database pair)


def test_the_lease_fence_reaches_the_plugin_and_a_lost_lease_writes_nothing(project, dev_env):
    cfg = lease_cfg(dev_env, "dns")
    lease = lease_from_config(cfg)
    held = lease.acquire("alice@test:1/switch-prov", ttl=30)
    write_directly(
        dev_env, lease, LeaseRecord("bob@test:2/switch-prov", held.epoch + 1, time.time() + 30, time.time())
    )
    topo = json.loads(json.dumps(project.topology))
    topo["groups"]["group-a"]["endpoints"]["shop.app.example.test"]["a"] = [dev_env.group_a[1]]
    project.write_stack(topo, ["group-a"])
    try:
        out = project.run("up", "--stack", project.stack, "--yes", check=False, **fence_env(cfg, held))
        assert out.returncode != 0
        assert "write refused" in out.stderr and "is gone" in out.stderr, out.stderr
        server = find_server(dev_env.status, "powerdns")
        before = set(project.topology["groups"]["group-a"]["endpoints"]["shop.app.example.test"]["a"])
        assert query(server["address"], server["port"], "shop.app.example.test")[1] == before
    finally:
        project.write_stack(project.topology, ["group-a"])
        project.run("up", "--stack", project.stack, "--yes")


# --- a stack config larger than one environment string ------------------------------------------

BLOB_PROGRAM = """import pulumi

blob = pulumi.Config("test").require("blob")
pulumi.export("blobLength", len(blob))
"""


def test_a_config_over_128_kib_reaches_the_program(dev_env, tmp_path):
    proj = TempProject.create(tmp_path, dev_env.state_dir)
    (proj.root / "programs" / "__main__.py").write_text(BLOB_PROGRAM)
    blob = "h" * (1024 * 1024)  # Linux caps one environment string at 128 KiB; 5,000 hostnames ~530 KiB
    proj.stack_file.write_text(yaml.safe_dump({"config": {"test:blob": blob}}))
    saved = dict(os.environ)
    os.environ.update(proj.env())
    try:
        result, _ = ProjectStack(proj.root, proj.stack).up()
        assert result.outputs["blobLength"].value == len(blob)
        ProjectStack(proj.root, proj.stack).destroy()
    finally:
        os.environ.clear()
        os.environ.update(saved)


# --- no orphan after a kill -9 -------------------------------------------------------------------


def project_processes(root: Path) -> list[tuple[int, str]]:
    """Live processes started for this project (they all carry its ORCHESTRATOR_ROOT)."""
    marker = f"ORCHESTRATOR_ROOT={root}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if marker in (entry / "environ").read_bytes().split(b"\0"):
                cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                if (entry / "stat").read_text().split(") ", 1)[1][0] != "Z":
                    found.append((int(entry.name), cmd.strip()))
        except OSError:
            continue  # gone meanwhile, or not ours to read
    return found


def big_topology(dev_env, hosts: int) -> dict:
    base = demo_topology(dev_env.group_a, dev_env.group_b, dev_env.workload_port)
    for group, addrs in (("group-a", dev_env.group_a), ("group-b", dev_env.group_b)):
        base["groups"][group]["endpoints"] = {
            f"orphan{i}.{PDNS_ZONE}": {"a": [addrs[0]]} for i in range(hosts)
        }
    return base


@pytest.mark.parametrize("what", ["pid", "group"])
@pytest.mark.parametrize("in_process", ["1", "0"], ids=["plugin-in-orchestrator", "plugin-process"])
def test_a_kill_9_in_the_middle_of_a_preview_leaves_no_process_behind(dev_env, tmp_path, what, in_process):
    proj = TempProject.create(tmp_path, dev_env.state_dir)
    proj.write_stack(big_topology(dev_env, 400), ["group-a"])
    proc = proj.start("preview", "--stack", proj.stack, ORCHESTRATOR_IN_PROCESS=in_process)
    # Served inside the orchestrator (the default), the provider plugin is no process to see.
    wanted = ["orchestrator.adapters.pulumi.langhost"]
    if in_process == "0":
        wanted.append("orchestrator.adapters.pulumi.provider")
    try:

        def running() -> bool:
            cmds = " ".join(c for _, c in project_processes(proj.root))
            return all(w in cmds for w in wanted)

        wait_for(running, 120, f"{' and '.join(wanted)} to run")
        if what == "pid":
            os.kill(proc.pid, signal.SIGKILL)
        else:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        wait_for(lambda: not project_processes(proj.root), 10, "every process of the project to exit")
    finally:
        for pid, _ in project_processes(proj.root):
            os.kill(pid, signal.SIGKILL)
        proc.communicate(timeout=10)


# --- the live-zone reader reads whole zones -------------------------------------------------------


def test_the_live_zone_reader_sees_records_the_topology_does_not_know(dev_env, monkeypatch):
    monkeypatch.setenv("ORCHESTRATOR_DEV_DIR", str(dev_env.state_dir))
    topology = load_topology(
        demo_topology(dev_env.group_a, dev_env.group_b, dev_env.workload_port), active=["group-a"]
    )
    foreign = [
        (powerdns(dev_env), PDNS_ZONE, "kuadrant-zzzz9999-a-gone.app.example.test"),
        (bind(dev_env), BIND_ZONE, "kuadrant-zzzz9999-a-gone.svc.example.test"),
    ]
    for client, zone, name in foreign:
        client.apply(zone, [("replace", name, "TXT", 60, ["heritage=external-dns,owner=another"])])
    try:
        live = read_live(topology)
        for _, zone, name in foreign:
            assert live[f"{zone}/{name}/TXT"].values == ("heritage=external-dns,owner=another",)
        assert f"{PDNS_ZONE}/{PDNS_ZONE}/SOA" in live and f"{BIND_ZONE}/{BIND_ZONE}/SOA" in live
    finally:
        for client, zone, name in foreign:
            client.apply(zone, [("delete", name, "TXT", 0, ())])
