"""The policy pack's checks (orchestrator.domain.policies), as plain functions: no engine, no servers.

The stacks checked here are the program's own output (orchestrator.domain.desired), then
edited into each violation: what passes and what is refused, with the message naming why.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from orchestrator.domain import policies as dp
from orchestrator.domain.desired import desired_state
from orchestrator.domain.kuadrant import registry_txt_value
from orchestrator.domain.topology import Topology, load_topology
from orchestrator.services import policies as orch_policies

REPO = Path(__file__).resolve().parents[2]
APP, SVC = "app.example.test", "svc.example.test"
NOW = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)


def _load_pack():
    spec = importlib.util.spec_from_file_location("failover_policy_pack", REPO / "policy" / "__main__.py")
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)  # not __main__: the PolicyPack server does not start
    return module


pack = _load_pack()


def topology(extra_app_hosts: int = 0, ttl: int = 30, only_a: tuple[str, ...] = ()) -> Topology:
    health = {"port": 18080, "path": "/healthz"}
    a = {
        "www.app.example.test": {"a": ["127.0.10.1", "127.0.10.2"], "health": health},
        "shop.app.example.test": {"a": ["127.0.10.1"], "health": health},
        "api.svc.example.test": {"a": ["127.0.10.2"], "health": health},
    }
    b = {
        "www.app.example.test": {"a": ["127.0.20.1", "127.0.20.2"], "health": health},
        "shop.app.example.test": {"a": ["127.0.20.1"], "health": health},
        "api.svc.example.test": {"a": ["127.0.20.2"], "health": health},
    }
    for i in range(extra_app_hosts):
        a[f"h{i}.app.example.test"] = {"a": [f"127.0.11.{i + 1}"], "health": health}
        b[f"h{i}.app.example.test"] = {"a": [f"127.0.21.{i + 1}"], "health": health}
    for host in only_a:
        a[host] = {"a": ["127.0.10.9"], "health": health}
    return load_topology(
        {
            "ttl": ttl,
            "zones": [{"name": APP, "provider": "powerdns"}, {"name": SVC, "provider": "rfc2136"}],
            "groups": {"group-a": {"endpoints": a}, "group-b": {"endpoints": b}},
        }
    )


def records(topo: Topology, active: list[str]) -> tuple[Any, ...]:
    return tuple(
        dp.record_set(r.zone, r.name, r.type, r.values, r.ttl, urn=f"urn:{r.key}")
        for r in desired_state(topo, active).all()
    )


def view(topo: Topology, active: list[str]) -> Any:
    return dp.StackView(records(topo, active))


def before(topo: Topology, active: list[str]) -> list[dict[str, Any]]:
    return [
        {"zone": r.zone, "name": r.name, "type": r.type, "ttl": r.ttl, "values": list(r.values)}
        for r in desired_state(topo, active).all()
    ]


def edit(v: Any, key: str, **changes: Any) -> Any:
    """The view with one record set changed (values=None removes it)."""
    out = []
    for r in v.records:
        if r.key != key:
            out.append(r)
        elif changes.get("values", ()) is not None:
            out.append(replace(r, **changes))
    assert len(out) != len(v.records) or any(r.key == key for r in v.records), key
    return dp.StackView(tuple(out), v.databases)


def healthy_measurement(topo: Topology, groups: list[str], status: int = 200, at: datetime = NOW) -> dict:
    checks = {
        g.name: [
            {"hostname": ep.hostname, "target": t, "url": url, "status": status}
            for ep in g.endpoints
            for t, url in ep.health_urls()
        ]
        for g in topo.groups
        if g.name in groups
    }
    return {"measuredAt": at.isoformat(), "groups": {g: {"checks": c} for g, c in checks.items()}}


def messages(findings: list[Any]) -> str:
    return " | ".join(f.message for f in findings)


def all_findings(v: Any, config: dict[str, dict]) -> dict[str, list[Any]]:
    out = {}
    for spec in pack.POLICIES:
        cfg = config.get(spec.name, {})
        if spec.name == "target-group-healthy":
            out[spec.name] = spec.check(v, cfg, now=NOW)
        else:
            out[spec.name] = spec.check(v, cfg)
    return out


# --- the program's own output passes --------------------------------------------------------------


def test_a_deployed_stack_that_stays_as_it_is_passes_every_policy():
    topo = topology()
    cfg = {
        "no-empty-hostname": {"before": before(topo, ["group-a"]), "topologyHostnames": topo.hostnames()},
        "blast-radius": {"before": before(topo, ["group-a"])},
        "target-group-healthy": {"activeBefore": ["group-a"]},  # nothing activated: no measurement needed
    }
    assert all_findings(view(topo, ["group-a"]), cfg) == {name: [] for name in dp.POLICY_NAMES}


@pytest.mark.parametrize(
    "old,new",
    [
        (["group-a"], ["group-b"]),
        (["group-a"], ["group-a", "group-b"]),
        (["group-a", "group-b"], ["group-b"]),
    ],
    ids=["switch", "add", "remove"],
)
def test_the_normal_switch_passes_every_policy_with_the_default_thresholds(old, new):
    """Every hostname record set changes in a switch: moves between groups are not blast radius."""
    topo = topology(extra_app_hosts=12)
    limits = pack.load_thresholds()
    cfg = {
        "no-empty-hostname": {"before": before(topo, old), "topologyHostnames": topo.hostnames()},
        "blast-radius": dict(limits["blast-radius"], before=before(topo, old)),
        "target-group-healthy": dict(
            limits["target-group-healthy"],
            activeBefore=old,
            measurement=healthy_measurement(topo, sorted(set(new) - set(old)), at=NOW - timedelta(seconds=5)),
        ),
    }
    assert all_findings(view(topo, new), cfg) == {name: [] for name in dp.POLICY_NAMES}


# --- at-least-one-active-group --------------------------------------------------------------------


@pytest.mark.parametrize(
    "value,needle",
    [
        ("version=1", "would list no group"),
        ("version=1;groups=", "would list no group"),
        ("version=2;groups=group-a", "unreadable"),
    ],
)
def test_at_least_one_active_group_refuses_an_empty_or_unreadable_list(value, needle):
    v = edit(view(topology(), ["group-a"]), f"{APP}/kuadrant-active-groups.{APP}/TXT", values=(value,))
    found = dp.at_least_one_active_group(v, {})
    assert len(found) == 1 and needle in found[0].message
    assert found[0].urn == f"urn:{APP}/kuadrant-active-groups.{APP}/TXT"


def test_at_least_one_active_group_refuses_a_zone_with_hostnames_but_no_active_groups_record():
    v = edit(view(topology(), ["group-a"]), f"{SVC}/kuadrant-active-groups.{SVC}/TXT", values=None)
    assert "zone svc.example.test publishes hostnames" in messages(dp.at_least_one_active_group(v, {}))


# --- no-empty-hostname ----------------------------------------------------------------------------


def test_no_empty_hostname_refuses_a_record_set_without_targets():
    v = edit(view(topology(), ["group-a"]), f"{APP}/www.app.example.test/A", values=())
    found = dp.no_empty_hostname(v, {"before": before(topology(), ["group-a"])})
    assert [f.message for f in found] == ["www.app.example.test A would have no targets"]


def test_no_empty_hostname_refuses_a_switch_that_drops_a_hostname_only_the_old_group_publishes():
    topo = topology(only_a=("legacy.app.example.test",))
    cfg = {"before": before(topo, ["group-a"]), "topologyHostnames": topo.hostnames()}
    found = dp.no_empty_hostname(view(topo, ["group-b"]), cfg)
    assert len(found) == 1
    assert "legacy.app.example.test is published now (A 127.0.10.9) and would be left with no targets" in (
        found[0].message
    )
    # Adding the other group instead keeps it published: compliant.
    assert dp.no_empty_hostname(view(topo, ["group-a", "group-b"]), cfg) == []


def test_no_empty_hostname_lets_a_hostname_retired_from_the_topology_go():
    with_legacy = topology(only_a=("legacy.app.example.test",))
    without = topology()
    cfg = {"before": before(with_legacy, ["group-a"]), "topologyHostnames": without.hostnames()}
    assert dp.no_empty_hostname(view(without, ["group-a"]), cfg) == []
    # Without the topology's hostnames every published hostname counts (strict).
    assert dp.no_empty_hostname(view(without, ["group-a"]), {"before": cfg["before"]}) != []


def test_no_empty_hostname_without_the_state_before_is_a_violation_not_a_pass():
    found = dp.no_empty_hostname(view(topology(), ["group-a"]), {})
    assert (
        len(found) == 1
        and "were not given" in found[0].message
        and "orchestrator.services.policies" in found[0].message
    )


# --- registry-consistent --------------------------------------------------------------------------


def _registry_key(group: str, host: str) -> str:
    hashes = {"group-a": "d68s2bp8", "group-b": "xos7jddv"}
    zone = APP if host.endswith(APP) else SVC
    return f"{zone}/kuadrant-{hashes[group]}-a-{host}/TXT"


def test_registry_consistent_passes_the_programs_own_registry_in_every_active_set():
    topo = topology()
    for active in (["group-a"], ["group-b"], ["group-a", "group-b"]):
        assert dp.registry_consistent(view(topo, active), {}) == []


def test_registry_entry_claiming_targets_the_record_set_does_not_serve_is_refused():
    key = _registry_key("group-a", "www.app.example.test")
    v = edit(
        view(topology(), ["group-a"]), key, values=(registry_txt_value("group-a", "group-a", ["10.9.9.9"]),)
    )
    text = messages(dp.registry_consistent(v, {}))
    assert "says group 'group-a' publishes 10.9.9.9 for www.app.example.test A" in text
    assert "would serve 127.0.10.1, 127.0.10.2" in text
    assert "which no registry entry owns" in text  # the converse: the real targets lost their owner


def test_registry_entry_naming_an_inactive_group_is_stale_and_refused():
    key = _registry_key("group-a", "shop.app.example.test")
    v = edit(
        view(topology(), ["group-a"]), key, values=(registry_txt_value("group-b", "group-a", ["127.0.10.1"]),)
    )
    assert "names group 'group-b', which would not be active" in messages(dp.registry_consistent(v, {}))


def test_registry_entry_for_a_hostname_that_is_not_published_is_refused():
    v = edit(view(topology(), ["group-a"]), f"{SVC}/api.svc.example.test/A", values=None)
    assert "describes api.svc.example.test A, which would not be published" in messages(
        dp.registry_consistent(v, {})
    )


def test_registry_entry_whose_name_hash_is_not_its_owner_is_refused():
    key = _registry_key("group-a", "shop.app.example.test")
    forged = registry_txt_value("group-a", "someone-else", ["127.0.10.1"])
    v = edit(view(topology(), ["group-a"]), key, values=(forged,))
    assert "is not the hash of its owner 'someone-else'" in messages(dp.registry_consistent(v, {}))


# --- target-group-healthy -------------------------------------------------------------------------


def _health_cfg(topo: Topology, **extra: Any) -> dict[str, Any]:
    return {"activeBefore": ["group-a"], "minHealthyEndpoints": 1, "maxMeasurementAgeSeconds": 300, **extra}


def test_target_group_healthy_without_a_measurement_is_a_violation_never_a_pass():
    topo = topology()
    found = dp.target_group_healthy(view(topo, ["group-b"]), _health_cfg(topo), now=NOW)
    assert len(found) == 1 and "no health measurement of group-b" in found[0].message
    # Without the active groups before, every active group counts as being activated.
    found = dp.target_group_healthy(view(topo, ["group-a"]), {}, now=NOW)
    assert "no health measurement of group-a" in found[0].message and "every active group counts" in (
        found[0].message
    )


def test_target_group_healthy_passes_when_nothing_is_activated_even_without_a_measurement():
    topo = topology()
    assert dp.target_group_healthy(view(topo, ["group-a"]), _health_cfg(topo), now=NOW) == []
    # Removing a group activates none.
    cfg = _health_cfg(topo, activeBefore=["group-a", "group-b"])
    assert dp.target_group_healthy(view(topo, ["group-b"]), cfg, now=NOW) == []


def test_target_group_healthy_refuses_a_group_whose_endpoints_all_fail():
    topo = topology()
    cfg = _health_cfg(topo, measurement=healthy_measurement(topo, ["group-b"], status=503))
    found = dp.target_group_healthy(view(topo, ["group-b"]), cfg, now=NOW)
    assert len(found) == 1
    assert "group group-b is being activated with 0 healthy endpoint(s) of 3; at least 1 required" in (
        found[0].message
    )
    assert "http://127.0.20.1:18080/healthz answered 503" in found[0].message
    cfg["measurement"] = healthy_measurement(topo, ["group-b"])
    assert dp.target_group_healthy(view(topo, ["group-b"]), cfg, now=NOW) == []


def test_target_group_healthy_counts_endpoints_against_n():
    topo = topology()
    m = healthy_measurement(topo, ["group-b"])
    for check in m["groups"]["group-b"]["checks"]:
        if check["hostname"] != "api.svc.example.test":
            check["status"] = 500  # www and shop fail; api is healthy
    assert dp.target_group_healthy(view(topo, ["group-b"]), _health_cfg(topo, measurement=m), now=NOW) == []
    found = dp.target_group_healthy(
        view(topo, ["group-b"]), _health_cfg(topo, measurement=m, minHealthyEndpoints=2.0), now=NOW
    )
    assert "1 healthy endpoint(s) of 3; at least 2 required" in found[0].message


def test_an_endpoint_with_an_unmeasured_target_is_not_healthy():
    topo = topology()
    m = healthy_measurement(topo, ["group-b"])
    m["groups"]["group-b"]["checks"] = [
        c for c in m["groups"]["group-b"]["checks"] if c["target"] != "127.0.20.2"
    ]
    cfg = _health_cfg(topo, measurement=m, minHealthyEndpoints=3)
    found = dp.target_group_healthy(view(topo, ["group-b"]), cfg, now=NOW)
    assert "127.0.20.2 not measured" in found[0].message and "1 healthy endpoint(s) of 3" in found[0].message


def test_target_group_healthy_refuses_a_stale_or_foreign_measurement():
    topo = topology()
    stale = healthy_measurement(topo, ["group-b"], at=NOW - timedelta(seconds=301))
    found = dp.target_group_healthy(view(topo, ["group-b"]), _health_cfg(topo, measurement=stale), now=NOW)
    assert "older than 300s" in found[0].message
    other = healthy_measurement(topo, ["group-a"])
    found = dp.target_group_healthy(view(topo, ["group-b"]), _health_cfg(topo, measurement=other), now=NOW)
    assert "group group-b is being activated but was not measured" in found[0].message


# --- blast-radius ---------------------------------------------------------------------------------


def _blast(topo_before: Topology, old: list[str], topo_after: Topology, new: list[str], **limits: Any):
    cfg = {"maxChangedPercent": 20, "alwaysAllowedChanges": 1, "before": before(topo_before, old), **limits}
    return dp.blast_radius(view(topo_after, new), cfg)


def _reip(topo_cfg_hosts: int, count: int) -> Topology:
    """group-a's targets of `count` app hostnames edited (a migration, not a group move)."""
    topo = topology(extra_app_hosts=topo_cfg_hosts)
    groups = []
    for g in topo.groups:
        eps = []
        for ep in g.endpoints:
            if (
                g.name == "group-a"
                and ep.hostname.startswith("h")
                and int(ep.hostname[1:].split(".")[0]) < count
            ):
                ep = replace(ep, a=(ep.a[0].replace("127.0.11.", "127.0.12."),))
            eps.append(ep)
        groups.append(replace(g, endpoints=tuple(eps)))
    return replace(topo, groups=tuple(groups))


def test_blast_radius_refuses_rewriting_most_of_a_zone_in_one_update():
    old = topology(extra_app_hosts=12)  # app zone: 14 hostname record sets -> at most 2 may change
    found = _blast(old, ["group-a"], _reip(12, 10), ["group-a"])
    assert len(found) == 1
    assert (
        "zone app.example.test: this update changes or deletes 10 of its 14 hostname record sets (71%)"
        in (found[0].message)
    )
    assert "at most 2 may (20%, never fewer than 1)" in found[0].message
    assert _blast(old, ["group-a"], _reip(12, 2), ["group-a"]) == []  # 2 of 14: within 20 %
    assert _blast(old, ["group-a"], _reip(12, 3), ["group-a"]) != []


def test_blast_radius_counts_edits_hidden_inside_a_switch_but_not_the_switch():
    old = topology(extra_app_hosts=12)
    assert _blast(old, ["group-a"], old, ["group-a", "group-b"]) == []
    # group-a stays active and its targets change at the same time: those edits count.
    found = _blast(old, ["group-a"], _reip(12, 10), ["group-a", "group-b"])
    assert "changes or deletes 10 of its 14" in messages(found)


def test_blast_radius_always_allows_one_change_in_a_small_zone():
    topo = topology()  # app zone: www and shop
    one = load_topology(
        {
            "ttl": 30,
            "zones": [{"name": APP, "provider": "powerdns"}, {"name": SVC, "provider": "rfc2136"}],
            "groups": {
                "group-a": {
                    "endpoints": {
                        "www.app.example.test": {"a": ["127.0.10.3"]},
                        "shop.app.example.test": {"a": ["127.0.10.1"]},
                        "api.svc.example.test": {"a": ["127.0.10.2"]},
                    }
                },
            },
        }
    )
    assert _blast(topo, ["group-a"], one, ["group-a"]) == []
    assert _blast(topo, ["group-a"], one, ["group-a"], alwaysAllowedChanges=0) != []


def test_blast_radius_counts_deletes_and_ignores_creates_and_ttl_changes():
    old = topology(extra_app_hosts=12)
    fewer = topology(extra_app_hosts=2)  # 10 hostnames retired from the topology at once
    assert "changes or deletes 10 of its 14" in messages(_blast(old, ["group-a"], fewer, ["group-a"]))
    assert _blast(fewer, ["group-a"], old, ["group-a"]) == []  # 10 new hostnames: creates
    assert _blast(old, ["group-a"], topology(extra_app_hosts=12, ttl=10), ["group-a"]) == []


def test_blast_radius_without_the_state_before_is_a_violation_not_a_pass():
    found = dp.blast_radius(view(topology(), ["group-a"]), {"maxChangedPercent": 20})
    assert len(found) == 1 and "were not given" in found[0].message


# --- single-primary -------------------------------------------------------------------------------


def _dbs(*clusters: tuple[str, str, bool]) -> tuple[Any, ...]:
    return tuple(
        dp.DatabaseCluster(pair, group, primary, urn=f"urn:{pair}:{group}")
        for pair, group, primary in clusters
    )


@pytest.mark.parametrize(
    "clusters,needle",
    [
        ((), None),
        ((("orders", "group-a", True), ("orders", "group-b", False)), None),
        ((("orders", "group-a", True), ("orders", "group-b", True)), "would have 2 primaries"),
        ((("orders", "group-a", False), ("orders", "group-b", False)), "would have 0 primaries"),
        ((("orders", "group-a", False), ("orders", "group-b", True)), "primary would be in group group-b"),
    ],
    ids=["no-pairs", "one-primary-active", "two-primaries", "no-primary", "primary-inactive"],
)
def test_single_primary(clusters, needle):
    v = replace(view(topology(), ["group-a"]), databases=_dbs(*clusters))
    found = dp.single_primary(v, {})
    if needle is None:
        assert found == []
    else:
        assert len(found) == 1 and needle in found[0].message


def test_database_clusters_are_read_from_both_contracts():
    local = dp.database_of(
        "pulumi-python:dynamic:Resource", {"databasePair": "orders", "group": "g", "primary": True}, "u"
    )
    assert local == dp.DatabaseCluster("orders", "g", True, "u")
    labels = {"orchestrator/database-pair": "orders", "orchestrator/group": "group-b"}
    cnpg = {"metadata": {"labels": labels}, "spec": {"replica": {"primary": "pg-a", "self": "pg-b"}}}
    assert dp.database_of(dp.CNPG_CLUSTER_TYPE, cnpg, None).primary is False
    cnpg["spec"]["replica"]["primary"] = "pg-b"
    assert dp.database_of(dp.CNPG_CLUSTER_TYPE, cnpg, None).primary is True
    assert dp.database_of(dp.CNPG_CLUSTER_TYPE, {"metadata": {}}, None) is None


# --- ttl-ceiling ----------------------------------------------------------------------------------


def test_ttl_ceiling_names_each_hostname_record_set_above_t():
    assert dp.ttl_ceiling(view(topology(ttl=60), ["group-a"]), {"maxTtlSeconds": 60}) == []
    found = dp.ttl_ceiling(view(topology(ttl=3600), ["group-a"]), {"maxTtlSeconds": 60.0})
    assert sorted(f.message.split(" has")[0] for f in found) == [
        "api.svc.example.test A",
        "shop.app.example.test A",
        "www.app.example.test A",
    ]
    assert "TTL 3600s, above 60s" in found[0].message and found[0].urn


# --- the pack's wiring ----------------------------------------------------------------------------


def _resource(rtype: str, name: str, props: dict[str, Any]) -> SimpleNamespace:
    from pulumi_policy.proxy import unknown_checking_proxy

    return SimpleNamespace(
        resource_type=rtype, name=name, urn=f"urn::{name}", props=unknown_checking_proxy(props)
    )


def test_view_of_reads_record_sets_and_skips_what_the_update_deletes():
    rec = {"zone": APP, "name": "www.app.example.test", "type": "a", "ttl": 30.0, "values": ["127.0.10.1"]}
    resources = [
        _resource("pulumi:pulumi:Stack", "stack", {"recordSets": [f"{APP}/www.app.example.test/A"]}),
        _resource("pulumi-python:dynamic:Resource", f"{APP}/www.app.example.test/A", rec),
        _resource(
            "pulumi-python:dynamic:Resource",
            f"{APP}/old.app.example.test/A",
            dict(rec, name="old.app.example.test"),
        ),
    ]
    v = dp.view_of(resources)
    assert [(r.name, r.type, r.ttl, r.values) for r in v.records] == [
        ("www.app.example.test", "A", 30, ("127.0.10.1",))
    ]
    # Without the program's export every record set counts.
    assert len(dp.view_of(resources[1:]).records) == 2


def test_a_value_unknown_during_preview_is_a_violation_not_a_silent_pass():
    from pulumi_policy.proxy import UNKNOWN_ARRAY_VALUE

    resources = [
        _resource(
            "pulumi-python:dynamic:Resource",
            "x",
            {"zone": APP, "name": "www.app.example.test", "type": "A", "values": UNKNOWN_ARRAY_VALUE},
        )
    ]
    reported: list[tuple] = []
    args = SimpleNamespace(resources=resources, get_config=lambda: {})
    validate = pack._validator(pack.POLICIES[0])
    validate(args, lambda message, urn=None: reported.append((message, urn)))
    assert len(reported) == 1 and "cannot check this update" in reported[0][0]


def test_config_json_levels_thresholds_and_policy_names():
    limits = json.loads((REPO / "policy" / "config.json").read_text())
    assert set(limits) == set(dp.POLICY_NAMES)
    assert dp.POLICY_NAMES == orch_policies.POLICY_NAMES
    levels = {name: cfg["enforcementLevel"] for name, cfg in limits.items()}
    assert {n for n, lvl in levels.items() if lvl == "advisory"} == {"ttl-ceiling"}
    assert {lvl for lvl in levels.values()} == {"mandatory", "advisory"}


def test_built_policies_carry_the_levels_and_use_the_thresholds_as_schema_defaults():
    from pulumi_policy import EnforcementLevel

    built = {p.name: p for p in pack.build_policies(pack.load_thresholds())}
    assert list(built) == list(dp.POLICY_NAMES)
    assert built["blast-radius"].enforcement_level == EnforcementLevel.MANDATORY
    assert built["ttl-ceiling"].enforcement_level == EnforcementLevel.ADVISORY
    assert built["blast-radius"].config_schema.properties["maxChangedPercent"]["default"] == 20
    assert built["ttl-ceiling"].config_schema.properties["maxTtlSeconds"]["default"] == 60
    assert "enforcementLevel" not in built["blast-radius"].config_schema.properties


# --- replica-caught-up ----------------------------------------------------------------------------


def _replication(standby: dict[str, Any], primaries: list[str] | None = None, age_s: float = 1.0) -> dict:
    cluster = {"group": "group-b", "reachable": True, "role": "standby", "receiver_up": True, "lag_bytes": 0}
    return {
        "measuredAt": (NOW - timedelta(seconds=age_s)).isoformat().replace("+00:00", "Z"),
        "pairs": {
            "orders": {
                "primaries": ["group-a"] if primaries is None else primaries,
                "clusters": {
                    "group-a": {"group": "group-a", "reachable": True, "role": "primary"},
                    "group-b": cluster | standby,
                },
            }
        },
    }


MOVE_TO_B = (("orders", "group-a", False), ("orders", "group-b", True))
LIMITS = {"maxLagBytes": 1000, "maxLagSeconds": 30}


@pytest.mark.parametrize(
    "standby,primaries,needle",
    [
        ({}, None, None),
        ({"lag_bytes": 5000, "lag_seconds": 2.5, "replay_paused": True}, None, "lags 5000 bytes / 2.5s"),
        ({"lag_bytes": 10, "lag_seconds": 45.0}, None, "lags 10 bytes / 45.0s"),
        ({"receiver_up": False, "lag_bytes": 0}, None, "WAL receiver down"),
        ({"reachable": False, "role": "unreachable", "error": "refused"}, None, "does not answer"),
        ({"role": "fenced"}, None, "is fenced"),
        ({"lag_bytes": None}, None, "lag unknown"),
        ({}, [], "has no live primary"),
        ({"role": "unmeasured", "reachable": False, "error": "CNPG"}, None, "cannot be measured"),
    ],
    ids=[
        "caught-up",
        "bytes",
        "seconds",
        "receiver-down",
        "unreachable",
        "fenced",
        "unknown",
        "no-primary",
        "cnpg",
    ],
)
def test_replica_caught_up(standby, primaries, needle):
    v = replace(view(topology(), ["group-b"]), databases=_dbs(*MOVE_TO_B))
    found = dp.replica_caught_up(v, LIMITS | {"replication": _replication(standby, primaries)}, now=NOW)
    if needle is None:
        assert found == []
    else:
        assert len(found) == 1 and needle in found[0].message, found
        assert found[0].urn == "urn:orders:group-b"


def test_replica_caught_up_names_the_lag_and_the_limits():
    v = replace(view(topology(), ["group-b"]), databases=_dbs(*MOVE_TO_B))
    cfg = LIMITS | {
        "replication": _replication({"lag_bytes": 5000, "lag_seconds": 1.0, "replay_paused": True})
    }
    (finding,) = dp.replica_caught_up(v, cfg, now=NOW)
    assert "group-b lags 5000 bytes" in finding.message
    assert "max 1000 bytes, 30s" in finding.message and "replay paused" in finding.message


def test_replica_caught_up_without_a_measurement_is_a_violation_not_a_pass():
    v = replace(view(topology(), ["group-b"]), databases=_dbs(*MOVE_TO_B))
    assert "no replication measurement" in dp.replica_caught_up(v, LIMITS, now=NOW)[0].message
    stale = LIMITS | {"replication": _replication({}, age_s=900)}
    assert "older than" in dp.replica_caught_up(v, stale, now=NOW)[0].message


def test_replica_caught_up_passes_when_the_primary_stays_and_in_failover_mode():
    stays = replace(
        view(topology(), ["group-a"]),
        databases=_dbs(*(("orders", "group-a", True), ("orders", "group-b", False))),
    )
    lagging = LIMITS | {"replication": _replication({"lag_bytes": 10**9})}
    assert dp.replica_caught_up(stays, lagging, now=NOW) == []
    moving = replace(view(topology(), ["group-b"]), databases=_dbs(*MOVE_TO_B))
    assert dp.replica_caught_up(moving, lagging, now=NOW) != []
    assert dp.replica_caught_up(moving, lagging | {"mode": "failover"}, now=NOW) == []


def test_cnpg_patches_are_read_without_touching_an_unknown_promotion_token():
    class Unknown:
        def __iter__(self):
            raise AssertionError("the promotion token must not be read")

    props = {
        "metadata": {"labels": {dp.PAIR_LABEL: "orders", dp.GROUP_LABEL: "group-b"}},
        "spec": {"replica": {"self": "b", "primary": "b", "source": "a", "promotionToken": Unknown()}},
    }
    db = dp.database_of("kubernetes:postgresql.cnpg.io/v1:ClusterPatch", props, "u")
    assert db == dp.DatabaseCluster("orders", "group-b", True, "u")
    props["spec"]["replica"]["primary"] = "a"
    assert dp.database_of("kubernetes:postgresql.cnpg.io/v1:ClusterPatch", props, "u").primary is False
