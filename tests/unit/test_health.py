"""Post-switchover health: the four checks, the condition, the report, the configuration (no servers)."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orchestrator.adapters.probes.vantages import (
    local_vantages,
    production_vantages,
    system_resolvers,
    vantages_for,
)
from orchestrator.domain.errors import ConfigError, UsageError
from orchestrator.domain.health import health_targets
from orchestrator.domain.topology import Topology, load_topology
from orchestrator.services.health import (
    AUDIT_POSTED,
    CHECKS,
    DEFERRED,
    DNS_PROBES,
    FALSE,
    LATENCY_NORMAL,
    NO_REPORT,
    REPLICAS_HEALTHY,
    STATUSES,
    TRUE,
    UNKNOWN,
    CheckResult,
    Deps,
    HealthReport,
    LatencySettings,
    Vantage,
    aggregate,
    condition_for,
    load_report,
    parse_health_config,
    run_checks,
    verify_delay,
)
from orchestrator.services.health import checks as C
from orchestrator.services.health.config import VERIFY_DELAY_ENV, parse_delay

A = ["127.0.110.1", "127.0.110.2"]
B = ["127.0.120.1", "127.0.120.2"]
PORT = 18080
SWITCH_ID = "sw-20260101T000000Z-abcdef"
FP = "0123456789abcdef"


def topo(databases=None, ttl: int = 3):  # noqa: ANN001, ANN201
    health = {"port": PORT, "path": "/healthz"}

    def group(addrs: list[str]) -> dict:
        return {
            "endpoints": {
                "www.app.example.test": {"a": list(addrs), "health": health},
                "shop.app.example.test": {"a": [addrs[0]], "health": health},
                "api.svc.example.test": {"a": [addrs[-1]], "health": health},
            }
        }

    raw = {
        "ttl": ttl,
        "zones": [
            {"name": "app.example.test", "provider": "powerdns", "settings": {"server": "dev"}},
            {"name": "svc.example.test", "provider": "rfc2136", "settings": {"server": "dev"}},
        ],
        "groups": {"group-a": group(A), "group-b": group(B)},
    }
    if databases is not None:
        raw["databases"] = databases
    return load_topology(raw)


PDNS = Vantage("powerdns", "127.0.0.1", 5300, False, ("app.example.test",))
BIND = Vantage("bind", "127.0.0.1", 5301, False, ("svc.example.test",))
UNBOUND = Vantage("unbound", "127.0.0.1", 5302, True, ("app.example.test", "svc.example.test"))
VANTAGES = [PDNS, BIND, UNBOUND]


class FakeClock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.t += seconds


def serving(
    group_addrs: list[str], *, stale_at: dict[str, list[str]] | None = None, until: float = 0.0, clock=None
):
    """A fake DNS: every vantage answers with the group's targets (some stale until a time)."""
    t = topo()

    def query(address, port, name, rtype, recursive, timeout):  # noqa: ANN001, ANN202
        for v in VANTAGES:
            if v.port == port and stale_at and v.name in stale_at and clock is not None and clock() < until:
                return "NOERROR", set(stale_at[v.name])
        group = "group-b" if group_addrs == B else "group-a"
        ep = t.group(group).endpoint(name)
        return ("NOERROR", set(ep.targets(rtype))) if ep else ("NXDOMAIN", set())

    return query


# --- the condition ---------------------------------------------------------------------------


def result(name: str, status: str, summary: str = "s") -> CheckResult:
    return CheckResult(name, status, summary)


def test_a_false_check_makes_the_condition_false_and_names_it() -> None:
    status, reason, message = aggregate(
        [
            result(REPLICAS_HEALTHY, DEFERRED),
            result(DNS_PROBES, TRUE),
            result(LATENCY_NORMAL, FALSE, "group-b endpoint www target 127.0.120.1 answered 503"),
            result(AUDIT_POSTED, UNKNOWN),
        ]
    )
    assert status == FALSE and reason == "CheckFailed"
    assert "latency-normal" in message and "127.0.120.1" in message and "\n" not in message


def test_unknown_is_not_healthy_and_deferred_alone_is_not_a_pass() -> None:
    assert aggregate([result(DNS_PROBES, TRUE), result(AUDIT_POSTED, UNKNOWN)])[0] == UNKNOWN
    assert aggregate([result(REPLICAS_HEALTHY, DEFERRED)])[0] == UNKNOWN
    assert aggregate([])[0] == UNKNOWN


def test_true_when_every_runnable_check_passed_and_deferred_ones_are_named() -> None:
    status, _, message = aggregate(
        [result(REPLICAS_HEALTHY, DEFERRED, "no database pairs"), result(DNS_PROBES, TRUE)]
    )
    assert status == TRUE
    assert "1 of 2 checks passed" in message and "replicas-healthy (no database pairs)" in message


@given(st.lists(st.sampled_from(STATUSES), max_size=6))
def test_the_condition_never_passes_by_default(statuses: list[str]) -> None:
    checks = [result(f"c{i}", s) for i, s in enumerate(statuses)]
    status, _, message = aggregate(checks)
    assert status in (TRUE, FALSE, UNKNOWN)
    assert status == TRUE or "\n" not in message
    if status == TRUE:
        assert TRUE in statuses and FALSE not in statuses and UNKNOWN not in statuses
    if FALSE in statuses:
        assert status == FALSE


def test_check_results_refuse_unknown_statuses_and_keep_one_line() -> None:
    with pytest.raises(ValueError, match="not one of"):
        CheckResult(DNS_PROBES, "Maybe", "x")
    assert CheckResult(DNS_PROBES, TRUE, "a\nb   c").summary == "a b c"
    assert len(CheckResult(DNS_PROBES, TRUE, "x" * 5000).summary) <= 400


# --- the individual checks -------------------------------------------------------------------


def test_replicas_healthy_is_deferred_without_databases() -> None:
    # With pairs: tests/unit/test_database_health.py.
    assert C.replicas_healthy(topo()).status == DEFERRED


def test_dns_probes_pass_when_every_hostname_at_every_vantage_serves_the_new_group() -> None:
    clock = FakeClock()
    res = C.dns_probes(
        topo(),
        ("group-a",),
        ("group-b",),
        VANTAGES,
        [],
        dns_timeout=5,
        query=serving(B),
        clock=clock,
        sleep=clock.sleep,
    )
    assert res.status == TRUE, res.summary
    probes = res.data["probes"]
    # 2 app hostnames at PowerDNS, 1 svc hostname at BIND, all 3 at Unbound.
    assert len(probes) == 6
    assert {(p["vantage"], p["name"]) for p in probes} >= {
        ("powerdns", "www.app.example.test"),
        ("bind", "api.svc.example.test"),
        ("unbound", "api.svc.example.test"),
    }
    assert all(p["ok"] for p in probes)


def test_dns_probes_wait_for_a_cache_until_its_ttl_then_pass() -> None:
    clock = FakeClock()
    query = serving(B, stale_at={"unbound": A}, until=clock.t + 2.0, clock=clock)
    res = C.dns_probes(
        topo(ttl=3),
        ("group-a",),
        ("group-b",),
        VANTAGES,
        [],
        dns_timeout=5,
        query=query,
        clock=clock,
        sleep=clock.sleep,
    )
    assert res.status == TRUE, res.summary
    unbound = [p for p in res.data["probes"] if p["vantage"] == "unbound"]
    assert all(p["attempts"] > 1 and p["converged_after_s"] >= 2.0 for p in unbound)


def test_dns_probes_fail_naming_the_vantage_and_hostname_that_still_serve_the_old_group() -> None:
    clock = FakeClock()
    query = serving(B, stale_at={"unbound": A}, until=float("inf"), clock=clock)
    res = C.dns_probes(
        topo(ttl=3),
        ("group-a",),
        ("group-b",),
        VANTAGES,
        [],
        dns_timeout=5,
        query=query,
        clock=clock,
        sleep=clock.sleep,
    )
    assert res.status == FALSE
    assert "3 of 6 probes" in res.summary and "unbound" in res.summary and "group-b" in res.summary
    assert clock.t - 1000.0 >= 3 + 5  # waited the TTL plus the margin before giving up
    assert all("unbound" in d for d in res.details)


def test_dns_probes_without_vantages_or_with_an_uncovered_zone_are_unknown() -> None:
    clock = FakeClock()
    never = lambda *a: pytest.fail("no DNS question expected")  # noqa: E731
    none = C.dns_probes(
        topo(), ("group-a",), ("group-b",), [], ["no vantage"], dns_timeout=1, clock=clock, query=never
    )
    assert none.status == UNKNOWN and "no vantage" in none.summary
    partial = C.dns_probes(
        topo(),
        ("group-a",),
        ("group-b",),
        [PDNS],
        ["zone svc.example.test: no vantage covers it"],
        dns_timeout=1,
        query=serving(B),
        clock=clock,
        sleep=clock.sleep,
    )
    assert partial.status == UNKNOWN and "svc.example.test" in partial.summary


def test_probes_want_the_new_groups_targets_for_add_active_group() -> None:
    probes = C.planned_probes(topo(), ("group-a",), ("group-a", "group-b"), [PDNS])
    www = next(p for p in probes if p.name == "www.app.example.test")
    assert www.want == tuple(sorted(B))


def fake_http(codes: dict[str, int | None], millis: dict[str, float] | None = None):  # noqa: ANN201
    def get(url: str, timeout: float):  # noqa: ANN202
        host = url.split("//")[1].split(":")[0]
        code = codes.get(host, 200)
        ms = (millis or {}).get(host, 1.0)
        return code, ms, None if code is not None else "ConnectionError: refused"

    return get


def test_latency_normal_fails_naming_the_unhealthy_endpoint() -> None:
    targets = health_targets(topo(), ("group-b",))
    baseline = {t.url: {"median_ms": 1.0, "healthy": True} for t in targets}
    res = C.latency_normal(targets, baseline, LatencySettings(samples=3), get=fake_http({B[0]: 503}))
    assert res.status == FALSE
    assert f"target {B[0]}" in res.summary and "answered 503" in res.summary
    assert "www.app.example.test" in res.summary and "shop.app.example.test" in res.summary
    assert "group-b endpoint" in res.summary


def test_latency_normal_compares_with_the_baseline() -> None:
    targets = health_targets(topo(), ("group-b",))
    baseline = {t.url: {"median_ms": 10.0, "healthy": True} for t in targets}
    settings = LatencySettings(samples=3, factor=3.0, slack_ms=100.0)
    ok = C.latency_normal(targets, baseline, settings, get=fake_http({}, {B[0]: 100.0}))
    assert ok.status == TRUE, ok.summary
    slow = C.latency_normal(targets, baseline, settings, get=fake_http({}, {B[0]: 150.0}))
    assert slow.status == FALSE and B[0] in slow.summary and "above 110.0 ms" in slow.summary


def test_latency_normal_without_baseline_is_unknown_unless_something_fails() -> None:
    targets = health_targets(topo(), ("group-b",))
    assert C.latency_normal(targets, None, LatencySettings(samples=1), get=fake_http({})).status == UNKNOWN
    down = C.latency_normal(targets, None, LatencySettings(samples=1), get=fake_http({B[1]: None}))
    assert down.status == FALSE and "unreachable" in down.summary
    assert C.latency_normal([], None, LatencySettings(), get=fake_http({})).status == UNKNOWN


def update(version: int, message: str, result: str = "succeeded") -> SimpleNamespace:
    return SimpleNamespace(version=version, message=message, result=result)


def test_audit_posted_finds_the_switch_in_the_stack_history() -> None:
    msg = f"orchestrator switch {SWITCH_ID} plan={FP}: group-a -> group-b"
    res = C.audit_posted(SWITCH_ID, FP, lambda: [update(7, msg), update(6, "deploy")])
    assert res.status == TRUE and "v7" in res.summary
    missing = C.audit_posted(SWITCH_ID, FP, lambda: [update(6, "deploy")])
    assert missing.status == FALSE and SWITCH_ID in missing.summary
    failed = C.audit_posted(SWITCH_ID, FP, lambda: [update(7, msg, "failed")])
    assert failed.status == FALSE
    other = C.audit_posted(SWITCH_ID, "f" * 16, lambda: [update(7, msg)])
    assert other.status == FALSE and "journal records plan" in other.summary


def test_audit_posted_is_unknown_when_it_cannot_look() -> None:
    assert C.audit_posted(None, None, lambda: []).status == UNKNOWN

    def broken() -> list:
        raise RuntimeError("backend unreachable")

    res = C.audit_posted(SWITCH_ID, FP, broken)
    assert res.status == UNKNOWN and "backend unreachable" in res.summary


# --- the whole run ---------------------------------------------------------------------------


def deps(clock: FakeClock, http=None, history=None) -> Deps:  # noqa: ANN001
    msg = f"orchestrator switch {SWITCH_ID} plan={FP}: group-a -> group-b"
    return Deps(
        dns_query=serving(B),
        http_get=http or fake_http({}),
        history=history or (lambda root, stack: [update(3, msg)]),
        local_server=lambda role: None,
        clock=clock,
        sleep=clock.sleep,
    )


def run(tmp_path: Path, d: Deps, topology: Topology | None = None, **kw) -> HealthReport:  # noqa: ANN003
    from orchestrator.services.health.config import HealthConfig

    return run_checks(
        tmp_path,
        "e2e",
        topology=topology or topo(),
        from_groups=("group-a",),
        to_groups=("group-b",),
        switch_id=SWITCH_ID,
        fingerprint=FP,
        config=HealthConfig(vantages=tuple(VANTAGES), latency=LatencySettings(samples=1)),
        deps=d,
        **kw,
    )


def test_run_checks_in_the_fixed_order_keeps_the_report_and_its_transition_time(tmp_path: Path) -> None:
    from orchestrator.adapters.files.health_store import save_baseline

    save_baseline(
        tmp_path,
        SWITCH_ID,
        {"urls": {t.url: {"median_ms": 1.0} for t in health_targets(topo(), ("group-b",))}},
    )
    clock = FakeClock()
    assert condition_for(tmp_path, "e2e") == NO_REPORT
    first = run(tmp_path, deps(clock))
    assert [c.name for c in first.checks] == list(CHECKS)
    assert [c.status for c in first.checks] == [DEFERRED, TRUE, TRUE, TRUE]
    assert first.condition.status == TRUE and first.condition.switch_id == SWITCH_ID
    kept = load_report(tmp_path, "e2e")
    assert kept == first and condition_for(tmp_path, "e2e") == first.condition
    again = run(tmp_path, deps(clock))
    assert again.condition.last_transition_time == first.condition.last_transition_time
    bad = run(tmp_path, deps(clock, http=fake_http({B[0]: 503})))
    assert bad.condition.status == FALSE and B[0] in bad.condition.message
    assert bad.condition.last_transition_time == bad.finished_at
    doc = json.loads((tmp_path / ".orchestrator" / "health" / "e2e.json").read_text())
    assert HealthReport.from_dict(doc) == bad


def test_a_check_that_crashes_is_unknown_never_a_pass(tmp_path: Path) -> None:
    def explode(url: str, timeout: float):  # noqa: ANN202
        raise RuntimeError("boom")

    report = run(tmp_path, deps(FakeClock(), http=explode), save=False)
    assert report.check(LATENCY_NORMAL).status == UNKNOWN and "boom" in report.check(LATENCY_NORMAL).summary
    assert not (tmp_path / ".orchestrator").exists()


def test_verify_switch_fails_the_step_on_false_and_waits_the_delay(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    from orchestrator.services.switch import verify as V

    (tmp_path / "stacks").mkdir()
    (tmp_path / "stacks" / "Pulumi.e2e.yaml").write_text(
        "config:\n  orchestrator:topology: {}\n  orchestrator:health:\n    verifyDelay: 0\n"
        "    vantages: [{name: powerdns, address: 127.0.0.1, port: 5300, zones: [app.example.test]}]\n"
    )
    record = SimpleNamespace(id=SWITCH_ID, from_groups=("group-a",), to_groups=("group-b",), fingerprint=FP)
    slept: list[float] = []
    monkeypatch.setenv(VERIFY_DELAY_ENV, "7")
    lines: list[str] = []
    with pytest.raises(V.HealthCheckFailed) as err:
        V.verify_switch(
            tmp_path,
            "e2e",
            record,
            topo(),
            lines.append,
            deps=deps(FakeClock(), http=fake_http({B[0]: 503})),
            sleep=slept.append,
        )
    assert slept == [7.0]
    assert "latency-normal" in err.value.why and B[0] in err.value.why and "--rollback" in err.value.fix
    assert any("LastSwitchoverHealthy=False" in line for line in lines)
    assert condition_for(tmp_path, "e2e").status == FALSE


# --- configuration ---------------------------------------------------------------------------


def test_health_config_defaults_and_overrides() -> None:
    cfg = parse_health_config(None)
    assert cfg.verify_delay == 0 and cfg.vantages is None and cfg.latency.samples == 3
    cfg = parse_health_config(
        {
            "verifyDelay": 12,
            "resolverTimeout": 40,
            "vantages": [{"name": "ns1", "address": "192.0.2.53", "zones": ["App.Example.COM."]}],
            "latency": {"samples": 5, "factor": 2, "slackMs": 50},
        }
    )
    assert cfg.verify_delay == 12 and cfg.resolver_timeout == 40
    assert cfg.vantages == (Vantage("ns1", "192.0.2.53", 53, False, ("app.example.com",)),)
    assert (cfg.latency.samples, cfg.latency.factor, cfg.latency.slack_ms) == (5, 2.0, 50.0)


@pytest.mark.parametrize(
    "raw,key",
    [
        ({"verifyDelay": -1}, "orchestrator:health.verifyDelay"),
        ({"verifyDelay": "soon"}, "orchestrator:health.verifyDelay"),
        ({"bogus": 1}, "orchestrator:health.bogus"),
        ({"vantages": []}, "orchestrator:health.vantages"),
        ({"vantages": [{"name": "x"}]}, "orchestrator:health.vantages[0]"),
        ({"vantages": [{"name": "x", "address": "y", "port": 0}]}, "orchestrator:health.vantages[0].port"),
        ({"latency": {"samples": 0}}, "orchestrator:health.latency.samples"),
        ("nope", "orchestrator:health"),
    ],
)
def test_bad_health_config_names_the_key(raw, key) -> None:  # noqa: ANN001
    with pytest.raises(ConfigError) as err:
        parse_health_config(raw)
    assert err.value.key == key and err.value.fix


def test_verify_delay_env_wins_and_bad_values_are_refused() -> None:
    cfg = parse_health_config({"verifyDelay": 5})
    assert verify_delay(cfg, {}) == 5
    assert verify_delay(cfg, {VERIFY_DELAY_ENV: "1.5"}) == 1.5
    for bad in ("-1", "nan", "inf", "soon", "99999"):
        with pytest.raises(UsageError, match="not a delay"):
            verify_delay(cfg, {VERIFY_DELAY_ENV: bad})
    with pytest.raises(UsageError, match="--verify-delay"):
        parse_delay("x", "--verify-delay")


# --- vantages --------------------------------------------------------------------------------


def local_servers(unbound_running: bool = True):  # noqa: ANN201
    servers = {
        "powerdns": {"role": "powerdns", "address": "127.0.0.1", "port": 5300, "running": True},
        "bind": {"role": "bind", "address": "127.0.0.1", "port": 5301, "running": True},
        "unbound": {"role": "unbound", "address": "127.0.0.1", "port": 5302, "running": unbound_running},
    }
    return servers.get


def test_local_default_vantages_are_each_authoritative_server_and_unbound() -> None:
    assert local_vantages(topo(), local_servers()) == VANTAGES
    without = local_vantages(topo(), local_servers(unbound_running=False))
    assert [v.name for v in without] == ["powerdns", "bind"]


def test_a_zone_without_vantage_is_reported() -> None:
    from orchestrator.services.health.config import HealthConfig

    vantages, problems = vantages_for(topo(), HealthConfig(), server=lambda role: None)
    assert vantages == []
    assert any("app.example.test" in p for p in problems) and any("svc.example.test" in p for p in problems)


def test_production_defaults_are_the_zone_name_servers_and_the_host_resolvers(tmp_path: Path) -> None:
    raw = {
        "zones": [
            {"name": "example.com", "provider": "route53", "settings": {}},
            {
                "name": "corp.example.net",
                "provider": "rfc2136",
                "settings": {"address": "192.0.2.1", "port": 5353, "tsigKeyName": "k"},
            },
            {"name": "lost.example.org", "provider": "cloudflare", "settings": {}},
        ],
        "groups": {"g1": {"endpoints": {"www.example.com": {"a": ["192.0.2.10"]}}}},
    }
    t = load_topology(raw)

    def discover(zone: str) -> list[tuple[str, str]]:
        if zone == "lost.example.org":
            raise OSError("SERVFAIL")
        return [("ns-1.awsdns.example", "198.51.100.1")]

    vantages, problems = production_vantages(t, resolvers=["10.0.0.53"], discover=discover)
    by_name = {v.name: v for v in vantages}
    assert by_name["ns:ns-1.awsdns.example"].zones == ("example.com",)
    assert by_name["rfc2136:corp.example.net"] == Vantage(
        "rfc2136:corp.example.net", "192.0.2.1", 5353, False, ("corp.example.net",)
    )
    assert by_name["resolver:10.0.0.53"].recursive
    assert problems == ["zone lost.example.org: its name servers could not be looked up (SERVFAIL)"]
    resolv = tmp_path / "resolv.conf"
    resolv.write_text("# x\nnameserver 10.1.1.1\nsearch example\nnameserver 10.1.1.2 # two\n")
    assert system_resolvers(resolv) == ["10.1.1.1", "10.1.1.2"]


# --- the command line ------------------------------------------------------------------------


def test_cli_verify_delay_flag_is_validated_and_handed_to_verify(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    import os

    from click.testing import CliRunner

    from orchestrator.interfaces.cli.main import main

    monkeypatch.setenv(VERIFY_DELAY_ENV, "0")  # restored after the test
    monkeypatch.setenv("ORCHESTRATOR_ROOT", str(tmp_path))  # no Pulumi.yaml: stops before any work
    bad = CliRunner().invoke(main, ["switch", "--to", "group-b", "--verify-delay", "soon"])
    assert bad.exit_code == 2 and "not a delay" in bad.output and "--verify-delay" in bad.output
    ok = CliRunner().invoke(main, ["switch", "--to", "group-b", "--verify-delay", "12.5", "--dry-run"])
    assert ok.exit_code == 2 and "Pulumi.yaml" in ok.output  # got past the flag
    assert os.environ[VERIFY_DELAY_ENV] == "12.5"


def test_cli_health_last_without_a_report_and_serve_without_a_token(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    from click.testing import CliRunner

    from orchestrator.interfaces.cli.main import main

    (tmp_path / "Pulumi.yaml").write_text("name: orchestrator\n")
    (tmp_path / "stacks").mkdir()
    monkeypatch.setenv("ORCHESTRATOR_ROOT", str(tmp_path))
    monkeypatch.delenv("ORCHESTRATOR_API_TOKEN", raising=False)
    monkeypatch.delenv("ORCHESTRATOR_API_TOKEN_FILE", raising=False)
    last = CliRunner().invoke(main, ["health", "--stack", "e2e", "--last"])
    assert last.exit_code == 0 and "No health report" in last.output
    serve = CliRunner().invoke(main, ["serve", "--stack", "e2e"])
    assert serve.exit_code == 2 and "no API token" in serve.output
