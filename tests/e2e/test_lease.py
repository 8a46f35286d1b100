"""The lease against real BIND lease servers of the local environment (`dev_env`).

Each test uses its own record name in the lease zone, so tests start from a fresh epoch and
never see each other's holders. Expiry is awaited by polling the clock with a deadline.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import dns.query
import dns.rcode
import dns.tsigkeyring
import dns.update
import pytest

from orchestrator.adapters.lease import (
    DnsLease,
    LeaseCollision,
    LeaseKeeper,
    LeaseLost,
    LeaseRecord,
    LeaseUnavailable,
    QuorumLease,
    encode,
    fence_env,
    lease_from_config,
)
from orchestrator.adapters.lease.base import iso
from orchestrator.devenv import find_servers
from orchestrator.devenv.leaseservers import LEASE_ZONE
from orchestrator.devenv.probes import soa_served
from orchestrator.domain.errors import EXIT_CONFLICT, EXIT_ENVIRONMENT
from tests.e2e.dnsutil import wait_for

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
KINDS = ["dns", "dns-quorum"]
ALICE = "alice@host-a:101/switch-aaaa"
BOB = "bob@host-b:202/switch-bbbb"
MALLORY = "mallory@elsewhere:666/switch-evil"


def lease_cfg(dev_env, kind: str) -> dict[str, Any]:
    """A dev lease of `kind` on a record name of its own (a fresh epoch for each test)."""
    where = {"server": "dev"} if kind == "dns" else {"servers": "dev"}
    return {"kind": kind, **where, "stateDir": str(dev_env.state_dir), "name": f"_t-{uuid.uuid4().hex[:10]}"}


def members(lease) -> list[DnsLease]:
    return lease.members if isinstance(lease, QuorumLease) else [lease]


def write_directly(dev_env, lease, record: LeaseRecord) -> None:
    """Overwrite the lease record on every server with a plain, unconditional UPDATE."""
    s = dev_env.secrets
    keyring = dns.tsigkeyring.from_text({s["tsig_key_name"]: (s["tsig_algorithm"], s["tsig_secret"])})
    for member in members(lease):
        update = dns.update.UpdateMessage(f"{LEASE_ZONE}.", keyring=keyring)
        update.replace(member.owner, 0, "TXT", f'"{encode(record)}"')
        response = dns.query.tcp(update, member.address, port=member.port, timeout=5)
        assert response.rcode() == dns.rcode.NOERROR


def wait_past(t: float) -> None:
    wait_for(lambda: time.time() > t + 0.05, 10, f"the clock to pass {iso(t)}", interval=0.05)


@contextmanager
def servers_stopped(dev_env, *indexes: int) -> Iterator[None]:
    try:
        for i in indexes:
            assert dev_env.env.stop_server("lease", i)["running"] is False
        yield
    finally:
        for i in indexes:
            assert dev_env.env.start_server("lease", i)["running"] is True


# --- the servers ------------------------------------------------------------------------------


def test_environment_runs_three_independent_lease_servers(dev_env):
    servers = find_servers(dev_env.env.status(), "lease")
    assert [s["index"] for s in servers] == [0, 1, 2]
    assert len({s["port"] for s in servers}) == 3 and len({s["pid"] for s in servers}) == 3
    for s in servers:
        assert s["running"] and soa_served(s["address"], s["port"], LEASE_ZONE, timeout=2)


# --- acquire, renew, release, epochs ----------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_acquire_renew_release_and_the_epoch_goes_up_on_every_acquisition(dev_env, kind):
    cfg = lease_cfg(dev_env, kind)
    lease = lease_from_config(cfg)
    assert lease.read() is None

    first = lease.acquire(ALICE, ttl=20)
    assert (first.holder, first.epoch) == (ALICE, 1)
    assert lease.read() == first
    lease.check(first)

    renewed = lease.renew(first, ttl=25)
    assert renewed.epoch == first.epoch and renewed.expires_at > first.expires_at
    assert renewed.acquired_at == first.acquired_at
    assert lease.read() == renewed

    lease.release(renewed)
    assert lease.read() is None
    lease.release(renewed)  # idempotent
    with pytest.raises(LeaseLost):
        lease.check(renewed)

    second = lease.acquire(BOB, ttl=20)
    assert second.epoch == 2  # the tombstone kept epoch 1
    assert lease_from_config(cfg).read() == second  # another client sees the same state
    lease.release(second)
    assert lease.acquire(ALICE, ttl=20).epoch == 3


@pytest.mark.parametrize("kind", KINDS)
def test_a_second_holder_is_told_who_holds_the_lease_and_until_when(dev_env, kind):
    lease = lease_from_config(lease_cfg(dev_env, kind))
    held = lease.acquire(ALICE, ttl=30)
    with pytest.raises(LeaseCollision) as caught:
        lease.acquire(BOB)
    err = caught.value
    assert err.exit_code == EXIT_CONFLICT
    assert (err.holder, err.expires_at) == (ALICE, held.expires_at)
    text = err.render()
    assert ALICE in text and iso(held.expires_at) in text and "s left)" in text and "wait" in err.fix
    assert lease.read() == held  # the refused acquire changed nothing


@pytest.mark.parametrize("kind", KINDS)
def test_an_expired_lease_is_taken_over_with_a_new_epoch_and_the_old_holder_is_fenced(dev_env, kind):
    lease = lease_from_config(lease_cfg(dev_env, kind))
    old = lease.acquire(ALICE, ttl=1)
    wait_past(old.expires_at)

    new = lease.acquire(BOB, ttl=30)
    assert new.epoch == old.epoch + 1
    for attempt in (lambda: lease.check(old), lambda: lease.renew(old)):
        with pytest.raises(LeaseLost) as caught:
            attempt()
        assert BOB in caught.value.render() and f"epoch {new.epoch}" in caught.value.render()
    lease.release(old)  # not ours any more: a no-op
    assert lease.read() == new


@pytest.mark.parametrize("kind", KINDS)
def test_an_overwritten_record_makes_check_and_renew_raise_lease_lost(dev_env, kind):
    lease = lease_from_config(lease_cfg(dev_env, kind))
    held = lease.acquire(ALICE, ttl=30)
    stolen = LeaseRecord(MALLORY, held.epoch + 5, held.expires_at, held.acquired_at)
    write_directly(dev_env, lease, stolen)

    with pytest.raises(LeaseLost) as caught:
        lease.check(held)
    assert MALLORY in caught.value.why and f"epoch {stolen.epoch}" in caught.value.why
    assert caught.value.current == stolen
    with pytest.raises(LeaseLost):
        lease.renew(held)
    lease.release(held)
    assert lease.read() == stolen


@pytest.mark.parametrize(("kind", "contenders"), [("dns", 4), ("dns-quorum", 2)])
def test_racing_acquires_exactly_one_wins(dev_env, kind, contenders):
    for _round in range(3):
        lease = lease_from_config(lease_cfg(dev_env, kind))
        start = threading.Barrier(contenders)
        results: dict[str, object] = {}

        def contend(holder: str, lease=lease, start=start, results=results) -> None:
            start.wait()
            try:
                results[holder] = lease.acquire(holder, ttl=30)
            except LeaseCollision as exc:
                results[holder] = exc

        threads = [
            threading.Thread(target=contend, args=(f"racer-{i}@host:{i}/switch",)) for i in range(contenders)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        winners = [r for r in results.values() if isinstance(r, LeaseRecord)]
        losers = [r for r in results.values() if isinstance(r, LeaseCollision)]
        assert len(winners) == 1 and len(losers) == contenders - 1, results
        assert lease.read() == winners[0]
        assert all(err.holder == winners[0].holder for err in losers)


# --- the keeper -------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_keeper_renews_in_the_background_and_notices_a_stolen_lease(dev_env, kind):
    lease = lease_from_config(lease_cfg(dev_env, kind))
    held = lease.acquire(ALICE, ttl=2)
    renewed: list[LeaseRecord] = []
    lost: list[LeaseLost] = []
    with LeaseKeeper(
        lease, held, interval=0.3, ttl=2, on_renewed=renewed.append, on_lost=lost.append
    ) as keeper:
        wait_for(lambda: keeper.renewals >= 3, 10, "three renewals")
        current = keeper.record
        assert current.epoch == held.epoch and current.expires_at > held.expires_at
        assert lease.read().expires_at >= current.expires_at
        keeper.assert_held()
        assert renewed and renewed[-1].epoch == held.epoch

        write_directly(dev_env, lease, LeaseRecord(MALLORY, held.epoch + 1, time.time() + 30, time.time()))
        assert keeper.lost.wait(10), "the keeper did not notice that the lease was stolen"
    assert len(lost) == 1 and MALLORY in lost[0].why
    with pytest.raises(LeaseLost):
        keeper.assert_held()


# --- the quorum with servers down -------------------------------------------------------------


def test_quorum_works_with_one_of_three_servers_down_and_repairs_it_afterwards(dev_env):
    cfg = lease_cfg(dev_env, "dns-quorum")
    with servers_stopped(dev_env, 2):
        lease = lease_from_config(cfg)
        held = lease.acquire(ALICE, ttl=30)
        assert held.epoch == 1
        held = lease.renew(held, ttl=30)
        lease.check(held)
        assert lease.read() == held
        with pytest.raises(LeaseCollision):
            lease.acquire(BOB)
    # lease-2 is back without the record; the next renewal writes it there too.
    restarted = members(lease_from_config(cfg))[2]
    assert restarted.observe().record is None
    held = lease_from_config(cfg).renew(held, ttl=30)
    assert restarted.observe().record == held


def test_quorum_with_two_of_three_servers_down_is_unavailable_and_names_them(dev_env):
    cfg = lease_cfg(dev_env, "dns-quorum")
    held = lease_from_config(cfg).acquire(ALICE, ttl=30)
    with servers_stopped(dev_env, 1, 2):
        lease = lease_from_config(cfg)
        for attempt in (lambda: lease.acquire(BOB), lambda: lease.check(held), lambda: lease.read()):
            with pytest.raises(LeaseUnavailable) as caught:
                attempt()
            err = caught.value
            assert err.exit_code == EXIT_ENVIRONMENT
            assert set(err.failed) == {m.where for m in lease.members[1:]}
            assert "lease-1" in err.render() and "lease-2" in err.render()
            assert "lease-0" not in ", ".join(err.failed)
    lease_from_config(cfg).check(held)  # back: the lease held all along


# --- the fence across processes ---------------------------------------------------------------

FENCE_SCRIPT = """
import sys
from orchestrator.domain.errors import OrchestratorError
from orchestrator.adapters.lease import check_fence_from_env
try:
    check_fence_from_env()
except OrchestratorError as err:
    print(err.render(), file=sys.stderr)
    sys.exit(err.exit_code)
print("write allowed")
"""


def run_writer(extra_env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """A fresh Python process, as the Pulumi provider plugin is, that checks the fence."""
    env = {k: v for k, v in os.environ.items() if k not in ("ORCHESTRATOR_FENCE", "ORCHESTRATOR_DEV_DIR")}
    env.update(extra_env, PYTHONPATH=str(REPO))
    return subprocess.run(
        [sys.executable, "-c", FENCE_SCRIPT], env=env, cwd=REPO, capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize("kind", KINDS)
def test_fence_passes_in_another_process_while_held_and_refuses_after_a_takeover(dev_env, kind):
    cfg = lease_cfg(dev_env, kind)
    lease = lease_from_config(cfg)
    held = lease.acquire(ALICE, ttl=30)
    fence = fence_env(cfg, held)
    assert dev_env.secrets["tsig_secret"] not in fence["ORCHESTRATOR_FENCE"]

    allowed = run_writer(fence)
    assert allowed.returncode == 0, allowed.stderr
    assert allowed.stdout.strip() == "write allowed"
    assert run_writer({}).returncode == 0  # no fence: a plain `orchestrator up`

    taken = LeaseRecord(BOB, held.epoch + 1, time.time() + 30, time.time())
    write_directly(dev_env, lease, taken)
    refused = run_writer(fence)
    assert refused.returncode == EXIT_CONFLICT, refused.stderr
    assert "write refused" in refused.stderr and "is gone" in refused.stderr
    assert BOB in refused.stderr and f"epoch {taken.epoch}" in refused.stderr
