"""Database primaries move with the group: the local PostgreSQL pair, switched for real.

A writer inserts rows the whole time (retrying on read-only and connection errors) and a
checker polls both instances; after each switch every committed row is on the new primary,
the new primary accepts writes, the old one streams from it, and no moment had two
writable primaries. Also: the lag blocker, and a failover that fences the old primary.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time

import psycopg
import pytest

from orchestrator.adapters.postgres import pg
from tests.e2e.dnsutil import wait_for
from tests.e2e.project import LEASE, TempProject, demo_topology

pytestmark = pytest.mark.e2e

PAIR = "orders"
TABLE = "orchestrator_e2e_rows"


def db_topology(dev_env) -> dict:
    topo = demo_topology(dev_env.group_a, dev_env.group_b, dev_env.workload_port, ttl=3)
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


def ep(dev_env, group: str) -> pg.Endpoint:
    return dev_env.env.postgres_endpoint(group)


def writable(dev_env, group: str) -> bool:
    try:
        return pg.role(ep(dev_env, group)).writable
    except (pg.Unreachable, psycopg.Error):
        return False


def streams_from(dev_env, standby: str, primary: str) -> bool:
    try:
        state = pg.standby_state(ep(dev_env, standby))
    except (pg.Unreachable, psycopg.Error):
        return False
    return state.receiver_up and state.sender == ep(dev_env, primary).where


def rows_on(dev_env, group: str) -> set[int]:
    with pg.connect(ep(dev_env, group)) as conn:
        return {r[0] for r in conn.execute(f"SELECT id FROM {TABLE}").fetchall()}


class Writer(threading.Thread):
    """Inserts ids 1, 2, 3, ... into whichever instance accepts them; remembers what committed."""

    def __init__(self, dev_env) -> None:
        super().__init__(daemon=True)
        self.dev_env = dev_env
        self.committed: list[int] = []
        self.retries = 0
        self.stop = threading.Event()

    def run(self) -> None:
        next_id = (max(rows_on(self.dev_env, _primary(self.dev_env))) if self._has_rows() else 0) + 1
        while not self.stop.is_set():
            for group in ("group-a", "group-b"):
                try:
                    with psycopg.connect(ep(self.dev_env, group).conninfo(), autocommit=True) as conn:
                        while not self.stop.is_set():
                            conn.execute(f"INSERT INTO {TABLE} (id) VALUES (%s)", (next_id,))
                            self.committed.append(next_id)  # the INSERT returned: committed
                            next_id += 1
                except psycopg.Error:
                    self.retries += 1  # read-only, shutting down, refused: try the other side
                    self.stop.wait(0.01)

    def _has_rows(self) -> bool:
        return bool(rows_on(self.dev_env, _primary(self.dev_env)))


class SplitBrainChecker(threading.Thread):
    """Polls both instances; records every moment both accepted writes."""

    def __init__(self, dev_env) -> None:
        super().__init__(daemon=True)
        self.dev_env = dev_env
        self.polls = 0
        self.both_writable: list[float] = []
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            if writable(self.dev_env, "group-a") and writable(self.dev_env, "group-b"):
                self.both_writable.append(time.time())
            self.polls += 1
            self.stop.wait(0.02)


def _primary(dev_env) -> str:
    return next(g for g in ("group-a", "group-b") if writable(dev_env, g))


@pytest.fixture(scope="module")
def project(dev_env, tmp_path_factory):
    wait_for(lambda: writable(dev_env, "group-a"), 30, "group-a to be the pair's primary")
    with pg.connect(ep(dev_env, "group-a")) as conn:
        conn.execute(f"CREATE TABLE IF NOT EXISTS {TABLE} (id bigint PRIMARY KEY)")
    proj = TempProject.create(tmp_path_factory.mktemp("databases"), dev_env.state_dir, stack="db")
    proj.topology = db_topology(dev_env)
    proj.write_stack(proj.topology, ["group-a"], lease=LEASE)
    proj.run("up", "--stack", proj.stack, "--yes")
    yield proj
    proj.destroy()


def switch(project, to: str, *extra: str, check: bool = True):
    return project.run("switch", "--stack", project.stack, "--to", to, "--yes", *extra, check=check)


def test_switchover_and_back_loses_no_committed_row_and_never_has_two_primaries(project, dev_env):
    writer, checker = Writer(dev_env), SplitBrainChecker(dev_env)
    checker.start()
    writer.start()
    try:
        wait_for(lambda: len(writer.committed) > 50, 30, "the writer to commit rows on group-a")
        for new, old in (("group-b", "group-a"), ("group-a", "group-b")):
            out = switch(project, new)
            assert "demote-primary" in out.stdout and "promote-primary" in out.stdout, out.stdout
            assert writable(dev_env, new) and not writable(dev_env, old)
            ok, why = pg.accepts_writes(ep(dev_env, new))
            assert ok, why
            wait_for(
                lambda new=new, old=old: streams_from(dev_env, old, new), 30, f"{old} to stream from {new}"
            )
            seen = len(writer.committed)
            wait_for(lambda seen=seen: len(writer.committed) > seen + 20, 30, f"writes to resume on {new}")
            # Every row committed so far (on either side) is on the new primary.
            missing = set(writer.committed) - rows_on(dev_env, new)
            assert not missing, f"{len(missing)} committed rows lost, e.g. {sorted(missing)[:5]}"
    finally:
        writer.stop.set()
        checker.stop.set()
        writer.join(10)
        checker.join(10)
    assert writer.retries > 0, "the writer must have met the switch (read-only or refused)"
    assert checker.polls > 20
    assert checker.both_writable == [], "two writable primaries were seen at once"
    missing = set(writer.committed) - rows_on(dev_env, "group-a")
    assert not missing
    history = json.loads(project.run("history", "--stack", project.stack, "--json").stdout)
    assert history, "the switches are in the history"


@pytest.mark.parametrize("step", ["demote-primary", "promote-primary"])
def test_kill_9_in_a_database_step_then_resume_moves_the_primary(project, dev_env, step):
    marker = project.root / ".orchestrator" / f"paused-at-{step}"
    proc = project.start(
        "switch", "--stack", project.stack, "--to", "group-b", "--yes", ORCHESTRATOR_PAUSE_AT=step
    )
    try:
        wait_for(marker.exists, 120, f"the switch to reach {step}")
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        marker.unlink(missing_ok=True)
    # Killed at the start of promote-primary, the old primary is already a read-only standby.
    assert not (writable(dev_env, "group-a") and writable(dev_env, "group-b"))
    out = project.run("switch", "--stack", project.stack, "--resume", "--yes")
    assert "completed" in out.stdout, out.stdout
    assert writable(dev_env, "group-b") and not writable(dev_env, "group-a")
    wait_for(lambda: streams_from(dev_env, "group-a", "group-b"), 30, "group-a to stream from group-b")
    assert project.locks() == []
    switch(project, "group-a")
    assert writable(dev_env, "group-a")


def test_switchover_is_refused_while_the_standby_lags(project, dev_env):
    b = ep(dev_env, "group-b")
    with pg.connect(b) as conn:
        conn.execute("SELECT pg_wal_replay_pause()")
    try:
        with pg.connect(ep(dev_env, "group-a")) as conn:
            conn.execute("CREATE TABLE IF NOT EXISTS orchestrator_e2e_bulk (x text)")
            conn.execute(
                "INSERT INTO orchestrator_e2e_bulk SELECT repeat('x', 1000) FROM generate_series(1, 30000)"
            )
        out = project.run("switch", "--stack", project.stack, "--to", "group-b", "--dry-run", check=False)
        assert out.returncode == 7, out.stdout + out.stderr
        assert "replica-caught-up" in out.stdout and "group-b lags" in out.stdout, out.stdout
        refused = switch(project, "group-b", check=False)
        assert refused.returncode == 7, refused.stdout + refused.stderr
        assert writable(dev_env, "group-a") and not writable(dev_env, "group-b")
    finally:
        with pg.connect(b) as conn:
            conn.execute("SELECT pg_wal_replay_resume()")
        with pg.connect(ep(dev_env, "group-a")) as conn:
            conn.execute("DROP TABLE IF EXISTS orchestrator_e2e_bulk")
    wait_for(
        lambda: (pg.standby_state(b).replay_lsn or 0) >= pg.current_lsn(ep(dev_env, "group-a")),
        60,
        "group-b to catch up",
    )


# replica-caught-up refuses these in preflight; overridden, the demote itself must still refuse.
FORCE = ("--override-policy", "replica-caught-up", "--reason", "e2e: prove the demote's own guard")


def test_the_primary_is_not_demoted_when_the_standby_does_not_answer(project, dev_env):
    dev_env.env.stop_postgres("group-b")
    try:
        forced = switch(project, "group-b", *FORCE, check=False)
        assert forced.returncode != 0, forced.stdout
        said = forced.stdout + forced.stderr
        assert "does not answer" in said and "the primary was not demoted" in said, said
        assert writable(dev_env, "group-a"), "the pair must keep its primary"
    finally:
        dev_env.env.start_postgres("group-b")
    wait_for(lambda: streams_from(dev_env, "group-b", "group-a"), 60, "group-b to stream from group-a again")


def test_failover_promotes_the_standby_and_fences_the_old_primary(project, dev_env):
    assert writable(dev_env, "group-a")
    dev_env.env.stop_postgres("group-a")
    refused = switch(project, "group-b", check=False)
    assert refused.returncode != 0, "a planned switch needs the old primary"
    assert "--failover" in refused.stdout + refused.stderr
    out = switch(project, "group-b", "--failover")
    assert "completed" in out.stdout, out.stdout
    assert writable(dev_env, "group-b")
    # `dev up` starts the old primary again: it must come back read-only, fenced.
    dev_env.env.up(dev_env.spec)
    dev_env.status = dev_env.env.status()
    wait_for(lambda: dev_env.env.postgres_running("group-a"), 30, "group-a to run again")
    assert not writable(dev_env, "group-a")
    ok, _ = pg.accepts_writes(ep(dev_env, "group-a"))
    assert not ok
    health = project.run("health", "--stack", project.stack, "--json", check=False)
    assert "fenced" in health.stdout, health.stdout
    forced = switch(project, "group-a", *FORCE, check=False)
    assert forced.returncode != 0, forced.stdout
    said = forced.stdout + forced.stderr
    assert "group-a is fenced" in said and "the primary was not demoted" in said, said
    assert writable(dev_env, "group-b"), "the pair must keep its primary"
    # Rebuild it as a standby of the new primary, then switch back the planned way.
    project.run("dev", "rebuild-standby", "group-a")
    wait_for(lambda: streams_from(dev_env, "group-a", "group-b"), 60, "group-a to stream from group-b")
    switch(project, "group-a")
    assert writable(dev_env, "group-a") and not writable(dev_env, "group-b")
    wait_for(lambda: streams_from(dev_env, "group-b", "group-a"), 30, "group-b to stream from group-a")
