"""Pure parts of the local environment: configs, zone data, specs, ports, secrets, errors."""

from __future__ import annotations

import json
import shutil
import socket
import stat
import subprocess
import sys
from pathlib import Path

import dns.rdatatype
import dns.zone
import pytest
import yaml
from click.testing import CliRunner

from orchestrator.devenv import (
    DevEnv,
    DevSpec,
    Workload,
    binaries,
    bind,
    credentials,
    find_server,
    powerdns,
    process,
    spec_for_demo,
    spec_from_topology,
    unbound,
)
from orchestrator.devenv.ports import (
    dns_port_free,
    pick_common_tcp_port,
    pick_dns_port,
    pick_tcp_port,
    port_holder,
    proc_net_hex,
)
from orchestrator.domain.errors import EXIT_ENVIRONMENT, EXIT_USAGE, EnvironmentProblem, UsageError
from orchestrator.interfaces.cli.dev import dev

REPO = Path(__file__).resolve().parents[2]
KEY_TEXT = (
    'key "orchestrator-dev" {\n\talgorithm hmac-sha256;\n\tsecret "c2VjcmV0LXNlY3JldC1zZWNyZXQ=";\n};\n'
)


def settings(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if line and not line.startswith("#"))


# --- PowerDNS ---------------------------------------------------------------------------------


def test_powerdns_config_is_loopback_foreground_with_api_and_no_caches(tmp_path):
    conf = settings(
        powerdns.render_config(
            conf_dir=tmp_path,
            db=tmp_path / "db",
            address="127.0.0.1",
            dns_port=5301,
            api_port=8082,
            api_key="k3y",
        )
    )
    assert conf["local-address"] == "127.0.0.1" and conf["local-port"] == "5301"
    assert (conf["webserver-address"], conf["webserver-port"]) == ("127.0.0.1", "8082")
    assert (conf["api"], conf["webserver"], conf["api-key"]) == ("yes", "yes", "k3y")
    assert (conf["guardian"], conf["daemon"]) == ("no", "no")
    assert conf["launch"] == "gsqlite3" and conf["gsqlite3-database"] == str(tmp_path / "db")
    for cache in ("cache-ttl", "query-cache-ttl", "negquery-cache-ttl", "zone-cache-refresh-interval"):
        assert conf[cache] == "0", cache
    assert conf["socket-dir"] == str(tmp_path)


def test_powerdns_zone_payload_has_soa_ns_and_glue():
    payload = powerdns.zone_payload("app.example.test")
    assert (payload["name"], payload["kind"]) == ("app.example.test.", "Native")
    rrsets = {(r["name"], r["type"]): r["records"][0]["content"] for r in payload["rrsets"]}
    assert rrsets[("app.example.test.", "NS")] == "ns1.app.example.test."
    assert rrsets[("ns1.app.example.test.", "A")] == "127.0.0.1"
    assert rrsets[("app.example.test.", "SOA")].startswith(
        "ns1.app.example.test. hostmaster.app.example.test. "
    )


def test_powerdns_database_is_created_once_from_the_schema(tmp_path):
    schema = tmp_path / "schema.sql"
    schema.write_text("CREATE TABLE domains (id INTEGER PRIMARY KEY, name TEXT);")
    db = tmp_path / "pdns" / "pdns.sqlite3"
    powerdns.init_database(db, schema)
    import sqlite3

    with sqlite3.connect(db) as conn:
        conn.execute("INSERT INTO domains (name) VALUES ('kept.')")
    powerdns.init_database(db, schema)  # second start: the data stays
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT name FROM domains").fetchall() == [("kept.",)]


# --- BIND -------------------------------------------------------------------------------------


def named_conf(tmp_path: Path, zones: list[str]) -> str:
    return bind.render_named_conf(
        directory=tmp_path,
        address="127.0.0.1",
        port=5302,
        zones=zones,
        key_file=tmp_path / "k",
        key_name="kn",
    )


def test_named_conf_listens_on_the_port_and_allows_updates_with_the_key_only(tmp_path):
    text = named_conf(tmp_path, ["svc.example.test", "other.test"])
    assert "listen-on port 5302 { 127.0.0.1; };" in text
    assert "recursion no;" in text and "controls { };" in text
    assert f'directory "{tmp_path}";' in text and f'pid-file "{tmp_path}/named.pid";' in text
    assert text.count('allow-update { key "kn"; };') == 2
    assert 'zone "svc.example.test" {' in text and 'zone "other.test" {' in text


@pytest.mark.skipif(
    not shutil.which("named-checkconf", path="/usr/sbin:/usr/bin"), reason="bind9 not installed"
)
def test_named_conf_passes_named_checkconf(tmp_path):
    (tmp_path / "k").write_text(KEY_TEXT.replace("orchestrator-dev", "kn"))
    conf = tmp_path / "named.conf"
    conf.write_text(named_conf(tmp_path, ["svc.example.test"]))
    checker = shutil.which("named-checkconf", path="/usr/sbin:/usr/bin")
    proc = subprocess.run([checker, str(conf)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_zone_file_has_soa_ns_and_an_address_for_the_ns(tmp_path):
    bind.write_zone_files(tmp_path, ["svc.example.test"])
    path = bind.zone_file(tmp_path, "svc.example.test")
    zone = dns.zone.from_text(path.read_text(), origin="svc.example.test.", relativize=False)
    assert zone.get_rdataset("svc.example.test.", "SOA")[0].mname.to_text() == "ns1.svc.example.test."
    assert zone.get_rdataset("svc.example.test.", "NS")[0].target.to_text() == "ns1.svc.example.test."
    assert zone.get_rdataset("ns1.svc.example.test.", dns.rdatatype.A)[0].address == "127.0.0.1"


def test_existing_zone_files_are_kept(tmp_path):
    path = bind.zone_file(tmp_path, "svc.example.test")
    path.parent.mkdir(parents=True)
    path.write_text("; updated by the server\n")
    bind.write_zone_files(tmp_path, ["svc.example.test"])
    assert path.read_text() == "; updated by the server\n"


# --- Unbound ----------------------------------------------------------------------------------


def unbound_conf(tmp_path: Path) -> str:
    stubs = [
        unbound.Stub("app.example.test", "127.0.0.1", 5301),
        unbound.Stub("svc.example.test", "127.0.0.1", 5302),
    ]
    return unbound.render_config(directory=tmp_path, address="127.0.0.1", port=5303, stubs=stubs)


def test_unbound_config_stubs_each_zone_to_its_server_without_validation(tmp_path):
    text = unbound_conf(tmp_path)
    assert "    port: 5303" in text and "    interface: 127.0.0.1" in text
    assert 'name: "app.example.test."\n    stub-addr: 127.0.0.1@5301' in text
    assert 'name: "svc.example.test."\n    stub-addr: 127.0.0.1@5302' in text
    assert 'domain-insecure: "svc.example.test."' in text
    assert 'local-zone: "app.example.test." transparent' in text  # test. is a default local zone
    assert 'module-config: "iterator"' in text and "do-not-query-localhost: no" in text
    assert 'chroot: ""' in text and 'username: ""' in text and "control-enable: no" in text
    assert f'pidfile: "{tmp_path}/unbound.pid"' in text


@pytest.mark.skipif(
    not shutil.which("unbound-checkconf", path="/usr/sbin:/usr/bin"), reason="unbound missing"
)
def test_unbound_config_passes_unbound_checkconf(tmp_path):
    conf = tmp_path / "unbound.conf"
    conf.write_text(unbound_conf(tmp_path))
    checker = shutil.which("unbound-checkconf", path="/usr/sbin:/usr/bin")
    proc = subprocess.run([checker, str(conf)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


# --- spec -------------------------------------------------------------------------------------


def test_demo_spec_is_the_local_stack_topology():
    doc = yaml.safe_load((REPO / "stacks" / "Pulumi.local.yaml").read_text())
    assert spec_from_topology(doc["config"]["orchestrator:topology"]) == spec_for_demo()
    demo = spec_for_demo()
    assert (demo.powerdns_zones, demo.bind_zones) == (["app.example.test"], ["svc.example.test"])
    assert [(w.group, w.address, w.port) for w in demo.workloads] == [
        ("group-a", "127.0.10.1", 18080),
        ("group-a", "127.0.10.2", 18080),
        ("group-b", "127.0.20.1", 18080),
        ("group-b", "127.0.20.2", 18080),
    ]


def test_spec_from_topology_keeps_only_dev_zones_and_endpoints_with_a_health_port():
    topology = {
        "zones": [
            {"name": "a.test.", "provider": "powerdns", "settings": {"server": "dev"}},
            {"name": "b.test", "provider": "rfc2136", "settings": {"server": "dev"}},
            {"name": "c.test", "provider": "powerdns", "settings": {"apiUrl": "http://pdns:8081"}},
            {"name": "d.test", "provider": "route53", "settings": {"server": "dev"}},
        ],
        "groups": {
            "g": {
                "endpoints": {
                    "x.a.test": {"a": ["127.0.1.2", "127.0.1.1"], "health": {"port": 81, "path": "/h"}},
                    "y.a.test": {"a": ["127.0.1.1"], "health": {"port": 81}},
                    "z.a.test": {"a": ["127.0.1.9"]},
                }
            }
        },
    }
    spec = spec_from_topology(topology)
    assert (spec.powerdns_zones, spec.bind_zones) == (["a.test"], ["b.test"])
    assert spec.workloads == [
        Workload("g-1", "g", "127.0.1.1", 81, "/h"),
        Workload("g-2", "g", "127.0.1.2", 81, "/h"),
    ]


def test_spec_round_trips_through_json():
    spec = spec_for_demo()
    assert DevSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec


@pytest.mark.parametrize(
    "workload",
    [
        Workload("w", "g", "10.0.0.1", 80),
        Workload("w", "g", "not-an-address", 80),
        Workload("w", "g", "127.0.0.5", 0),
        Workload("w", "g", "127.0.0.5", 80, "healthz"),
    ],
)
def test_up_refuses_a_workload_it_cannot_serve_before_starting_anything(tmp_path, workload):
    with pytest.raises(UsageError) as caught:
        DevEnv(tmp_path / "dev").up(DevSpec(workloads=[workload]))
    assert caught.value.exit_code == EXIT_USAGE
    assert not (tmp_path / "dev").exists()


# --- ports ------------------------------------------------------------------------------------


def test_picked_dns_port_is_free_for_tcp_and_udp_and_not_excluded():
    first = pick_dns_port()
    second = pick_dns_port(exclude={first})
    assert second != first
    for port in (first, second):
        for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
            with socket.socket(socket.AF_INET, kind) as sock:
                sock.bind(("127.0.0.1", port))


def test_preferred_port_is_used_only_when_free_for_both_protocols():
    port = pick_dns_port()
    assert pick_dns_port(prefer=port) == port
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.bind(("127.0.0.1", port))
        assert not dns_port_free("127.0.0.1", port)
        assert pick_dns_port(prefer=port) != port


def test_tcp_port_skips_a_listening_port():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        taken = listener.getsockname()[1]
        assert pick_tcp_port(prefer=taken) != taken


def test_common_port_is_free_on_every_address():
    addresses = ["127.0.110.1", "127.0.120.2"]
    port = pick_common_tcp_port(addresses)
    for address in addresses:
        with socket.socket() as sock:
            sock.bind((address, port))


def test_proc_net_spelling_of_an_address():
    expected = "0100007F:1F90" if sys.byteorder == "little" else "7F000001:1F90"
    assert proc_net_hex("127.0.0.1", 8080) == expected


def test_port_holder_names_the_process_that_listens():
    with socket.socket() as listener:
        listener.bind(("127.0.140.9", 0))
        listener.listen()
        port = listener.getsockname()[1]
        holder = port_holder("127.0.140.9", port)
    assert holder is not None and holder.startswith(f"pid {Path('/proc/self').resolve().name}:")
    assert port_holder("127.0.140.9", port) is None


# --- processes --------------------------------------------------------------------------------


def test_log_tail_shows_the_latest_start_only(tmp_path):
    log = tmp_path / "x.log"
    log.write_text("--- t0 starting: a\nold failure\n--- t1 starting: b\nnew line 1\nnew line 2\n")
    assert process.log_tail(log) == "--- t1 starting: b\nnew line 1\nnew line 2"
    assert process.log_tail(log, lines=1) == "new line 2"
    assert "no log" in process.log_tail(tmp_path / "missing.log")


def test_wait_until_gives_up_at_the_deadline():
    calls = []
    assert process.wait_until(lambda: calls.append(1) and False, 0.2, interval=0.05) is False
    assert len(calls) >= 2
    assert process.wait_until(lambda: True, 0.2) is True


def test_started_process_is_ours_until_it_is_stopped(tmp_path):
    marker = str(tmp_path / "marker")
    pid = process.start([sys.executable, "-c", "import time; time.sleep(60)", marker], tmp_path / "p.log")
    assert process.wait_until(lambda: process.is_alive(pid, marker), 5)
    assert not process.is_alive(pid, str(tmp_path / "other"))
    assert process.stop_group(pid, 5)
    assert not process.is_alive(pid, marker) and process.has_exited(pid)


# --- secrets and binaries ---------------------------------------------------------------------


def test_tsig_key_statement_is_parsed():
    assert credentials.parse_tsig_key(KEY_TEXT) == (
        "orchestrator-dev",
        "hmac-sha256",
        "c2VjcmV0LXNlY3JldC1zZWNyZXQ=",
    )
    with pytest.raises(ValueError):
        credentials.parse_tsig_key("nothing here")


def test_secrets_are_generated_once_as_private_files(tmp_path):
    keygen = tmp_path / "fake-tsig-keygen"
    keygen.write_text(f"#!/bin/sh\ncat <<'EOF'\n{KEY_TEXT}EOF\n")
    keygen.chmod(0o755)
    state = tmp_path / "dev"
    credentials.ensure_secrets(state, str(keygen))
    first = credentials.load_secrets(state)
    assert first["tsig_secret"] == "c2VjcmV0LXNlY3JldC1zZWNyZXQ=" and len(first["powerdns_api_key"]) >= 32
    for name in ("powerdns-api-key", "tsig.key"):
        assert stat.S_IMODE((state / "secrets" / name).stat().st_mode) == 0o600
    assert stat.S_IMODE((state / "secrets").stat().st_mode) == 0o700
    credentials.ensure_secrets(state, str(keygen))
    assert credentials.load_secrets(state) == first


def test_missing_secrets_are_an_environment_problem(tmp_path):
    with pytest.raises(EnvironmentProblem) as caught:
        credentials.load_secrets(tmp_path)
    assert "dev up" in caught.value.fix


def test_missing_program_names_the_package_and_the_fix(tmp_path):
    with pytest.raises(EnvironmentProblem) as caught:
        binaries.require_all(search=str(tmp_path))
    err = caught.value
    assert err.exit_code == EXIT_ENVIRONMENT
    for package in ("pdns-server", "bind9", "bind9-utils", "unbound"):
        assert package in err.render()
    assert "make setup" in err.fix and "apt-get install -y" in err.fix


# --- status and CLI without servers -----------------------------------------------------------


def test_status_of_a_fresh_state_dir_is_not_running(tmp_path):
    status = DevEnv(tmp_path).status()
    assert status == {"state_dir": str(tmp_path), "running": False, "servers": []}
    assert find_server(status, "powerdns") is None


def test_cli_status_json_and_table_of_a_fresh_state_dir(tmp_path):
    runner = CliRunner()
    as_json = runner.invoke(dev, ["--state-dir", str(tmp_path), "status", "--json"])
    assert as_json.exit_code == 0 and json.loads(as_json.output)["running"] is False
    table = runner.invoke(dev, ["--state-dir", str(tmp_path), "status"])
    assert "not running" in table.output and "dev up" in table.output


def test_cli_workload_health_of_an_unknown_address_is_a_usage_error(tmp_path):
    result = CliRunner().invoke(
        dev, ["--state-dir", str(tmp_path), "workload-health", "127.0.0.9", "--failing"]
    )
    assert result.exit_code == EXIT_USAGE
    assert "error: no workload" in result.output and "fix:" in result.output


def test_a_second_up_or_down_on_the_same_state_dir_waits_then_gives_up(tmp_path, monkeypatch):
    import fcntl

    from orchestrator.devenv import env as env_module
    from orchestrator.domain.errors import EXIT_CONFLICT, ConflictError

    monkeypatch.setattr(env_module, "LOCK_TIMEOUT", 0.3)
    messages: list[str] = []
    with (tmp_path / env_module.LOCK_FILE).open("a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        with pytest.raises(ConflictError) as caught:
            DevEnv(tmp_path, echo=messages.append).down()
    assert caught.value.exit_code == EXIT_CONFLICT
    assert any("waiting for another" in m for m in messages)
    DevEnv(tmp_path).down()  # the lock is free again: no error


def test_status_shape_from_a_record(tmp_path):
    from orchestrator.devenv.status import build_status

    workload = Workload("g-1", "g", "127.0.9.1", 81)
    spec = DevSpec(powerdns_zones=["a.test"], bind_zones=["b.test"], workloads=[workload])
    record = {
        "spec": spec.to_dict(),
        "servers": {
            "powerdns": {"pid": 11, "port": 5301, "api_port": 8081, "log": "p.log"},
            "bind": {"pid": 12, "port": 5302, "log": "b.log"},
            "unbound": {"pid": 13, "port": 5303, "log": "u.log"},
            "workloads": {"pid": 14, "log": "w.log"},
        },
    }
    alive = {"powerdns": True, "bind": True, "unbound": True, "workloads": True}
    status = build_status(tmp_path, record, alive)
    assert status["running"] is True and status["state_dir"] == str(tmp_path)
    pdns, named, resolver, workload = status["servers"]
    assert pdns == {
        "role": "powerdns",
        "address": "127.0.0.1",
        "port": 5301,
        "api_url": "http://127.0.0.1:8081",
        "server_id": "localhost",
        "zones": ["a.test"],
        "pid": 11,
        "running": True,
        "log": "p.log",
    }
    assert (named["api_url"], named["tsig_key_name"], named["tsig_algorithm"]) == (
        None,
        "orchestrator-dev",
        "hmac-sha256",
    )
    assert resolver["zones"] == ["a.test", "b.test"] and resolver["port"] == 5303
    assert workload == {
        "role": "workload",
        "name": "g-1",
        "group": "g",
        "address": "127.0.9.1",
        "port": 81,
        "api_url": "http://127.0.9.1:81",
        "health_url": "http://127.0.9.1:81/healthz",
        "healthy": True,
        "pid": 14,
        "running": True,
        "log": "w.log",
    }
    half = build_status(tmp_path, record, dict(alive, bind=False))
    assert half["running"] is False and find_server(half, "bind")["running"] is False
