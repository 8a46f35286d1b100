"""A team's tool end to end: the shared PostgreSQL backend started by the local environment,
two checkouts (own directory, own HOME) of the same stack, a switch killed in one checkout
and resumed from the other, the lease between them, concurrent audit writers, and the
one-truth check of the active set. Real Pulumi, real PostgreSQL, real DNS servers."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from orchestrator.adapters.files.audit import AuditLog
from orchestrator.adapters.pulumi.environment import cache_dir
from orchestrator.adapters.state import PgAuditLog, PgJournal
from tests.e2e.dnsutil import wait_for
from tests.e2e.kuadrant_rules import ZONE_SERVERS
from tests.e2e.kuadrant_rules import violations as kuadrant_violations
from tests.e2e.project import LEASE, TempProject, demo_topology
from tests.e2e.test_switch import prober_for, serves

pytestmark = pytest.mark.e2e
STACK = "team"
ZONES = sorted(ZONE_SERVERS)
TTL = 3


class Checkout(TempProject):
    """One operator's clone: its own directory and HOME, the team's backend in its environment."""

    backend: dict[str, str]
    home: Path

    def env(self, **extra: str) -> dict[str, str]:
        # Another HOME, but the machine's build of the pinned CLI (a real second machine builds its own).
        own = {"HOME": str(self.home), "ORCHESTRATOR_CACHE_DIR": str(cache_dir())}
        return super().env(**{**self.backend, **own, **extra})

    def active(self) -> list[str]:
        import yaml

        return yaml.safe_load(self.stack_file.read_text())["config"]["orchestrator:activeGroups"]

    def pull_from(self, other: Checkout) -> None:
        """What `git pull` does to the stack file."""
        shutil.copy(other.stack_file, self.stack_file)


def checkout(base: Path, dev_dir: Path, backend: dict[str, str], name: str) -> Checkout:
    proj = TempProject.create(base / name, dev_dir, stack=STACK)
    co = Checkout(root=proj.root, dev_dir=proj.dev_dir, stack=STACK)
    co.backend = backend
    co.home = base / name / "home"
    co.home.mkdir()
    return co


@pytest.fixture(scope="module")
def backend(dev_env) -> Iterator[dict[str, str]]:
    url, pgpass = dev_env.env.start_state_db()
    assert url.startswith("postgres://") and ":" not in url.split("@")[0][len("postgres://") :]
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PGPASSFILE", str(pgpass))  # this process reads the shared store too
        yield {"PULUMI_BACKEND_URL": url, "PGPASSFILE": str(pgpass)}


@pytest.fixture(scope="module")
def team(dev_env, backend, tmp_path_factory) -> Iterator[tuple[Checkout, Checkout]]:
    base = tmp_path_factory.mktemp("team")
    a = checkout(base, dev_env.state_dir, backend, "a")
    b = checkout(base, dev_env.state_dir, backend, "b")
    topology = demo_topology(dev_env.group_a, dev_env.group_b, dev_env.workload_port, ttl=TTL)
    a.topology = topology  # type: ignore[attr-defined]
    a.write_stack(topology, ["group-a"], lease=LEASE)
    a.run("up", "--stack", STACK, "--yes")
    b.pull_from(a)  # the stack file (with its secrets salt) is in git
    yield a, b
    a.destroy()


def test_state_lives_in_the_database_not_in_the_checkouts(team):
    a, b = team
    assert not (a.root / ".pulumi-state").exists() or not any((a.root / ".pulumi-state").rglob("*.json"))
    out = b.run("preview", "--stack", STACK, "--json")  # B sees A's deployment: nothing to change
    assert json.loads(out.stdout)["changes"] == []


def steps_seen(co: Checkout) -> list[str]:
    """When each step started and ended (to place prober failures in time)."""
    events = PgAuditLog(co.backend["PULUMI_BACKEND_URL"]).read(types=["step.started", "step.completed"])
    return [f"{e['ts']} {e['type']} {e['step']} pid={e['pid']}" for e in events[-16:]]


def test_killed_in_one_checkout_resumed_from_another(team, dev_env):
    a, b = team
    marker = a.root / ".orchestrator" / "paused-at-cleanup-inactive"
    with prober_for(dev_env) as prober:
        proc = a.start(
            "switch", "--stack", STACK, "--to", "group-b", "--yes", ORCHESTRATOR_PAUSE_AT="cleanup-inactive"
        )
        wait_for(marker.exists, 180, "checkout A's switch to finish the flip")
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        assert b.active() == ["group-a"], "B has not pulled: its stack file still says group-a"
        out = b.run("switch", "--stack", STACK, "--resume", "--yes")
        assert "completed" in out.stdout, out.stdout
        assert serves(dev_env, a.topology, "group-b")
    assert prober.queries > 20
    assert prober.failures == [], (
        len(prober.failures),
        prober.failures[:3],
        prober.failures[-3:],
        steps_seen(b),
    )
    assert b.active() == ["group-b"]
    records = PgJournal(b.backend["PULUMI_BACKEND_URL"]).list(STACK)
    assert records[0].status == "completed" and records[0].to_groups == ("group-b",)
    sid = records[0].id

    def history(co: Checkout) -> list[tuple[int, str | None]]:
        rows = json.loads(co.run("history", "--stack", STACK, "--json", "--limit", "50").stdout)
        return [(r["version"], r["switch_id"]) for r in rows if r["version"] is not None]

    rows_a, rows_b = history(a), history(b)
    assert rows_a == rows_b
    versions = [v for v, _ in rows_a]
    assert versions == sorted(versions, reverse=True) and len(set(versions)) == len(versions)
    assert min(versions) == 1 and all(isinstance(v, int) for v in versions)
    assert sid in {s for _, s in rows_a}
    lines = [line for line in a.run("history", "--stack", STACK).stdout.splitlines() if sid in line]
    assert lines and all(" v- " not in line for line in lines), lines
    events = PgAuditLog(b.backend["PULUMI_BACKEND_URL"]).read(switch_id=sid)
    assert {e["type"] for e in events} >= {"switchover.requested", "resume.requested", "switchover.completed"}
    assert len({e["pid"] for e in events}) >= 2, "events of both checkouts' processes"


def test_a_stale_checkout_refuses_up_and_names_the_switch(team, dev_env, tmp_path):
    a, b = team
    c = checkout(tmp_path, dev_env.state_dir, b.backend, "c")
    shutil.copy(a.stack_file, c.stack_file)
    c.stack_file.write_text(c.stack_file.read_text().replace("- group-b", "- group-a"))
    last = PgJournal(b.backend["PULUMI_BACKEND_URL"]).list(STACK)[0]
    for args in (("up", "--yes"), ("preview",), ("switch", "--to", "group-b", "--dry-run")):
        proc = c.run(*args, "--stack", STACK, check=False)
        assert proc.returncode == 5, (args, proc.stderr)
        assert last.id in proc.stderr and "git pull" in proc.stderr, proc.stderr
        assert (last.holder or "?") in proc.stderr
    assert serves(dev_env, a.topology, "group-b")
    c.pull_from(b)
    c.run("up", "--stack", STACK, "--yes")
    assert serves(dev_env, a.topology, "group-b")


def test_two_checkouts_switching_at_once_exactly_one_proceeds(team, dev_env):
    a, b = team
    a.pull_from(b)
    marker = a.root / ".orchestrator" / "paused-at-preflight"
    first = a.start("switch", "--stack", STACK, "--to", "group-a", "--yes", ORCHESTRATOR_PAUSE_AT="preflight")
    try:
        wait_for(marker.exists, 120, "checkout A to hold the lease")
        second = b.run("switch", "--stack", STACK, "--to", "group-a", "--yes", check=False)
        assert second.returncode == 5, second.stderr
        assert "held by" in second.stderr and "switch" in second.stderr, second.stderr
    finally:
        marker.unlink(missing_ok=True)
    _, err = first.communicate(timeout=300)
    assert first.returncode == 0, err
    assert serves(dev_env, a.topology, "group-a")
    collisions = PgAuditLog(b.backend["PULUMI_BACKEND_URL"]).read(types=["lease.collision"])
    assert collisions and "/sw-" in collisions[-1]["holder"]
    b.pull_from(a)


def test_killed_inside_the_flips_pulumi_update_resumed_from_another_checkout(team, dev_env):
    """The stack lock of the killed update lives in the database: the resume clears it (its
    holder is a dead process on this host) and finishes."""
    from orchestrator.adapters.state.locks import pg_stack_locks

    a, b = team
    url = a.backend["PULUMI_BACKEND_URL"]
    log = PgAuditLog(url)
    proc = a.start("switch", "--stack", STACK, "--to", "group-b", "--yes")
    try:
        wait_for(
            lambda: (
                bool(pg_stack_locks(url, STACK))
                and any(e.get("step") == "flip-dns" for e in log.read(types=["step.started"])[-3:])
            ),
            180,
            "the flip's Pulumi update to hold the stack lock",
        )
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    assert pg_stack_locks(url, STACK), "the killed update left its lock in the database"
    with prober_for(dev_env) as prober:
        b.run("switch", "--stack", STACK, "--resume", "--yes")
    assert prober.failures == [], prober.failures[:10]
    assert serves(dev_env, a.topology, "group-b") and b.active() == ["group-b"]
    assert pg_stack_locks(url, STACK) == []
    b.run("switch", "--stack", STACK, "--to", "group-a", "--yes")
    a.pull_from(b)


WRITER = textwrap.dedent(
    """
    import sys
    from orchestrator.adapters.state import PgAuditLog
    log = PgAuditLog(sys.argv[1])
    for n in range(int(sys.argv[3])):
        log.append("step.started", switch_id=sys.argv[2], step="concurrency", n=n, pad="x" * 3000)
    """
)


def test_concurrent_audit_writers_lose_nothing_and_never_interleave(backend):
    url = backend["PULUMI_BACKEND_URL"]
    per_writer, writers = 150, 2
    sids = [f"sw-20260101T00000{i}Z-abcdef" for i in range(writers)]
    env = {**os.environ, **backend}
    procs = [
        subprocess.Popen([sys.executable, "-c", WRITER, url, sid, str(per_writer)], env=env) for sid in sids
    ]
    assert [p.wait(timeout=300) for p in procs] == [0] * writers
    log = PgAuditLog(url)
    for sid in sids:
        events = log.read(switch_id=sid)
        assert [e["n"] for e in events] == list(range(per_writer)), "each writer's events, whole and in order"
        assert all(e["pad"] == "x" * 3000 for e in events)
    both = [e for e in log.read(types=["step.started"]) if e["switch_id"] in sids]
    assert len(both) == writers * per_writer
    assert len({e["pid"] for e in both}) == writers


def test_a_stack_moves_to_the_file_backend_and_back_with_its_history(team):
    a, _ = team
    url = a.backend["PULUMI_BACKEND_URL"]

    def history(**env: str) -> list[tuple[int, str | None]]:
        rows = json.loads(a.run("history", "--stack", STACK, "--json", "--limit", "100", **env).stdout)
        return [(r["version"], r["switch_id"]) for r in rows if r["version"] is not None]

    shared = history()
    assert len(shared) >= 3 and any(sid for _, sid in shared)
    out = a.run("backend", "move", "--stack", STACK, "--to", "file", "--json")
    moved = json.loads(out.stdout)
    assert moved["history_total"] == len(shared) and moved["journal_copied"] >= 1
    assert "@" in moved["source"] and "password" not in out.stdout
    on_file = history(PULUMI_BACKEND_URL="")
    assert on_file == shared, "the same versions and switch ids on the file backend"
    assert not a.run("preview", "--stack", STACK, "--json", PULUMI_BACKEND_URL="").stdout.count('"action"')
    refused = a.run("backend", "move", "--stack", STACK, "--to", url, "--from", "file", check=False)
    assert refused.returncode == 5 and "--replace" in refused.stderr, refused.stderr
    back = json.loads(
        a.run(
            "backend", "move", "--stack", STACK, "--to", url, "--from", "file", "--replace", "--json"
        ).stdout
    )
    assert back["history_copied"] == 0 and back["history_total"] == len(shared)
    assert history() == shared


def git(repo: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@e", "GIT_COMMITTER_NAME": "t"}
    env["GIT_COMMITTER_EMAIL"] = "t@e"
    return subprocess.run(
        ["git", *args], cwd=repo, env=env, capture_output=True, text=True, check=True
    ).stdout


def test_ci_preview_of_a_pull_request_names_endpoints_and_the_refusing_policy(team, dev_env):
    from orchestrator.adapters.pulumi.configfile import write_active_groups
    from orchestrator.services.review import MARKER

    a, _ = team
    assert a.active() == ["group-a"]
    repo = a.root
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "base")
    git(repo, "checkout", "-qb", "pr")
    (repo / "README.md").write_text("a change no stack depends on\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "docs only")
    script = str(Path(__file__).resolve().parents[2] / "scripts" / "ci" / "preview.py")

    def ci(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, script, "--base", "main", *args],
            cwd=repo,
            env=a.env(),
            capture_output=True,
            text=True,
        )

    quiet = ci()
    assert quiet.returncode == 0 and "no stack affected" in quiet.stdout, quiet.stderr
    write_active_groups(a.stack_file, ("group-b",))  # the pull request: move traffic to group-b
    git(repo, "commit", "-qam", "switch team to group-b")
    assert ci("--list").stdout.split() == [STACK]
    for address in dev_env.group_b:
        dev_env.env.set_workload_health(address, False)
    try:
        proc = ci("--out", "comment.md")
    finally:
        for address in dev_env.group_b:
            dev_env.env.set_workload_health(address, True)
    assert proc.returncode == 7, proc.stderr
    comment = (repo / "comment.md").read_text()
    assert comment.startswith(MARKER) and f"stack `{STACK}` — REFUSED" in comment
    for host in ("www.app.example.test", "shop.app.example.test", "api.svc.example.test"):
        assert host in comment, comment
    assert "policy target-group-healthy" in comment and "Blockers (mandatory)" in comment, comment
    assert "fingerprint `" in comment
    assert serves(dev_env, a.topology, "group-a"), "a preview changes nothing"
    git(repo, "checkout", "-q", "main")  # the checkout's stack file is group-a again


def test_after_lost_state_up_reports_adoptions_and_prune_removes_the_leftovers(team, dev_env, tmp_path):
    a, _ = team
    a.destroy()  # this test owns the zones now (the module's stack is gone)
    p = checkout(tmp_path, dev_env.state_dir, {"PULUMI_BACKEND_URL": ""}, "p")  # the file backend
    p.write_stack(a.topology, ["group-b"], lease=LEASE)
    p.run("up", "--stack", STACK, "--yes")
    try:
        shutil.rmtree(p.root / ".pulumi-state")  # the state is lost
        p.write_stack(a.topology, ["group-a"], lease=LEASE)
        up = p.run("up", "--stack", STACK, "--yes")
        assert "adopting the live record set app.example.test/www.app.example.test/A" in up.stdout, up.stdout
        status = json.loads(p.run("status", "--stack", STACK, "--json").stdout)
        stale = status["stale_registry"]
        assert stale and not status["in_sync"], status["problems"]
        assert serves(dev_env, a.topology, "group-a")
        broken = [v for zone in ZONES for v in kuadrant_violations(dev_env, zone, ["group-a"])]
        assert any("inactive group group-b" in v for v in broken), broken

        preview = json.loads(p.run("prune", "--stack", STACK, "--dry-run", "--json").stdout)
        assert sorted(lo["key"] for lo in preview["leftovers"]) == sorted(stale)
        assert json.loads(p.run("status", "--stack", STACK, "--json").stdout)["stale_registry"] == stale

        with prober_for(dev_env) as prober:
            out = p.run("prune", "--stack", STACK, "--yes")
        assert f"pruned {len(stale)} record set(s)" in out.stdout, out.stdout
        assert prober.failures == [], prober.failures[:10]
        after = json.loads(p.run("status", "--stack", STACK, "--json").stdout)
        assert after["stale_registry"] == [] and after["in_sync"], after["problems"]
        for zone in ZONES:  # Kuadrant's rules, read from a zone transfer, not from our reader
            assert kuadrant_violations(dev_env, zone, ["group-a"]) == [], zone
        pruned = [
            e for e in AuditLog(p.root / ".orchestrator" / "audit.jsonl").read(types=["records.pruned"])
        ]
        assert sorted(f"{e['zone']}/{e['name']}/{e['record_type']}" for e in pruned) == sorted(stale)
        again = p.run("prune", "--stack", STACK, "--yes")
        assert "nothing to prune" in again.stdout
    finally:
        p.destroy()
