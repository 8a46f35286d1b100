"""Topology loading: the model, normalisation, and every validation rule with its message."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from orchestrator.domain.errors import EXIT_USAGE, ConfigError
from orchestrator.domain.topology import (
    Health,
    TopologyError,
    check_active_groups,
    load_topology,
    parse_active_groups,
)

T = "orchestrator:topology"
ACT = "orchestrator:activeGroups"
EP = f"{T}.groups.group-a.endpoints.www.app.example.test"


def demo() -> dict[str, Any]:
    """The shape of stacks/Pulumi.local.yaml."""
    health = {"port": 18080, "path": "/healthz"}
    return {
        "ttl": 30,
        "zones": [
            {"name": "app.example.test", "provider": "powerdns", "settings": {"server": "dev"}},
            {"name": "svc.example.test", "provider": "rfc2136", "settings": {"server": "dev"}},
        ],
        "groups": {
            "group-a": {
                "endpoints": {
                    "www.app.example.test": {"a": ["127.0.10.1", "127.0.10.2"], "health": health},
                    "shop.app.example.test": {"a": ["127.0.10.1"], "health": health},
                    "api.svc.example.test": {"a": ["127.0.10.2"], "health": health},
                }
            },
            "group-b": {
                "endpoints": {
                    "www.app.example.test": {"a": ["127.0.20.1", "127.0.20.2"], "health": health},
                    "shop.app.example.test": {"a": ["127.0.20.1"], "health": health},
                    "api.svc.example.test": {"a": ["127.0.20.2"], "health": health},
                }
            },
        },
    }


def errors_of(config: Any, active: Any = ["group-a"]) -> TopologyError:  # noqa: B006 (read-only)
    with pytest.raises(TopologyError) as info:
        load_topology(config, active=active)
    return info.value


# --- the model --------------------------------------------------------------------------


def test_demo_topology_loads():
    topo = load_topology(demo(), active=["group-a"])
    assert [z.name for z in topo.zones] == ["app.example.test", "svc.example.test"]
    assert topo.zone("svc.example.test").provider == "rfc2136"
    assert dict(topo.zone("app.example.test").settings) == {"server": "dev"}
    assert topo.group_names == ("group-a", "group-b")
    assert topo.active_groups == ("group-a",)
    assert topo.ttl == 30
    www = topo.group("group-a").endpoint("www.app.example.test")
    assert www is not None
    assert www.zone == "app.example.test"
    assert www.a == ("127.0.10.1", "127.0.10.2")
    assert www.ttl == 30
    assert www.health == Health(port=18080, path="/healthz", scheme="http")
    assert topo.group("group-b").owner == "group-b"  # owner defaults to the group name
    assert topo.hostnames() == ("api.svc.example.test", "shop.app.example.test", "www.app.example.test")


def test_active_groups_are_optional_for_load_topology():
    assert load_topology(demo()).active_groups == ()


def test_defaults_and_overrides():
    cfg = demo()
    del cfg["ttl"]
    cfg["groups"]["group-a"]["owner"] = "cluster-a1"
    cfg["groups"]["group-a"]["endpoints"]["www.app.example.test"].update(ttl=5, weight=0)
    topo = load_topology(cfg)
    assert topo.ttl == 60
    www = topo.group("group-a").endpoint("www.app.example.test")
    assert (www.ttl, www.weight) == (5, 0)
    assert topo.group("group-a").owner == "cluster-a1"
    assert topo.group("group-a").endpoint("shop.app.example.test").ttl == 60


def test_hostnames_zones_and_targets_are_normalised():
    cfg = demo()
    cfg["zones"][0]["name"] = "App.Example.TEST."
    eps = cfg["groups"]["group-a"]["endpoints"]
    eps["WWW.App.Example.test."] = eps.pop("www.app.example.test")
    eps["v6.app.example.test"] = {"aaaa": ["2001:DB8:0:0::1", "::ffff:1.2.3.4"]}
    eps["alias.app.example.test"] = {"cname": "LB.Example.NET."}
    topo = load_topology(cfg)
    assert topo.zones[0].name == "app.example.test"
    group = topo.group("group-a")
    assert group.endpoint("www.app.example.test") is not None
    assert group.endpoint("v6.app.example.test").aaaa == ("2001:db8::1", "::ffff:1.2.3.4")
    assert group.endpoint("alias.app.example.test").cname == "lb.example.net"


def test_longest_zone_wins():
    cfg = demo()
    cfg["zones"].append({"name": "example.test", "provider": "route53"})
    cfg["groups"]["group-a"]["endpoints"]["top.example.test"] = {"a": ["10.0.0.1"]}
    topo = load_topology(cfg)
    assert topo.group("group-a").endpoint("www.app.example.test").zone == "app.example.test"
    assert topo.group("group-a").endpoint("top.example.test").zone == "example.test"
    assert topo.zone_for("x.svc.example.test").name == "svc.example.test"
    assert topo.zone_for("nowhere.test") is None


def test_wildcard_leftmost_is_allowed():
    cfg = demo()
    cfg["groups"]["group-a"]["endpoints"]["*.app.example.test"] = {"a": ["10.0.0.9"]}
    ep = load_topology(cfg).group("group-a").endpoint("*.app.example.test")
    assert ep is not None and ep.a == ("10.0.0.9",)


def test_health_urls_per_target():
    cfg = demo()
    cfg["groups"]["group-a"]["endpoints"]["v6.app.example.test"] = {
        "aaaa": ["2001:db8::1"],
        "a": ["10.0.0.1"],
        "health": {"port": 8443, "path": "/ready", "scheme": "https"},
    }
    ep = load_topology(cfg).group("group-a").endpoint("v6.app.example.test")
    assert ep.health_urls() == (
        ("10.0.0.1", "https://10.0.0.1:8443/ready"),
        ("2001:db8::1", "https://[2001:db8::1]:8443/ready"),
    )
    assert load_topology(demo()).group("group-a").endpoint("shop.app.example.test").health_urls() == (
        ("127.0.10.1", "http://127.0.10.1:18080/healthz"),
    )


# --- active groups ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (["group-b", "group-a", "group-b"], ("group-a", "group-b")),
        (("group-a",), ("group-a",)),
        ("version=1;groups=group-b&&group-a", ("group-a", "group-b")),
        ('"groups=group-a;version=1"', ("group-a",)),
        ("group-b", ("group-b",)),
        ("group-b, group-a", ("group-a", "group-b")),
        ("group-b&&group-a", ("group-a", "group-b")),
    ],
)
def test_parse_active_groups_forms(value, expected):
    assert parse_active_groups(value) == expected


@pytest.mark.parametrize(
    ("value", "key", "why"),
    [
        (None, ACT, "no active groups"),
        ([], ACT, "empty"),
        ("version=1", ACT, "empty"),
        ({"group-a": True}, ACT, "must be a list"),
        (["group-a", 7], f"{ACT}[1]", "must be text"),
        (["a;b"], f"{ACT}[0]", "contains ';'"),
        ("version=2;groups=a", ACT, "version '2'"),
    ],
)
def test_parse_active_groups_errors(value, key, why):
    with pytest.raises(TopologyError) as info:
        parse_active_groups(value)
    assert info.value.key == key
    assert why in str(info.value)
    assert "fix: set orchestrator:activeGroups to a list of group names" in str(info.value)


def test_check_active_groups_against_topology():
    topo = load_topology(demo())
    assert check_active_groups(topo, ["group-b", "group-a"]) == ("group-a", "group-b")
    with pytest.raises(TopologyError) as info:
        check_active_groups(topo, ["group-c"])
    assert info.value.key == f"{ACT}[0]"
    assert "unknown group 'group-c'" in str(info.value)
    assert "use one of the configured groups: group-a, group-b" in str(info.value)


# --- validation: one test per rule ------------------------------------------------------

Mutation = Callable[[dict[str, Any]], Any]


def _set(path: list[Any], value: Any) -> Mutation:
    def mutate(cfg: dict[str, Any]) -> None:
        node = cfg
        for p in path[:-1]:
            node = node[p]
        node[path[-1]] = value

    return mutate


def _del(path: list[Any]) -> Mutation:
    def mutate(cfg: dict[str, Any]) -> None:
        node = cfg
        for p in path[:-1]:
            node = node[p]
        del node[path[-1]]

    return mutate


def _add_endpoint(group: str, host: str, body: Any) -> Mutation:
    return _set(["groups", group, "endpoints", host], body)


def _rename_group(old: str, new: Any) -> Mutation:
    def mutate(cfg: dict[str, Any]) -> None:
        cfg["groups"][new] = cfg["groups"].pop(old)

    return mutate


LONG_HOST = ".".join(["h" * 10] + ["x" * 52] * 4) + ".app.example.test"  # 240 characters
WWW_A = ["groups", "group-a", "endpoints", "www.app.example.test"]

CASES: list[tuple[str, Mutation, str, str, str]] = [
    # (id, mutation, key, why fragment, fix fragment)
    ("missing zones", _del(["zones"]), f"{T}.zones", "no zones are configured", "list the zones"),
    ("empty zones", _set(["zones"], []), f"{T}.zones", "list of zones is empty", "list the zones"),
    ("zones not a list", _set(["zones"], {"a": 1}), f"{T}.zones", "must be a list", "list the zones"),
    (
        "unknown provider",
        _set(["zones", 1, "provider"], "bind"),
        f"{T}.zones[1].provider",
        "unknown provider 'bind'",
        "use one of: powerdns, rfc2136, route53, clouddns, cloudflare",
    ),
    (
        "missing provider",
        _del(["zones", 0, "provider"]),
        f"{T}.zones[0].provider",
        "missing provider",
        "use one of",
    ),
    (
        "duplicate zone",
        _set(["zones", 1, "name"], "APP.example.test."),
        f"{T}.zones[1].name",
        "listed twice",
        "keep one entry per zone",
    ),
    (
        "bad zone name",
        _set(["zones", 0, "name"], "app..test"),
        f"{T}.zones[0].name",
        "empty label",
        "use a name like",
    ),
    (
        "missing zone name",
        _del(["zones", 0, "name"]),
        f"{T}.zones[0].name",
        "missing zone name",
        "add `name: <zone>`",
    ),
    (
        "settings not mapping",
        _set(["zones", 0, "settings"], "dev"),
        f"{T}.zones[0].settings",
        "mapping",
        "settings:",
    ),
    (
        "unknown zone key",
        _set(["zones", 0, "sever"], 1),
        f"{T}.zones[0].sever",
        "unknown key 'sever'",
        "name, provider",
    ),
    ("topology ttl zero", _set(["ttl"], 0), f"{T}.ttl", "TTL 0", "e.g. `ttl: 60`"),
    ("topology ttl text", _set(["ttl"], "30s"), f"{T}.ttl", "TTL '30s'", "e.g. `ttl: 60`"),
    ("endpoint ttl bool", _set([*WWW_A, "ttl"], True), f"{EP}.ttl", "TTL True", "e.g. `ttl: 60`"),
    ("unknown top-level key", _set(["zone"], []), f"{T}.zone", "unknown key 'zone'", "ttl, zones, groups"),
    ("missing groups", _del(["groups"]), f"{T}.groups", "no groups are configured", "add `groups:"),
    ("empty groups", _set(["groups"], {}), f"{T}.groups", "no groups are configured", "add `groups:"),
    (
        "group name too long",
        _rename_group("group-b", "a-very-long-group-name"),
        f"{T}.groups.a-very-long-group-name",
        "22 characters; at most 16",
        "rename the group",
    ),
    (
        "group name with &",
        _rename_group("group-b", "b&c"),
        f"{T}.groups.b&c",
        "contains '&'",
        "rename the group",
    ),
    (
        "group name with space",
        _rename_group("group-b", "b c"),
        f"{T}.groups.b c",
        "contains ' '",
        "rename the group",
    ),
    (
        "group name with =",
        _rename_group("group-b", "b=c"),
        f"{T}.groups.b=c",
        "contains '='",
        "rename the group",
    ),
    (
        "empty group name",
        _rename_group("group-b", ""),
        f"{T}.groups.",
        "group name is empty",
        "rename the group",
    ),
    (
        "group without endpoints",
        _set(["groups", "group-b", "endpoints"], {}),
        f"{T}.groups.group-b.endpoints",
        "group 'group-b' has no endpoints",
        "add at least one",
    ),
    (
        "group body empty",
        _set(["groups", "group-b"], None),
        f"{T}.groups.group-b.endpoints",
        "has no endpoints",
        "add at least one",
    ),
    (
        "unknown group key",
        _set(["groups", "group-a", "onwer"], "x"),
        f"{T}.groups.group-a.onwer",
        "unknown key",
        "owner",
    ),
    (
        "bad owner",
        _set(["groups", "group-a", "owner"], "a,b"),
        f"{T}.groups.group-a.owner",
        "contains ','",
        "owner id",
    ),
    (
        "shared owner",
        _set(["groups", "group-b", "owner"], "group-a"),
        f"{T}.groups.group-b.owner",
        "also the owner of group 'group-a'",
        "give each group its own owner id",
    ),
    (
        "hostname outside zones",
        _add_endpoint("group-a", "www.other.test", {"a": ["10.0.0.1"]}),
        f"{T}.groups.group-a.endpoints.www.other.test",
        "outside every configured zone (app.example.test, svc.example.test)",
        "add its zone under `zones`",
    ),
    (
        "wildcard not leftmost",
        _add_endpoint("group-a", "www.*.app.example.test", {"a": ["10.0.0.1"]}),
        f"{T}.groups.group-a.endpoints.www.*.app.example.test",
        "only as the whole leftmost label",
        "*.app.example.test",
    ),
    (
        "partial wildcard label",
        _add_endpoint("group-a", "w*.app.example.test", {"a": ["10.0.0.1"]}),
        f"{T}.groups.group-a.endpoints.w*.app.example.test",
        "only as the whole leftmost label",
        "*.app.example.test",
    ),
    (
        "reserved name",
        _add_endpoint("group-a", "kuadrant-active-groups.app.example.test", {"a": ["10.0.0.1"]}),
        f"{T}.groups.group-a.endpoints.kuadrant-active-groups.app.example.test",
        "reserved",
        "choose another name",
    ),
    (
        "duplicate hostname by case",
        _add_endpoint("group-a", "WWW.app.example.test", {"a": ["10.0.0.7"]}),
        f"{T}.groups.group-a.endpoints.WWW.app.example.test",
        "names are case-insensitive",
        "merge the two entries",
    ),
    (
        "malformed ipv4",
        _set([*WWW_A, "a"], ["127.0.10.1", "127.0.10.300"]),
        f"{EP}.a[1]",
        "'127.0.10.300' is not an IPv4 address",
        "write an IPv4 address such as 10.0.0.1",
    ),
    (
        "ipv6 in a",
        _set([*WWW_A, "a"], ["2001:db8::1"]),
        f"{EP}.a[0]",
        "is not an IPv4 address",
        "write an IPv4 address",
    ),
    (
        "ipv4 in aaaa",
        _set([*WWW_A, "aaaa"], ["10.0.0.1"]),
        f"{EP}.aaaa[0]",
        "is not an IPv6 address",
        "write an IPv6 address such as 2001:db8::1",
    ),
    ("non-text target", _set([*WWW_A, "a"], [1234]), f"{EP}.a[0]", "1234 is not an IPv4", "write an IPv4"),
    (
        "duplicate target",
        _set([*WWW_A, "a"], ["127.0.10.1", "127.0.10.1"]),
        f"{EP}.a[1]",
        "listed twice (also a[0])",
        "remove the duplicate",
    ),
    (
        "duplicate ipv6 spelled differently",
        _set([*WWW_A, "aaaa"], ["2001:db8::1", "2001:DB8:0::1"]),
        f"{EP}.aaaa[1]",
        "listed twice (also aaaa[0])",
        "remove the duplicate",
    ),
    ("empty target list", _set([*WWW_A, "a"], []), f"{EP}.a", "non-empty list", "e.g. `a: ["),
    ("no targets", _set(WWW_A, {"health": {"port": 80}}), EP, "has no targets", "add `a: [...]`"),
    (
        "cname mixed with a in one endpoint",
        _set([*WWW_A, "cname"], "lb.example.net"),
        EP,
        "a name with a CNAME can have no A or AAAA records",
        "keep either `cname:` or `a:`/`aaaa:`",
    ),
    (
        "cname list",
        _add_endpoint("group-a", "alias.app.example.test", {"cname": ["a.example.net", "b.example.net"]}),
        f"{T}.groups.group-a.endpoints.alias.app.example.test.cname",
        "exactly one target name",
        "write `cname: target.example.net` (one name, not a list)",
    ),
    (
        "cname malformed",
        _add_endpoint("group-a", "alias.app.example.test", {"cname": "bad name.example.net"}),
        f"{T}.groups.group-a.endpoints.alias.app.example.test.cname",
        "is not a hostname",
        "write `cname: target.example.net`",
    ),
    (
        "cname at apex",
        _add_endpoint("group-a", "app.example.test", {"cname": "lb.example.net"}),
        f"{T}.groups.group-a.endpoints.app.example.test",
        "zone apex",
        "use A/AAAA records at the apex",
    ),
    (
        "cname across groups mixed with a",
        _set(["groups", "group-b", "endpoints", "www.app.example.test"], {"cname": "lb.example.net"}),
        f"{T}.groups.group-b.endpoints.www.app.example.test",
        "is a CNAME in group-b but has A/AAAA records in group-a",
        "use the same kind of record",
    ),
    (
        "target owned by two groups",
        _set(["groups", "group-b", "endpoints", "www.app.example.test", "a"], ["127.0.20.1", "127.0.10.2"]),
        f"{T}.groups.group-b.endpoints.www.app.example.test.a",
        "127.0.10.2 is also a target of www.app.example.test in group 'group-a'",
        "give each group its own targets",
    ),
    ("weight negative", _set([*WWW_A, "weight"], -1), f"{EP}.weight", "weight -1", "e.g. `weight: 100`"),
    (
        "health port",
        _set([*WWW_A, "health"], {"port": 0}),
        f"{EP}.health.port",
        "port 0",
        "health: {port: 18080",
    ),
    (
        "health path",
        _set([*WWW_A, "health"], {"port": 80, "path": "healthz"}),
        f"{EP}.health.path",
        "must start with /",
        "health:",
    ),
    (
        "health scheme",
        _set([*WWW_A, "health"], {"port": 80, "scheme": "tcp"}),
        f"{EP}.health.scheme",
        "'tcp'",
        "health:",
    ),
    (
        "unknown endpoint key",
        _set([*WWW_A, "aa"], ["10.0.0.1"]),
        f"{EP}.aa",
        "unknown key 'aa'",
        "a, aaaa, cname",
    ),
    (
        "registry name too long",
        _add_endpoint("group-a", "x" * 50 + ".app.example.test", {"a": ["10.0.0.1"]}),
        f"{T}.groups.group-a.endpoints.{'x' * 50}.app.example.test",
        "registry record name",
        "first label may have at most 43 characters for A",
    ),
    (
        "registry name over 253 characters",
        _add_endpoint("group-a", LONG_HOST, {"a": ["10.0.0.1"]}),
        f"{T}.groups.group-a.endpoints.{LONG_HOST}",
        "registry record name",
        "it may have at most 233 characters for A",
    ),
    (
        "wildcard and literal wildcard",
        lambda cfg: cfg["groups"]["group-a"]["endpoints"].update(
            {"*.app.example.test": {"a": ["10.0.0.8"]}, "wildcard.app.example.test": {"a": ["10.0.0.9"]}}
        ),
        f"{T}.groups",
        "would share registry record names",
        "rename wildcard.app.example.test",
    ),
]


@pytest.mark.parametrize(("mutate", "key", "why", "fix"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_each_validation_rule_names_key_reason_and_fix(mutate, key, why, fix):
    cfg = copy.deepcopy(demo())
    mutate(cfg)
    err = errors_of(cfg)
    assert isinstance(err, ConfigError)
    assert err.exit_code == EXIT_USAGE
    matching = [p for p in err.problems if p.key == key]
    assert matching, f"no problem at {key}; got {[p.key for p in err.problems]}"
    assert any(why in p.why for p in matching), [p.why for p in matching]
    assert any(fix in p.fix for p in matching), [p.fix for p in matching]
    text = str(err)
    assert key in text and fix in text


@pytest.mark.parametrize(
    ("active", "key", "why", "fix"),
    [
        (
            ["group-c"],
            f"{ACT}[0]",
            "unknown group 'group-c'",
            "use one of the configured groups: group-a, group-b",
        ),
        ([], ACT, "the active set is empty", "set orchestrator:activeGroups"),
        (None, ACT, "no active groups are configured", "set orchestrator:activeGroups"),
        (["group-a", "bad group"], f"{ACT}[1]", "contains ' '", "set orchestrator:activeGroups"),
    ],
)
def test_active_set_validation(active, key, why, fix):
    err = errors_of(demo(), active=active)
    assert [p.key for p in err.problems] == [key]
    assert why in err.why and fix in err.fix


def test_two_active_cnames_for_one_name_are_refused_but_allowed_when_one_is_active():
    cfg = demo()
    cfg["groups"]["group-a"]["endpoints"]["alias.app.example.test"] = {"cname": "lb-a.example.net"}
    cfg["groups"]["group-b"]["endpoints"]["alias.app.example.test"] = {"cname": "lb-b.example.net"}
    assert load_topology(cfg, active=["group-b"]).active_groups == ("group-b",)
    err = errors_of(cfg, active=["group-a", "group-b"])
    assert err.key == ACT
    assert "each has a CNAME for alias.app.example.test" in err.why
    assert "activate only one of these groups" in err.fix


def test_all_problems_are_reported_at_once():
    cfg = demo()
    cfg["zones"][1]["provider"] = "bind"
    cfg["groups"]["group-a"]["endpoints"]["www.app.example.test"]["a"] = ["1.2.3.999", "1.2.3.4", "1.2.3.4"]
    cfg["groups"]["group-b"]["endpoints"]["www.other.test"] = {"a": ["10.0.0.1"]}
    err = errors_of(cfg, active=["group-a", "group-z"])
    keys = [p.key for p in err.problems]
    assert f"{T}.zones[1].provider" in keys
    assert f"{EP}.a[0]" in keys and f"{EP}.a[2]" in keys
    assert f"{T}.groups.group-b.endpoints.www.other.test" in keys
    assert f"{ACT}[1]" in keys
    text = str(err)
    assert text.startswith(f"error: {len(keys)} problems in the stack configuration")
    assert text.count("fix:") == len(keys)


def test_not_a_mapping():
    err = errors_of(["zones"], active=["group-a"])
    assert err.key == T
    assert "docs/topology.md" in err.fix


def test_single_problem_renders_like_a_config_error():
    cfg = demo()
    cfg["ttl"] = -5
    err = errors_of(cfg)
    assert str(err) == str(ConfigError(f"{T}.ttl", err.why, err.fix))


def test_databases_are_validated_with_the_rest_of_the_topology():
    cfg = demo()
    cfg["databases"] = {"orders": {"group-a": "pg-a", "group-b": "pg-b"}}
    with pytest.raises(TopologyError) as err:
        load_topology(cfg)
    assert any(p.key == "orchestrator:topology.databases" for p in err.value.problems)
    local = {"kind": "postgres", "server": "dev"}
    cfg["databases"] = [{"name": "orders", "clusters": {"group-a": local, "group-b": local}}]
    (pair,) = load_topology(cfg).databases
    assert pair.name == "orders" and pair.groups == ("group-a", "group-b")
