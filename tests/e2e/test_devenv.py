"""The local environment against real servers: PowerDNS, BIND 9, Unbound, workloads."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import dns.tsig
import dns.tsigkeyring
import dns.update
import pytest
import requests

from orchestrator.devenv import DevEnv, DevSpec, find_server, find_servers, load_secrets
from orchestrator.devenv.ports import pick_common_tcp_port
from orchestrator.devenv.process import is_alive, processes_mentioning, wait_until
from orchestrator.devenv.spec import Workload, workloads_for
from orchestrator.domain.errors import EXIT_ENVIRONMENT, EnvironmentProblem
from tests.e2e.dnsutil import query

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
WRONG_SECRET = "c2VjcmV0LXRoYXQtaXMtbm90LXRoZS1zZXJ2ZXJzLWtleQ=="
NO_PROXY = {"http": "", "https": ""}


def soa(address: str, port: int, zone: str) -> dns.message.Message:
    msg = dns.message.make_query(f"{zone}.", dns.rdatatype.SOA)
    msg.flags &= ~dns.flags.RD
    return dns.query.udp(msg, address, port=port, timeout=3)


def http_get(url: str) -> requests.Response:
    session = requests.Session()
    session.trust_env = False  # loopback: never through a proxy from the environment
    return session.get(url, timeout=3)


def update(dev_env, secret: str, action: str, name: str, value: str) -> dns.message.Message:
    bind = find_server(dev_env.status, "bind")
    s = dev_env.secrets
    keyring = dns.tsigkeyring.from_text({s["tsig_key_name"]: (s["tsig_algorithm"], secret)})
    msg = dns.update.UpdateMessage("svc.example.test.", keyring=keyring)
    if action == "add":
        msg.add(name, 30, "A", value)
    else:
        msg.delete(name, "A", value)
    return dns.query.tcp(msg, bind["address"], port=bind["port"], timeout=5)


def test_status_lists_every_server_running_and_no_secret(dev_env):
    status = dev_env.env.status()
    assert status["running"] is True
    assert [s["role"] for s in status["servers"][:3]] == ["powerdns", "bind", "unbound"]
    assert {(s["address"], s["group"]) for s in find_servers(status, "workload")} == {
        *((a, "group-a") for a in dev_env.group_a),
        *((a, "group-b") for a in dev_env.group_b),
    }
    assert all(s["running"] and s["pid"] for s in status["servers"])
    text = json.dumps(status)
    for secret in (dev_env.secrets["powerdns_api_key"], dev_env.secrets["tsig_secret"]):
        assert secret not in text


def test_secrets_are_private_files(dev_env):
    for name in ("powerdns-api-key", "tsig.key"):
        assert (dev_env.state_dir / "secrets" / name).stat().st_mode & 0o777 == 0o600
    assert (dev_env.state_dir / "pdns" / "pdns.conf").stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize(("role", "zone"), [("powerdns", "app.example.test"), ("bind", "svc.example.test")])
def test_authoritative_servers_answer_their_zone_soa(dev_env, role, zone):
    server = find_server(dev_env.status, role)
    resp = soa(server["address"], server["port"], zone)
    assert resp.rcode() == dns.rcode.NOERROR
    assert resp.flags & dns.flags.AA
    [rrset] = [r for r in resp.answer if r.rdtype == dns.rdatatype.SOA]
    assert str(rrset[0].mname) == f"ns1.{zone}."


def test_tsig_signed_update_is_served_and_a_wrong_secret_is_refused(dev_env):
    bind = find_server(dev_env.status, "bind")
    name = "devenv-probe.svc.example.test"
    try:
        resp = update(dev_env, dev_env.secrets["tsig_secret"], "add", "devenv-probe", "127.0.0.9")
        assert resp.rcode() == dns.rcode.NOERROR
        assert query(bind["address"], bind["port"], name) == ("NOERROR", {"127.0.0.9"})

        with pytest.raises(dns.tsig.PeerBadSignature):
            update(dev_env, WRONG_SECRET, "add", "devenv-probe", "127.0.0.10")
        assert query(bind["address"], bind["port"], name) == ("NOERROR", {"127.0.0.9"})
    finally:
        update(dev_env, dev_env.secrets["tsig_secret"], "delete", "devenv-probe", "127.0.0.9")
    assert query(bind["address"], bind["port"], name)[0] == "NXDOMAIN"


def test_powerdns_api_answers_with_the_key_and_refuses_a_wrong_one(dev_env):
    pdns = find_server(dev_env.status, "powerdns")
    url = f"{pdns['api_url']}/api/v1/servers/localhost/zones"
    session = requests.Session()
    session.trust_env = False
    ok = session.get(url, headers={"X-API-Key": dev_env.secrets["powerdns_api_key"]}, timeout=5)
    assert ok.status_code == 200
    assert [z["name"] for z in ok.json()] == ["app.example.test."]
    assert session.get(url, headers={"X-API-Key": "wrong-key"}, timeout=5).status_code == 401


def test_unbound_resolves_a_record_from_each_zone(dev_env):
    resolver = find_server(dev_env.status, "unbound")
    for zone in ("app.example.test", "svc.example.test"):
        assert query(resolver["address"], resolver["port"], f"ns1.{zone}", recursive=True) == (
            "NOERROR",
            {"127.0.0.1"},
        )


def test_workloads_say_who_they_are_and_their_health_flips(dev_env):
    workload = find_servers(dev_env.status, "workload")[1]
    assert http_get(workload["api_url"] + "/").text.split() == [workload["name"], workload["group"]]
    assert http_get(workload["health_url"]).status_code == 200
    others = [w for w in find_servers(dev_env.status, "workload") if w["address"] != workload["address"]]
    try:
        dev_env.env.set_workload_health(workload["address"], False)
        failing = http_get(workload["health_url"])
        assert failing.status_code == 503
        assert failing.text.split()[0] == "failing"
        assert all(http_get(w["health_url"]).status_code == 200 for w in others)
        assert find_servers(dev_env.env.status(), "workload")[1]["healthy"] is False
    finally:
        dev_env.env.set_workload_health(workload["address"], True)
    assert http_get(workload["health_url"]).status_code == 200


def test_up_again_changes_nothing(dev_env):
    before = dev_env.env.status()
    again = dev_env.env.up(dev_env.spec)
    assert again["action"] == "already-running"
    assert [s["pid"] for s in again["servers"]] == [s["pid"] for s in before["servers"]]
    assert [s["port"] for s in again["servers"]] == [s["port"] for s in dev_env.status["servers"]]


def test_cli_status_json_matches_the_environment(dev_env):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "orchestrator.interfaces.cli.dev",
            "--state-dir",
            str(dev_env.state_dir),
            "status",
            "--json",
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == dev_env.env.status()


@pytest.fixture
def second_env(tmp_path):
    """A separate small environment that tests may break and stop."""
    address = "127.0.130.1"
    spec = DevSpec(
        powerdns_zones=["p.second.test"],
        bind_zones=["b.second.test"],
        workloads=workloads_for({"group-a": [address]}, pick_common_tcp_port([address])),
    )
    env = DevEnv(tmp_path / "dev")
    yield env, spec
    env.down()


def _environment_processes(state_dir: Path) -> list[int]:
    return processes_mentioning(f"{state_dir}/")


def test_half_running_environment_is_restarted_and_down_leaves_nothing(second_env):
    env, spec = second_env
    first = env.up(spec)
    assert first["action"] == "started" and first["running"]
    unbound = find_server(first, "unbound")
    os.kill(unbound["pid"], signal.SIGKILL)
    assert wait_until(lambda: not is_alive(unbound["pid"], str(env.state_dir)), 10)
    assert env.status()["running"] is False

    second = env.up(spec)
    assert second["action"] == "restarted" and second["running"]
    assert find_server(second, "unbound")["pid"] != unbound["pid"]
    assert query(
        "127.0.0.1", find_server(second, "unbound")["port"], "ns1.b.second.test", recursive=True
    ) == (
        "NOERROR",
        {"127.0.0.1"},
    )
    pids = {s["pid"] for s in second["servers"]}
    assert len(pids) == 4 + spec.lease_servers  # powerdns, bind, unbound, workloads, lease-<n>
    assert set(_environment_processes(env.state_dir)) >= pids

    env.down()
    assert not any(is_alive(pid, "") for pid in pids)
    assert _environment_processes(env.state_dir) == []
    after = env.status()
    assert after["running"] is False and not any(s["running"] for s in after["servers"])


def test_zones_and_updates_survive_a_restart(second_env):
    env, spec = second_env
    env.up(spec)
    bind = find_server(env.status(), "bind")
    secrets = load_secrets(env.state_dir)
    keyring = dns.tsigkeyring.from_text(
        {secrets["tsig_key_name"]: (secrets["tsig_algorithm"], secrets["tsig_secret"])}
    )
    msg = dns.update.UpdateMessage("b.second.test.", keyring=keyring)
    msg.add("kept", 30, "A", "127.0.0.7")
    assert dns.query.tcp(msg, bind["address"], port=bind["port"], timeout=5).rcode() == dns.rcode.NOERROR
    env.down()
    restarted = env.up(spec)
    assert restarted["action"] == "started"
    bind = find_server(restarted, "bind")
    assert query(bind["address"], bind["port"], "kept.b.second.test") == ("NOERROR", {"127.0.0.7"})
    pdns = find_server(restarted, "powerdns")
    assert soa(pdns["address"], pdns["port"], "p.second.test").rcode() == dns.rcode.NOERROR


def test_workload_port_in_use_is_a_clear_error_and_starts_nothing(tmp_path):
    address = "127.0.140.1"
    with socket.socket() as holder:
        holder.bind((address, 0))
        holder.listen()
        port = holder.getsockname()[1]
        spec = DevSpec(workloads=[Workload(name="w", group="group-a", address=address, port=port)])
        env = DevEnv(tmp_path / "dev")
        with pytest.raises(EnvironmentProblem) as caught:
            env.up(spec)
    err = caught.value
    assert err.exit_code == EXIT_ENVIRONMENT
    assert f"{address}:{port}" in err.render()
    assert f"pid {os.getpid()}" in err.render()
    assert _environment_processes(env.state_dir) == []


def _hold_udp_and_tcp_port() -> tuple[socket.socket, socket.socket, int]:
    """A port held for both UDP and TCP (a free UDP port may be taken for TCP: try again)."""
    for _ in range(50):
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        udp.bind(("127.0.0.1", 0))
        port = udp.getsockname()[1]
        tcp = socket.socket()
        try:
            tcp.bind(("127.0.0.1", port))
        except OSError:
            udp.close()
            tcp.close()
            continue
        tcp.listen()
        return udp, tcp, port
    raise AssertionError("no loopback port free for both UDP and TCP in 50 tries")


@pytest.mark.parametrize(("role", "call"), [("powerdns", 0), ("bind", 1), ("unbound", 2)])
def test_a_dns_port_taken_between_pick_and_start_is_retried_with_another(tmp_path, monkeypatch, role, call):
    from orchestrator.devenv import env as env_module

    real_pick = env_module.pick_dns_port
    calls: list[int] = []
    udp, tcp, taken = _hold_udp_and_tcp_port()
    with udp, tcp:

        def racy_pick(*args, **kwargs) -> int:
            calls.append(1)
            return taken if len(calls) == call + 1 else real_pick(*args, **kwargs)

        monkeypatch.setattr(env_module, "pick_dns_port", racy_pick)
        env = DevEnv(tmp_path / "dev")
        try:
            status = env.up(DevSpec(powerdns_zones=["p.race.test"], bind_zones=["b.race.test"]))
            server = find_server(status, role)
            assert status["running"] and server["port"] != taken
            log = Path(server["log"]).read_text().lower()
            assert log.count("starting:") == 2
            assert "in use" in log or "unable to listen" in log
        finally:
            env.down()
    assert _environment_processes(env.state_dir) == []


def test_a_server_that_is_not_ready_in_time_is_named_with_its_log_and_stopped(tmp_path):
    env = DevEnv(tmp_path / "dev", ready_timeout=0.0)
    with pytest.raises(EnvironmentProblem) as caught:
        env.up(DevSpec(powerdns_zones=["p.slow.test"]))
    err = caught.value
    assert err.exit_code == EXIT_ENVIRONMENT
    assert err.what == "powerdns did not become ready within 0s"
    assert str(env.log_file("powerdns")) in err.why and "starting: " in err.why
    assert _environment_processes(env.state_dir) == []
    assert env.status()["running"] is False
