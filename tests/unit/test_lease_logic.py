"""Pure parts of the lease: the record's text, epoch and expiry decisions, majority math,
configuration and fence parsing, and the keeper's reaction to failures (no servers)."""

from __future__ import annotations

import json
import threading

import pytest

from orchestrator.adapters.lease import (
    FENCE_ENV,
    DnsLease,
    LeaseCollision,
    LeaseKeeper,
    LeaseLost,
    LeaseRecord,
    LeaseUnavailable,
    QuorumLease,
    check_fence_from_env,
    decode,
    encode,
    fence_env,
    lease_from_config,
    majority,
)
from orchestrator.adapters.lease.base import acquire_epoch, next_epoch, quorum_expiry, validate_holder
from orchestrator.adapters.lease.codec import from_strings, to_strings, tombstone
from orchestrator.devenv import DevSpec
from orchestrator.devenv.status import build_status, find_servers
from orchestrator.domain.errors import (
    EXIT_CONFLICT,
    EXIT_ENVIRONMENT,
    EXIT_USAGE,
    ConfigError,
    EnvironmentProblem,
    UsageError,
)

NOW = 1_767_225_600.0  # 2026-01-01T00:00:00Z
SECRET = "c2VjcmV0LXNlY3JldC1zZWNyZXQ="
ALICE = LeaseRecord("alice@host:42/switch-1a2b", 7, NOW + 30, NOW)


# --- the record's text ------------------------------------------------------------------------


def test_record_is_written_canonically():
    assert encode(ALICE) == (
        "holder=alice@host:42/switch-1a2b;epoch=7;acquired=1767225600.000;expires=1767225630.000"
    )


def test_record_round_trips_through_its_text():
    odd = LeaseRecord("bob@h:1/switch-x", 12, NOW + 0.123, NOW - 1.5)
    for record in (ALICE, odd, tombstone(ALICE)):
        assert decode(encode(record)) == record


def test_tombstone_keeps_the_epoch_and_has_no_holder_or_expiry():
    dead = tombstone(ALICE)
    assert encode(dead) == "holder=;epoch=7;acquired=1767225600.000;expires=0"
    assert dead.released and not dead.is_live(NOW) and dead.epoch == ALICE.epoch


def test_record_is_read_leniently():
    text = " EPOCH = 7 ; expires=2026-01-01T00:00:30Z;v=2;future=field ; holder= alice@host:42/switch-1a2b;"
    assert decode(text) == LeaseRecord("alice@host:42/switch-1a2b", 7, NOW + 30, 0.0)


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("holder=a;expires=1", "no epoch"),
        ("holder=a;epoch=seven", "not a whole number"),
        ("holder=a;epoch=-1", "negative"),
        ("holder=a;epoch=1;garbage", "has no '='"),
        ("holder=a;epoch=1;expires=tomorrow", "neither unix seconds nor"),
        ("holder=a;epoch=1;expires=2026-01-01T00:00:00", "no time zone"),
    ],
)
def test_a_value_that_is_not_a_lease_record_says_why(text, complaint):
    with pytest.raises(ValueError, match=complaint):
        decode(text)


def test_long_values_are_split_into_txt_strings_and_joined_back():
    text = "holder=" + "x" * 600
    strings = to_strings(text)
    assert [len(s) for s in strings] == [255, 255, 97]
    assert from_strings(strings) == text


# --- record states and decisions --------------------------------------------------------------


def test_live_released_and_same_lease():
    assert ALICE.is_live(NOW + 29.9) and not ALICE.is_live(NOW + 30)
    renewed = LeaseRecord(ALICE.holder, ALICE.epoch, NOW + 60, NOW)
    assert ALICE.same_lease(renewed)
    assert not ALICE.same_lease(LeaseRecord(ALICE.holder, 8, NOW + 60, NOW))
    assert not ALICE.same_lease(LeaseRecord("bob", 7, NOW + 60, NOW))
    assert not ALICE.same_lease(None)


def test_epoch_of_an_acquisition():
    assert acquire_epoch(None, "bob", NOW) == 1  # never held
    assert acquire_epoch(tombstone(ALICE), "bob", NOW) == 8  # released: the epoch goes on
    assert acquire_epoch(ALICE, "bob", NOW + 31) == 8  # expired: taken over


@pytest.mark.parametrize("holder", ["bob@host:1/switch-2", ALICE.holder])
def test_a_live_lease_blocks_everyone_including_its_own_holder(holder):
    with pytest.raises(LeaseCollision) as caught:
        acquire_epoch(ALICE, holder, NOW + 10, "lease-0 (127.0.0.1:53)")
    err = caught.value
    assert (err.holder, err.expires_at, err.epoch) == (ALICE.holder, ALICE.expires_at, 7)
    assert err.exit_code == EXIT_CONFLICT
    text = err.render()
    assert ALICE.holder in text and "2026-01-01T00:00:30Z" in text and "(20s left)" in text
    assert "wait" in err.fix and "check who it is" in err.fix


def test_next_epoch_is_above_every_epoch_seen():
    assert next_epoch([]) == 1
    assert next_epoch([3, 7, 5]) == 8


@pytest.mark.parametrize(("n", "need"), [(1, 1), (2, 2), (3, 2), (4, 3), (5, 3), (7, 4)])
def test_majority_is_strict(n, need):
    assert majority(n) == need
    assert 2 * need > n and 2 * (need - 1) <= n


def test_majority_of_no_servers_is_an_error():
    with pytest.raises(ValueError):
        majority(0)


def test_quorum_expiry_is_when_the_majority_lapses():
    assert quorum_expiry([NOW + 10, NOW + 30, NOW + 20], 3) == NOW + 20
    assert quorum_expiry([NOW + 10, NOW + 30], 3) == NOW + 10
    assert quorum_expiry([NOW + 30], 3) is None
    assert quorum_expiry([NOW + 1, NOW + 2, NOW + 3, NOW + 4, NOW + 5], 5) == NOW + 3


@pytest.mark.parametrize("holder", ["", " alice", "a;b", 'a"b', "a\\b", "a\nb", "x" * 201])
def test_a_holder_that_cannot_be_stored_is_refused(holder):
    with pytest.raises(UsageError) as caught:
        validate_holder(holder)
    assert caught.value.exit_code == EXIT_USAGE


def test_errors_have_documented_exit_codes():
    assert LeaseLost("gone").exit_code == EXIT_CONFLICT
    unavailable = LeaseUnavailable("down", failed={"lease-1": "refused"})
    assert unavailable.exit_code == EXIT_ENVIRONMENT and "lease-1: refused" in unavailable.why


# --- the quorum's view of several servers -----------------------------------------------------


def _member(i: int) -> DnsLease:
    return DnsLease("127.0.0.1", 5300 + i, "lease.test", key_name="k", key_secret=SECRET, label=f"lease-{i}")


def test_quorum_view_is_the_holder_on_a_majority_until_the_majority_lapses():
    quorum = QuorumLease([_member(i) for i in range(3)])
    renewed_on_two = [
        LeaseRecord(ALICE.holder, 7, NOW + 60, NOW),
        LeaseRecord(ALICE.holder, 7, NOW + 60, NOW),
        ALICE,
    ]
    assert quorum._view(renewed_on_two, NOW) == LeaseRecord(ALICE.holder, 7, NOW + 60, NOW)
    renewed_on_one = [renewed_on_two[0], ALICE, ALICE]
    assert quorum._view(renewed_on_one, NOW).expires_at == NOW + 30
    leftover = LeaseRecord("bob", 8, NOW + 30, NOW)  # a minority acquire that never gave back
    assert quorum._view([leftover, ALICE, ALICE], NOW).holder == ALICE.holder
    assert quorum._view([tombstone(ALICE)] * 3, NOW) is None


def test_a_quorum_needs_three_servers():
    with pytest.raises(UsageError, match="at least 3"):
        QuorumLease([_member(0), _member(1)])


# --- configuration ----------------------------------------------------------------------------


def test_explicit_dns_lease_reads_its_secret_from_the_environment(monkeypatch):
    monkeypatch.setenv("LEASE_SECRET", SECRET)
    lease = lease_from_config(
        {
            "kind": "dns",
            "address": "192.0.2.1",
            "port": 5353,
            "zone": "lease.example.net",
            "tsigKeyName": "orchestrator",
            "tsigSecretEnv": "LEASE_SECRET",
        }
    )
    assert isinstance(lease, DnsLease)
    assert (lease.address, lease.port, lease.where) == ("192.0.2.1", 5353, "192.0.2.1:5353")
    assert lease.owner.to_text() == "_orchestrator-lease.lease.example.net."


def test_explicit_quorum_merges_top_level_settings_into_each_server(monkeypatch):
    monkeypatch.setenv("TSIG_SECRET", SECRET)
    lease = lease_from_config(
        {
            "kind": "dns-quorum",
            "zone": "lease.example.net",
            "name": "_lock",
            "tsigKeyName": "orchestrator",
            "servers": [
                {"address": "192.0.2.1"},
                {"address": "192.0.2.2", "port": 54},
                {"address": "192.0.2.3"},
            ],
        }
    )
    assert isinstance(lease, QuorumLease) and lease.need == 2
    assert [m.where for m in lease.members] == ["192.0.2.1:53", "192.0.2.2:54", "192.0.2.3:53"]
    assert {m.owner.to_text() for m in lease.members} == {"_lock.lease.example.net."}


@pytest.mark.parametrize(
    ("cfg", "key"),
    [
        ({"kind": "zookeeper"}, "lease.kind"),
        ({"kind": "dns", "zone": "z", "tsigKeyName": "k"}, "lease.address"),
        ({"kind": "dns-quorum", "servers": []}, "lease.servers"),
        ({"kind": "dns", "address": "a", "tsigSecret": "s3cret"}, "lease.tsigSecret"),
        ({"kind": "dns-quorum", "servers": [{"address": "a", "colour": "red"}]}, "lease.servers[0].colour"),
    ],
)
def test_bad_configuration_names_the_key(cfg, key):
    with pytest.raises(ConfigError) as caught:
        lease_from_config(cfg)
    assert caught.value.key == key
    if "Secret" in key:
        assert "secrets never go in the configuration" in caught.value.why


def test_missing_tsig_secret_names_the_variable(monkeypatch):
    monkeypatch.delenv("TSIG_SECRET", raising=False)
    with pytest.raises(EnvironmentProblem) as caught:
        lease_from_config({"kind": "dns", "address": "192.0.2.1", "zone": "z.test", "tsigKeyName": "k"})
    assert "TSIG_SECRET" in caught.value.why and "export TSIG_SECRET" in caught.value.fix


def test_dev_lease_without_an_environment_says_to_start_it(tmp_path):
    with pytest.raises(EnvironmentProblem) as caught:
        lease_from_config({"kind": "dns-quorum", "servers": "dev", "stateDir": str(tmp_path)})
    assert "orchestrator dev up" in caught.value.fix


# --- the fence --------------------------------------------------------------------------------


def test_fence_carries_the_configuration_holder_and_epoch_but_no_secret(tmp_path):
    cfg = {"kind": "dns-quorum", "servers": "dev", "stateDir": str(tmp_path), "tsigSecret": SECRET}
    env = fence_env(cfg, ALICE)
    assert list(env) == [FENCE_ENV]
    payload = json.loads(env[FENCE_ENV])
    assert payload == {
        "version": 1,
        "lease": {"kind": "dns-quorum", "servers": "dev", "stateDir": str(tmp_path.resolve())},
        "holder": ALICE.holder,
        "epoch": 7,
    }
    assert SECRET not in env[FENCE_ENV]


def test_fence_of_a_dev_lease_names_the_state_directory(monkeypatch, tmp_path):
    monkeypatch.setenv("ORCHESTRATOR_DEV_DIR", str(tmp_path))
    payload = json.loads(fence_env({"kind": "dns", "server": "dev"}, ALICE)[FENCE_ENV])
    assert payload["lease"]["stateDir"] == str(tmp_path.resolve())


def test_no_fence_means_no_check():
    check_fence_from_env({})


@pytest.mark.parametrize("raw", ["not json", '{"lease": {}}', '{"lease": [], "holder": "a", "epoch": 1}'])
def test_a_malformed_fence_refuses_the_write(raw):
    with pytest.raises(UsageError, match="write refused"):
        check_fence_from_env({FENCE_ENV: raw})


# --- the keeper's decisions (an in-memory lease stands in for the servers) ---------------------


class ScriptedLease:
    """Answers renew() from a script of results, for the keeper's reactions only."""

    def __init__(self, script: list[object]):
        self.script = script
        self.calls = 0
        self.done = threading.Event()

    def renew(self, record: LeaseRecord, ttl: float = 30.0) -> LeaseRecord:
        self.calls += 1
        step = self.script[min(self.calls, len(self.script)) - 1]
        if self.calls >= len(self.script):
            self.done.set()
        if isinstance(step, Exception):
            raise step
        return LeaseRecord(record.holder, record.epoch, record.expires_at + 1, record.acquired_at)

    def check(self, record: LeaseRecord, *, margin: float = 0.0) -> None:
        return None


def test_keeper_interval_must_be_shorter_than_the_ttl():
    with pytest.raises(UsageError):
        LeaseKeeper(ScriptedLease([]), ALICE, interval=30, ttl=30)


def test_keeper_survives_an_unreachable_moment_and_stops_at_a_lost_lease():
    down = LeaseUnavailable("lease-1 down", failed={"lease-1": "refused"})
    gone = LeaseLost("taken")
    lease = ScriptedLease(["ok", down, "ok", gone])
    renewed: list[LeaseRecord] = []
    lost: list[LeaseLost] = []
    record = LeaseRecord("a", 1, NOW + 30, NOW)
    with LeaseKeeper(
        lease,
        record,
        interval=0.01,
        ttl=30,
        on_renewed=renewed.append,
        on_lost=lost.append,
        clock=lambda: NOW,
    ) as keeper:
        assert keeper.lost.wait(5)
    assert lost == [gone] and keeper.error is gone
    assert [r.expires_at for r in renewed] == [NOW + 31, NOW + 32] and keeper.record == renewed[-1]
    with pytest.raises(LeaseLost):
        keeper.assert_held()


def test_keeper_gives_up_when_the_servers_stay_unreachable_until_expiry():
    down = LeaseUnavailable("all down")
    record = LeaseRecord("a", 1, NOW + 1, NOW)
    with LeaseKeeper(
        ScriptedLease([down]), record, interval=0.01, ttl=30, clock=lambda: NOW + 0.999
    ) as keeper:
        assert keeper.lost.wait(5)
    assert "could not be renewed before it expired" in keeper.error.why


# --- the local environment's lease servers in status ------------------------------------------


def test_status_lists_lease_servers_with_role_index_and_zone(tmp_path):
    record = {
        "spec": DevSpec().to_dict(),
        "servers": {
            "powerdns": {"pid": 11, "port": 5301, "api_port": 8081, "log": "p.log"},
            "bind": {"pid": 12, "port": 5302, "log": "b.log"},
            "unbound": {"pid": 13, "port": 5303, "log": "u.log"},
            "workloads": {"pid": 14, "log": "w.log"},
            **{f"lease-{i}": {"pid": 20 + i, "port": 5310 + i, "log": f"l{i}.log"} for i in range(3)},
        },
    }
    alive = {"powerdns": True, "bind": True, "unbound": True, "workloads": True}
    alive |= {f"lease-{i}": True for i in range(3)}
    status = build_status(tmp_path, record, alive)
    leases = find_servers(status, "lease")
    assert [(s["name"], s["index"], s["port"]) for s in leases] == [
        ("lease-0", 0, 5310),
        ("lease-1", 1, 5311),
        ("lease-2", 2, 5312),
    ]
    assert all(s["zones"] == ["lease.orchestrator.test"] and s["address"] == "127.0.0.1" for s in leases)
    assert status["running"] is True
    one_down = build_status(tmp_path, record, dict(alive, **{"lease-1": False}))
    assert one_down["running"] is False and find_servers(one_down, "lease")[1]["running"] is False


def test_dev_spec_has_three_lease_servers_by_default_and_refuses_too_many(tmp_path):
    assert DevSpec().lease_servers == 3
    assert DevSpec.from_dict({}).lease_servers == 3
    from orchestrator.devenv import DevEnv

    with pytest.raises(UsageError):
        DevEnv(tmp_path / "dev").up(DevSpec(lease_servers=99))


def test_stopping_a_server_that_does_not_exist_is_a_usage_error(tmp_path):
    from click.testing import CliRunner

    from orchestrator.interfaces.cli.dev import dev

    result = CliRunner().invoke(dev, ["--state-dir", str(tmp_path), "stop-server", "lease", "1"])
    assert result.exit_code == EXIT_USAGE
    assert "no server lease 1" in result.output and "fix:" in result.output


# --- one fence check vouches for the writes of the next second ---------------------------------


class CountingLease:
    """Stands in for the lease servers: counts checks, records the margin asked for."""

    def __init__(self, fail: BaseException | None = None, gate: threading.Event | None = None):
        self.checks: list[float] = []
        self.fail = fail
        self.gate = gate

    def check(self, record: LeaseRecord, *, margin: float = 0.0) -> None:
        if self.gate is not None:
            self.gate.wait(10)
        self.checks.append(margin)
        if self.fail is not None:
            raise self.fail


@pytest.fixture
def fence_of(monkeypatch):
    from orchestrator.adapters.lease import fence as fence_mod

    monkeypatch.setattr(fence_mod, "_checked", {})

    def make(lease: CountingLease) -> dict[str, str]:
        monkeypatch.setattr(fence_mod, "lease_from_config", lambda cfg: lease)
        return fence_env({"kind": "dns", "servers": [{"address": "192.0.2.1"}]}, ALICE)

    return make


def test_one_check_vouches_for_the_writes_of_the_next_second(fence_of):
    from orchestrator.adapters.lease.fence import FENCE_MARGIN, FENCE_REUSE

    lease = CountingLease()
    env = fence_of(lease)
    t = [100.0]
    for at in (100.0, 100.5, 100.99):
        t[0] = at
        check_fence_from_env(env, clock=lambda: t[0])
    assert len(lease.checks) == 1
    # The lease must hold for the reuse window plus the margin: no write starts in its last seconds.
    assert lease.checks == [FENCE_MARGIN + FENCE_REUSE]
    t[0] = 100.0 + FENCE_REUSE
    check_fence_from_env(env, clock=lambda: t[0])
    assert len(lease.checks) == 2


def test_a_failed_check_vouches_for_nothing(fence_of):
    lost = LeaseLost("the lease of alice is gone", "bob holds epoch 8")
    lease = CountingLease(fail=lost)
    env = fence_of(lease)
    for _ in range(2):
        with pytest.raises(LeaseLost, match="write refused"):
            check_fence_from_env(env, clock=lambda: 5.0)
    assert len(lease.checks) == 2  # checked again, still refused


def test_concurrent_writers_share_one_check(fence_of):
    gate = threading.Event()
    lease = CountingLease(gate=gate)
    env = fence_of(lease)
    errors: list[BaseException] = []

    def write() -> None:
        try:
            check_fence_from_env(env, clock=lambda: 7.0)
        except BaseException as exc:  # noqa: BLE001 (reported below)
            errors.append(exc)

    threads = [threading.Thread(target=write) for _ in range(8)]
    for th in threads:
        th.start()
    gate.set()
    for th in threads:
        th.join(10)
    assert not errors and not any(th.is_alive() for th in threads)
    assert len(lease.checks) == 1
