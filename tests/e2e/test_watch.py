"""`orchestrator watch` against the real local environment: failover, quorum, anti-flap, the
operator's lease, kill -9 mid-switch, failback and readiness (docs/watch.md)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import yaml

from orchestrator.adapters.lease import lease_from_config
from orchestrator.adapters.lease.board import Board
from orchestrator.adapters.postgres import pg
from orchestrator.devenv import find_server
from orchestrator.devenv.ports import pick_tcp_port
from tests.e2e.dnsutil import query, wait_for
from tests.e2e.prober import Prober
from tests.e2e.project import HOSTS, LEASE, TempProject, demo_topology
from tests.e2e.test_databases import PAIR, TABLE, Writer, rows_on, writable

pytestmark = pytest.mark.e2e

TTL = 3
WATCH = {
    "groups": {
        "group-a": {"publish": "always", "republish": True},
        "group-b": {"publish": "when-others-unhealthy"},
    },
    "observers": 1,
    "quorum": 1,
    "interval": 1,
    "failures": 2,
    "antiFlap": 3600,
    "readinessEvery": 2,
    "rto": 300,
}


def topology(dev_env) -> dict:
    topo = demo_topology(dev_env.group_a, dev_env.group_b, dev_env.workload_port, ttl=TTL)
    topo["databases"] = [
        {
            "name": PAIR,
            "clusters": {
                "group-a": {"kind": "postgres", "server": "dev"},
                "group-b": {"kind": "postgres", "server": "dev"},
            },
        }
    ]
    return topo


def write_stack(project: TempProject, active: list[str], watch: dict) -> None:
    project.write_stack(project.topology, active, lease=LEASE)
    doc = yaml.safe_load(project.stack_file.read_text())
    doc["config"]["orchestrator:watch"] = watch
    project.stack_file.write_text(yaml.safe_dump(doc, sort_keys=False))


@pytest.fixture
def project(dev_env, tmp_path_factory, request):
    """A fresh stack per test (its own board on the lease servers), deployed at group-a."""
    stack = "watch-" + request.node.name.split("[")[0].removeprefix("test_")[:20].replace("_", "-")
    proj = TempProject.create(tmp_path_factory.mktemp("watch"), dev_env.state_dir, stack=stack)
    proj.topology = topology(dev_env)
    write_stack(proj, ["group-a"], WATCH)
    healthy(dev_env, "group-a", True)
    healthy(dev_env, "group-b", True)
    proj.run("up", "--stack", proj.stack, "--yes")
    wait_for(lambda: writable(dev_env, "group-a"), 60, "group-a to be the primary")
    with pg.connect(dev_env.env.postgres_endpoint("group-a")) as conn:
        conn.execute(f"CREATE TABLE IF NOT EXISTS {TABLE} (id bigint PRIMARY KEY)")
    yield proj
    healthy(dev_env, "group-a", True)
    healthy(dev_env, "group-b", True)
    proj.destroy()


def healthy(dev_env, group: str, ok: bool) -> None:
    for address in dev_env.group_a if group == "group-a" else dev_env.group_b:
        dev_env.env.set_workload_health(address, ok)


def serves(dev_env, project, group: str) -> bool:
    for host, role in HOSTS.items():
        server = find_server(dev_env.status, role)
        want = set(project.topology["groups"][group]["endpoints"][host]["a"])
        if query(server["address"], server["port"], host) != ("NOERROR", want):
            return False
    return True


def prober_for(dev_env) -> Prober:
    servers = []
    for role in ("powerdns", "bind"):
        s = find_server(dev_env.status, role)
        servers.append((role, s["address"], s["port"], False, [h for h, r in HOSTS.items() if r == role]))
    unbound = find_server(dev_env.status, "unbound")
    servers.append(("unbound", unbound["address"], unbound["port"], True, list(HOSTS)))
    return Prober(servers=servers)


def events(project, kind: str | None = None) -> list[dict]:
    path = project.root / ".orchestrator" / "audit.jsonl"
    found = (
        [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []
    )
    return [e for e in found if kind is None or e["type"] == kind]


@contextmanager
def watching(project, *args: str, **env: str) -> Iterator[subprocess.Popen[str]]:
    proc = project.start("watch", "--stack", project.stack, *args, **env)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)


def switch_ended(project, count: int) -> None:
    """The switch goes on after the flip (cleanup, verify): wait until watch recorded how it ended."""
    wait_for(
        lambda: len(events(project, "watch.switch-result")) >= count,
        240,
        f"{count} switch(es) by watch to end",
    )


def story(project) -> str:
    """What watch and its switches recorded: the message of a failed assertion."""
    kinds = ("watch.", "recovery.", "failover.", "step.failed", "switchover.")
    return "\n".join(
        json.dumps({k: v for k, v in e.items() if k not in ("pid", "user")})
        for e in events(project)
        if e["type"].startswith(kinds)
    )


def board(dev_env, project) -> Board:
    return Board.for_lease(lease_from_config({**LEASE, "stateDir": str(dev_env.state_dir)}), project.stack)


def test_watch_fails_over_then_fails_back_only_after_ack(project, dev_env):
    """group-a's workloads fall sick: watch moves traffic and the primary to group-b, then waits."""
    with prober_for(dev_env) as prober, watching(project, "--observer", "e2e-1"):
        writer = Writer(dev_env)
        writer.start()
        try:
            wait_for(lambda: bool(writer.committed), 60, "the writer to commit")
            sick_at = time.monotonic()
            healthy(dev_env, "group-a", False)
            wait_for(lambda: serves(dev_env, project, "group-b"), 240, "watch to fail over to group-b")
            switch_ended(project, 1)
            took = time.monotonic() - sick_at
            wait_for(lambda: writable(dev_env, "group-b"), 60, "group-b to be the primary")
        finally:
            writer.stop.set()
            writer.join(60)
        assert set(writer.committed) <= rows_on(dev_env, "group-b"), "a committed row was lost"
        recovery = events(project, "recovery.measured")
        assert len(recovery) == 1, story(project)
        assert 0 < recovery[0]["total_s"] <= took + 1 and recovery[0]["within_rto"] is True
        decision = events(project, "watch.decision")[0]
        assert decision["kind"] == "failover" and decision["to_groups"] == ["group-b"]
        assert any("e2e-1" in e for e in decision["evidence"])
        assert events(project, "watch.blocked"), "an automatic switch must set the anti-flap block"
        # group-a recovers; republish is true, but the block holds until acknowledged.
        healthy(dev_env, "group-a", True)
        wait_for(
            lambda: any(e.get("kind") == "failback" for e in events(project, "watch.blocked")),
            60,
            "watch to record the blocked failback",
        )
        assert serves(dev_env, project, "group-b")
        out = project.run("watch", "--stack", project.stack, "ack", "--reason", "e2e: group-a checked")
        assert "lifted" in out.stdout
        wait_for(lambda: serves(dev_env, project, "group-a"), 240, "watch to fail back to group-a")
        switch_ended(project, 2)
        wait_for(lambda: writable(dev_env, "group-a"), 60, "group-a to be the primary again")
    assert prober.queries > 50 and prober.failures == [], prober.failures[:10]
    kinds = [e["kind"] for e in events(project, "watch.switch-result") if e["result"] == "completed"]
    assert kinds == ["failover", "failback"], kinds
    assert events(project, "watch.acknowledged")[0]["reason"] == "e2e: group-a checked"


def test_one_observer_alone_seeing_group_a_down_changes_nothing(project, dev_env):
    write_stack(project, ["group-a"], {**WATCH, "observers": 3, "quorum": 2})
    with (
        watching(project, "--observer", "blind", ORCHESTRATOR_WATCH_BLIND="group-a"),
        watching(project, "--observer", "clear-1"),
        watching(project, "--observer", "clear-2"),
    ):
        # Recorded once per situation: the first may predate the third observer's first verdict.
        wait_for(
            lambda: any("(blind), 2 up" in e["reason"] for e in events(project, "watch.no-quorum")),
            90,
            "a watch to record that only one observer of three sees group-a down",
        )
        said = [e["reason"] for e in events(project, "watch.no-quorum") if "(blind), 2 up" in e["reason"]][0]
        assert "1 of 3" in said and "quorum 2" in said and "no switch" in said, said
        verdicts = {v.observer: v.groups for v in board(dev_env, project).verdicts()}
        assert verdicts["blind"]["group-a"] == "down" and verdicts["clear-1"]["group-a"] == "up"
    assert serves(dev_env, project, "group-a")
    assert not events(project, "switchover.requested")


def test_watch_waits_for_an_operators_lease_then_switches(project, dev_env):
    write_stack(
        project, ["group-a"], {**WATCH, "groups": {**WATCH["groups"], "group-a": {"publish": "always"}}}
    )
    lease = lease_from_config({**LEASE, "stateDir": str(dev_env.state_dir)})
    held = lease.acquire("alice@ops:4242/sw-by-hand", ttl=120)
    try:
        with watching(project, "--observer", "e2e-1"):
            healthy(dev_env, "group-a", False)
            wait_for(
                lambda: bool(events(project, "watch.lease-busy")), 120, "watch to meet the operator's lease"
            )
            assert "alice@ops" in events(project, "watch.lease-busy")[0]["reason"]
            assert serves(dev_env, project, "group-a"), "watch must not fight the operator"
            lease.release(held)
            held = None
            wait_for(
                lambda: serves(dev_env, project, "group-b"), 240, "watch to switch once the lease is free"
            )
            switch_ended(project, 1)
            # republish: false — group-a healthy again and acknowledged: no failback.
            healthy(dev_env, "group-a", True)
            project.run("watch", "--stack", project.stack, "ack", "--reason", "e2e")
            wait_rounds(dev_env, project, "e2e-1", 5)
            assert serves(dev_env, project, "group-b")
    finally:
        if held is not None:
            lease.release(held)
    assert [e["kind"] for e in events(project, "watch.switch-result") if e["result"] == "completed"] == [
        "failover"
    ]


def test_kill_9_of_watch_mid_switch_then_a_new_watch_finishes_it(project, dev_env):
    marker = project.root / ".orchestrator" / "paused-at-flip-dns"
    with prober_for(dev_env) as prober:
        with watching(project, "--observer", "e2e-1", ORCHESTRATOR_PAUSE_AT="flip-dns") as first:
            healthy(dev_env, "group-a", False)
            wait_for(marker.exists, 240, "watch's switch to reach flip-dns")
            first.kill()  # the watch process only: its switch must die with it
            first.wait(timeout=30)
            wait_for(lambda: not _switch_running(project), 20, "the orphaned switch to exit with its parent")
        marker.unlink(missing_ok=True)
        with watching(project, "--observer", "e2e-2"):
            wait_for(lambda: serves(dev_env, project, "group-b"), 240, "the new watch to finish the switch")
            switch_ended(project, 1)
            assert events(project, "watch.resumed"), story(project)
    assert prober.failures == [], prober.failures[:10]
    assert len(events(project, "switchover.requested")) == 1, (
        "the interrupted switch is resumed, not restarted"
    )


def wait_rounds(dev_env, project, observer: str, rounds: int) -> None:
    """Until the observer has published `rounds` more verdicts (its interval is 1 s)."""
    b = board(dev_env, project)

    def at() -> float:
        return next((v.at for v in b.verdicts() if v.observer == observer), 0.0)

    start = at()
    wait_for(lambda: at() >= start + rounds, rounds * 10 + 180, f"{rounds} more rounds of {observer}")


def _switch_running(project) -> bool:
    out = subprocess.run(
        ["pgrep", "-f", f"switch --to group-b --yes --stack {project.stack}"], capture_output=True
    )
    return out.returncode == 0


def test_flapping_health_makes_at_most_one_switch_and_a_block(project, dev_env):
    with watching(project, "--observer", "e2e-1"):
        wait_rounds(dev_env, project, "e2e-1", 1)
        sick = False
        for _ in range(20):  # ~two minutes: a flap every three rounds of the observer
            sick = not sick
            healthy(dev_env, "group-a", not sick)
            healthy(dev_env, "group-b", sick)  # the standby falls sick whenever group-a recovers
            wait_rounds(dev_env, project, "e2e-1", 3)
        healthy(dev_env, "group-a", True)
        healthy(dev_env, "group-b", True)
    completed = [e for e in events(project, "switchover.completed")]
    assert len(completed) <= 1, completed
    if completed:
        assert events(project, "watch.blocked"), "the automatic switch must be followed by a block"


def test_readiness_drops_when_the_standby_database_stops(project, dev_env):
    port = pick_tcp_port()
    url = f"http://127.0.0.1:{port}/metrics"

    def ready() -> float | None:
        try:
            text = urllib.request.urlopen(url, timeout=2).read().decode()
        except OSError:
            return None
        for line in text.splitlines():
            if line.startswith("orchestrator_failover_ready{") and 'to_group="group-b"' in line:
                return float(line.rsplit(" ", 1)[1])
        return None

    def blockers() -> str:
        text = urllib.request.urlopen(url, timeout=2).read().decode()
        return "\n".join(
            ln for ln in text.splitlines() if ln.startswith("orchestrator_failover_blocker_info{")
        )

    with watching(project, "--observer", "e2e-1", "--metrics-port", str(port)):
        wait_for(lambda: ready() == 1.0, 120, "the failover to group-b to be ready")
        dev_env.env.stop_postgres("group-b")
        try:
            wait_for(lambda: ready() == 0.0, 120, "readiness to drop with the standby stopped")
            assert "group-b" in blockers() and "replica-caught-up" in blockers(), blockers()
            assert any(not e["ready"] for e in events(project, "failover.readiness-changed"))
        finally:
            dev_env.env.start_postgres("group-b")
    assert serves(dev_env, project, "group-a"), "readiness is a dry-run: nothing moved"


def test_migration_steps_group_a_back_and_status_says_when_it_is_safe_to_delete(project, dev_env):
    write_stack(
        project,
        ["group-a"],
        {**WATCH, "groups": {"group-a": {"publish": "when-no-other-records"}, "group-b": {}}},
    )
    with watching(project, "--observer", "e2e-1"):
        project.run("add-active-group", "--stack", project.stack, "group-b", "--yes")
        wait_for(lambda: serves(dev_env, project, "group-b"), 240, "watch to step group-a back")
        switch_ended(project, 1)
    decision = events(project, "watch.decision")[0]
    assert decision["kind"] == "migration" and decision["to_groups"] == ["group-b"]

    def group_a() -> dict:
        report = json.loads(project.run("status", "--stack", project.stack, "--json").stdout)
        return next(g for g in report["groups"] if g["group"] == "group-a")

    first = group_a()
    assert not first["published"] and first["ttl"] == TTL
    wait_for(lambda: group_a()["safe_to_delete"], TTL + 30, "group-a to be unpublished for over its TTL")
    assert "safe to delete" in group_a()["summary"]
    text = project.run("status", "--stack", project.stack).stdout
    assert "group-a: unpublished for" in text and "safe to delete" in text, text
