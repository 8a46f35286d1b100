"""Planning core: desired state, diff, apply, canonical JSON — literal expectations."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from orchestrator.domain.canonical import canonical_json
from orchestrator.domain.desired import desired_state
from orchestrator.domain.records import RecordSet
from orchestrator.domain.topology import Topology, TopologyError, load_topology
from tests.unit.statediff import Change, apply_changes, diff

# Owner hashes (kuadrant hash.ToBase36HashLen(owner, 8)); see test_kuadrant_formats.py.
HASH_A, HASH_B = "d68s2bp8", "xos7jddv"
APP, SVC = "app.example.test", "svc.example.test"


def config() -> dict[str, Any]:
    health = {"port": 18080, "path": "/healthz"}
    return {
        "ttl": 30,
        "zones": [{"name": APP, "provider": "powerdns"}, {"name": SVC, "provider": "rfc2136"}],
        "groups": {
            "group-a": {
                "endpoints": {
                    "www.app.example.test": {"a": ["127.0.10.2", "127.0.10.1"], "health": health},
                    "shop.app.example.test": {"a": ["127.0.10.1"]},
                    "api.svc.example.test": {"a": ["127.0.10.2"]},
                }
            },
            "group-b": {
                "endpoints": {
                    "www.app.example.test": {"a": ["127.0.20.1", "127.0.20.2"], "ttl": 10},
                    "shop.app.example.test": {"a": ["127.0.20.1"]},
                    "api.svc.example.test": {"a": ["127.0.20.2"]},
                    "beta.app.example.test": {"aaaa": ["2001:db8::b"]},
                }
            },
        },
    }


@pytest.fixture
def topo() -> Topology:
    return load_topology(config())


def reg_value(group: str, targets: str) -> str:
    return (
        f"heritage=external-dns,external-dns/group={group},external-dns/owner={group},"
        f"external-dns/targets={targets},external-dns/version=1"
    )


def test_desired_state_for_group_a(topo):
    state = desired_state(topo, ["group-a"])
    assert state.active_groups == ("group-a",)
    assert state.record_sets == (
        RecordSet(APP, "shop.app.example.test", "A", 30, ("127.0.10.1",)),
        RecordSet(
            APP, "www.app.example.test", "A", 10, ("127.0.10.1", "127.0.10.2")
        ),  # min TTL of all groups
        RecordSet(SVC, "api.svc.example.test", "A", 30, ("127.0.10.2",)),
    )
    assert state.active_groups_txt == (
        RecordSet(APP, f"kuadrant-active-groups.{APP}", "TXT", 30, ("version=1;groups=group-a",)),
        RecordSet(SVC, f"kuadrant-active-groups.{SVC}", "TXT", 30, ("version=1;groups=group-a",)),
    )
    assert state.registry == (
        RecordSet(APP, f"kuadrant-{HASH_A}-a-shop.{APP}", "TXT", 30, (reg_value("group-a", "127.0.10.1"),)),
        RecordSet(
            APP, f"kuadrant-{HASH_A}-a-www.{APP}", "TXT", 10, (reg_value("group-a", "127.0.10.1;127.0.10.2"),)
        ),
        RecordSet(SVC, f"kuadrant-{HASH_A}-a-api.{SVC}", "TXT", 30, (reg_value("group-a", "127.0.10.2"),)),
    )
    assert [r.key for r in state.all()] == [
        f"{APP}/kuadrant-active-groups.{APP}/TXT",
        f"{APP}/kuadrant-{HASH_A}-a-shop.{APP}/TXT",
        f"{APP}/kuadrant-{HASH_A}-a-www.{APP}/TXT",
        f"{APP}/shop.{APP}/A",
        f"{APP}/www.{APP}/A",
        f"{SVC}/api.{SVC}/A",
        f"{SVC}/kuadrant-active-groups.{SVC}/TXT",
        f"{SVC}/kuadrant-{HASH_A}-a-api.{SVC}/TXT",
    ]


def test_a_name_only_inactive_groups_publish_is_not_published(topo):
    keys = desired_state(topo, ["group-a"]).by_key()
    assert f"{APP}/beta.{APP}/AAAA" not in keys
    keys = desired_state(topo, ["group-b"]).by_key()
    assert keys[f"{APP}/beta.{APP}/AAAA"].values == ("2001:db8::b",)
    assert keys[f"{APP}/kuadrant-{HASH_B}-aaaa-beta.{APP}/TXT"].values == (
        reg_value("group-b", "2001:db8::b"),
    )


def test_two_active_groups_publish_the_union_and_one_registry_entry_each(topo):
    state = desired_state(topo, ["group-b", "group-a"])
    keys = state.by_key()
    assert keys[f"{APP}/www.{APP}/A"].values == ("127.0.10.1", "127.0.10.2", "127.0.20.1", "127.0.20.2")
    assert keys[f"{APP}/kuadrant-active-groups.{APP}/TXT"].values == ("version=1;groups=group-a&&group-b",)
    www = [e for e in state.registry_entries() if e.host == f"www.{APP}"]
    assert {(e.group, e.targets) for e in www} == {
        ("group-a", ("127.0.10.1", "127.0.10.2")),
        ("group-b", ("127.0.20.1", "127.0.20.2")),
    }


def test_switch_diff_is_in_place_modify_plus_registry_handover(topo):
    a, b = desired_state(topo, ["group-a"]), desired_state(topo, ["group-b"])
    changes = diff(a.all(), b.all())
    summary = [(c.action, c.key) for c in changes]
    assert summary == [
        ("CREATE", f"{APP}/beta.{APP}/AAAA"),
        ("MODIFY", f"{APP}/kuadrant-active-groups.{APP}/TXT"),
        ("DELETE", f"{APP}/kuadrant-{HASH_A}-a-shop.{APP}/TXT"),
        ("DELETE", f"{APP}/kuadrant-{HASH_A}-a-www.{APP}/TXT"),
        ("CREATE", f"{APP}/kuadrant-{HASH_B}-a-shop.{APP}/TXT"),
        ("CREATE", f"{APP}/kuadrant-{HASH_B}-a-www.{APP}/TXT"),
        ("CREATE", f"{APP}/kuadrant-{HASH_B}-aaaa-beta.{APP}/TXT"),
        ("MODIFY", f"{APP}/shop.{APP}/A"),
        ("MODIFY", f"{APP}/www.{APP}/A"),
        ("MODIFY", f"{SVC}/api.{SVC}/A"),
        ("MODIFY", f"{SVC}/kuadrant-active-groups.{SVC}/TXT"),
        ("DELETE", f"{SVC}/kuadrant-{HASH_A}-a-api.{SVC}/TXT"),
        ("CREATE", f"{SVC}/kuadrant-{HASH_B}-a-api.{SVC}/TXT"),
    ]
    www = next(c for c in changes if c.key == f"{APP}/www.{APP}/A")
    assert www == Change(
        "MODIFY", APP, f"www.{APP}", "A", ("127.0.10.1", "127.0.10.2"), ("127.0.20.1", "127.0.20.2"), 10, 10
    )
    assert www.added == ("127.0.20.1", "127.0.20.2")
    assert www.removed == ("127.0.10.1", "127.0.10.2")
    assert apply_changes(a.all(), changes) == list(b.all())
    assert diff(b.all(), b.all()) == []


def test_diff_ttl_only_is_a_modify_and_value_order_is_not_a_change():
    old = RecordSet("z.test", "a.z.test", "A", 60, ("10.0.0.2", "10.0.0.1"))
    same = RecordSet("z.test", "A.Z.test.", "a", 60, ("10.0.0.1", "10.0.0.2", "10.0.0.1"))
    assert old == same
    assert diff([old], [same]) == []
    lower = RecordSet("z.test", "a.z.test", "A", 30, ("10.0.0.1", "10.0.0.2"))
    assert diff([old], [lower]) == [
        Change(
            "MODIFY", "z.test", "a.z.test", "A", ("10.0.0.1", "10.0.0.2"), ("10.0.0.1", "10.0.0.2"), 60, 30
        )
    ]


def test_record_set_canonicalises_values_per_type():
    assert RecordSet("z.test", "v6.z.test", "AAAA", 60, ("2001:DB8:0::1",)).values == ("2001:db8::1",)
    assert RecordSet("z.test", "c.z.test", "CNAME", 60, ("LB.Example.NET.",)).values == ("lb.example.net",)
    assert RecordSet("z.test", "t.z.test", "TXT", 60, ("Case Kept",)).values == ("Case Kept",)
    assert RecordSet("z.test", "t.z.test", "TXT", 60, "one").values == ("one",)


def test_diff_refuses_duplicate_keys_and_apply_refuses_stale_plans():
    r = RecordSet("z.test", "a.z.test", "A", 60, ("10.0.0.1",))
    with pytest.raises(ValueError, match="two record sets"):
        diff([r, r], [])
    changes = diff([r], [])
    with pytest.raises(ValueError, match="not the one planned against"):
        apply_changes([RecordSet("z.test", "a.z.test", "A", 60, ("10.0.0.9",))], changes)
    with pytest.raises(ValueError, match="already exists"):
        apply_changes([r], diff([], [r]))


def test_desired_state_refuses_an_unpublishable_active_set(topo):
    with pytest.raises(TopologyError, match="the active set is empty"):
        desired_state(topo, [])
    with pytest.raises(TopologyError, match="unknown group 'group-z'"):
        desired_state(topo, ["group-z"])


def test_desired_state_refuses_two_active_cnames(topo):
    cfg = config()
    cfg["groups"]["group-a"]["endpoints"]["alias.app.example.test"] = {"cname": "lb-a.example.net"}
    cfg["groups"]["group-b"]["endpoints"]["alias.app.example.test"] = {"cname": "lb-b.example.net"}
    topology = load_topology(cfg)
    assert desired_state(topology, ["group-a"]).by_key()[f"{APP}/alias.{APP}/CNAME"].values == (
        "lb-a.example.net",
    )
    with pytest.raises(TopologyError, match="a name can have only one CNAME"):
        desired_state(topology, ["group-a", "group-b"])


def test_wildcard_host_is_published_with_its_registry_name():
    cfg = config()
    cfg["groups"]["group-a"]["endpoints"]["*.app.example.test"] = {"a": ["127.0.10.9"]}
    keys = desired_state(load_topology(cfg), ["group-a"]).by_key()
    assert keys[f"{APP}/*.{APP}/A"].values == ("127.0.10.9",)
    assert keys[f"{APP}/kuadrant-{HASH_A}-a-wildcard.{APP}/TXT"].values == (
        reg_value("group-a", "127.0.10.9"),
    )


def test_desired_state_is_deterministic_and_independent_of_config_order(topo):
    cfg = config()
    cfg["groups"] = dict(reversed(list(cfg["groups"].items())))
    cfg["zones"].reverse()
    other = load_topology(cfg)
    assert canonical_json(desired_state(topo, ["group-a"])) == canonical_json(
        desired_state(other, ("group-a",))
    )


def test_canonical_json_literal():
    rs = RecordSet("z.test", "a.z.test", "A", 60, ("10.0.0.2", "10.0.0.1"))
    text = canonical_json({"b": [rs], "a": frozenset({"y", "x"}), "n": None})
    assert (
        text == '{"a":["x","y"],"b":[{"name":"a.z.test","ttl":60,"type":"A",'
        '"values":["10.0.0.1","10.0.0.2"],"zone":"z.test"}],"n":null}'
    )
    same = canonical_json({"n": None, "a": ["x", "y"], "b": (rs,)})
    assert hashlib.sha256(text.encode()).digest() == hashlib.sha256(same.encode()).digest()
    with pytest.raises(TypeError):
        canonical_json(object())


def test_a_plan_fingerprint_is_the_hash_of_its_canonical_content_as_before() -> None:
    # A fingerprint reviewed with an earlier version must still match: the content is each
    # change's fields, values as lists, hashed as canonical JSON.
    from dataclasses import asdict

    from orchestrator.domain.switch.plan import EndpointChange, build_plan

    changes = [
        EndpointChange("MODIFY", "z.test", "www.z.test", "A", ("10.0.0.1",), ("10.0.0.2",)),
        EndpointChange("DELETE", "z.test", "old.z.test", "TXT", ("x",), ()),
    ]
    plan = build_plan(
        stack="s", kind="switch", mode="planned", from_groups=("a",), to_groups=("b",), changes=changes
    )
    content = plan.content()
    assert content["changes"] == [
        asdict(c) | {"current": list(c.current), "new": list(c.new)} for c in plan.changes
    ]
    expected = hashlib.sha256(canonical_json(content).encode()).hexdigest()[:16]
    assert plan.fingerprint == expected == plan.to_dict()["fingerprint"]


def test_the_expected_durations_grow_with_the_plan_as_the_measured_ones_do() -> None:
    """bench/bench_switch.py, 2 cores: preflight 7.2 s, flip 6.8 s for 3,001 changes; 35.5 s and
    38.8 s for 15,001. The dry-run's promise must be of that size, not the demo's."""
    from orchestrator.domain.switch.plan import EndpointChange, SwitchPlan, build_plan

    def plan_of(n: int) -> SwitchPlan:
        changes = [
            EndpointChange("MODIFY", "z.test", f"h{i}.z.test", "A", ("10.0.0.1",), ("10.0.0.2",))
            for i in range(n)
        ]
        return build_plan(
            stack="s", kind="switch", mode="planned", from_groups=("a",), to_groups=("b",), changes=changes
        )

    def step(plan: SwitchPlan, name: str) -> float:
        return next(s.expected_seconds for s in plan.steps if s.name == name)

    demo, thousand, five_thousand = plan_of(9), plan_of(3001), plan_of(15001)
    for name, measured_1000, measured_5000 in (("preflight", 7.2, 35.5), ("flip-dns", 6.8, 38.8)):
        assert step(demo, name) < 2.0
        assert 0.8 * measured_1000 <= step(thousand, name) <= 1.3 * measured_1000
        assert 0.8 * measured_5000 <= step(five_thousand, name) <= 1.3 * measured_5000
    assert step(thousand, "acquire-lease") == step(demo, "acquire-lease")  # not per record set
    assert thousand.expected_seconds == sum(s.expected_seconds for s in thousand.steps if s.skipped is None)
