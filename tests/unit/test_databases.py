"""Database pairs without servers: topology validation, the primary rule, the token, the plan,
and the Pulumi program's resources (Pulumi mocks: ordering by the token's data dependency)."""

from __future__ import annotations

import pytest

from orchestrator.adapters.postgres.pg import lsn_int, lsn_text
from orchestrator.adapters.postgres.token import DemotionToken, TokenError, newest
from orchestrator.domain.databases import PrimaryMove, parse_databases, primary_group, primary_moves
from orchestrator.domain.errors import ConfigError
from orchestrator.domain.switch.plan import build_plan
from orchestrator.domain.switch.report import render_markdown, render_table
from orchestrator.domain.topology import TopologyError, load_topology

GROUPS = ["group-a", "group-b", "group-c"]
LOCAL = {"kind": "postgres", "server": "dev"}
KEY = "orchestrator:topology.databases"


def pairs(raw):
    found, problems = parse_databases(raw, GROUPS, KEY)
    assert problems == [], [p.render() for p in problems]
    return found


def test_a_pair_lists_its_clusters_in_preference_order_and_the_primary_follows_the_active_set():
    (pair,) = pairs([{"name": "orders", "clusters": {"group-b": LOCAL, "group-a": LOCAL}}])
    assert pair.groups == ("group-b", "group-a")
    assert primary_group(pair, ["group-a"]) == "group-a"
    assert primary_group(pair, ["group-a", "group-b"]) == "group-b"  # first in the pair's order
    assert primary_group(pair, ["group-c"]) is None
    assert primary_moves([pair], ["group-a"], ["group-b"]) == (PrimaryMove("orders", "group-a", "group-b"),)
    assert primary_moves([pair], ["group-a"], ["group-a", "group-c"]) == ()


@pytest.mark.parametrize(
    "raw,key,needle",
    [
        ("orders", KEY, "must be a list"),
        ([{"name": "orders", "clusters": {"group-a": LOCAL}}], f"{KEY}[0].clusters", "at least two groups"),
        (
            [{"name": "orders", "clusters": {"group-a": LOCAL, "group-x": LOCAL}}],
            f"{KEY}[0].clusters.group-x",
            "not in the topology",
        ),
        ([{"name": "a b", "clusters": {}}], f"{KEY}[0].name", "forbidden character"),
        (
            [{"name": "o", "clusters": {"group-a": {"kind": "mysql"}, "group-b": LOCAL}}],
            f"{KEY}[0].clusters.group-a.kind",
            "not one of",
        ),
        (
            [
                {
                    "name": "o",
                    "clusters": {
                        "group-a": {"kind": "cnpg", "name": "x"},
                        "group-b": {"kind": "cnpg", "namespace": "db"},
                    },
                }
            ],
            f"{KEY}[0].clusters.group-a.namespace",
            "missing 'namespace'",
        ),
        (
            [{"name": "o", "clusters": {"group-a": {"kind": "postgres", "server": "db1"}, "group-b": LOCAL}}],
            f"{KEY}[0].clusters.group-a.server",
            "only knows `dev`",
        ),
        (
            [
                {
                    "name": "o",
                    "clusters": {
                        "group-a": LOCAL,
                        "group-b": {"kind": "cnpg", "name": "b", "namespace": "db"},
                    },
                }
            ],
            f"{KEY}[0].clusters",
            "mixes cluster kinds",
        ),
        (
            [
                {"name": "o", "clusters": {"group-a": LOCAL, "group-b": LOCAL}},
                {"name": "p", "clusters": {"group-a": LOCAL, "group-b": LOCAL}},
            ],
            f"{KEY}[1].clusters.group-a",
            "already serves pair 'o'",
        ),
        (
            [{"name": "o", "clusters": {"group-a": LOCAL, "group-b": LOCAL}, "primary": "group-a"}],
            f"{KEY}[0].primary",
            "unknown key",
        ),
    ],
)
def test_bad_pairs_are_refused_naming_the_key(raw, key, needle):
    _, problems = parse_databases(raw, GROUPS, KEY)
    assert problems, "must be refused"
    assert any(p.key == key and needle in p.why for p in problems), [(p.key, p.why) for p in problems]
    assert all(isinstance(p, ConfigError) and p.fix for p in problems)


def test_topology_validation_reports_database_problems_with_the_rest():
    raw = {
        "zones": [{"name": "app.example.test", "provider": "powerdns", "settings": {"server": "dev"}}],
        "groups": {"group-a": {"endpoints": {"www.app.example.test": {"a": ["192.0.2.1"]}}}},
        "databases": [{"name": "orders", "clusters": {"group-a": LOCAL, "group-z": LOCAL}}],
    }
    with pytest.raises(TopologyError) as err:
        load_topology(raw)
    assert any("group-z" in p.key for p in err.value.problems)


def test_lsn_text_round_trips():
    assert lsn_int("16/B374D848") == (0x16 << 32) | 0xB374D848
    assert lsn_text(lsn_int("16/B374D848")) == "16/B374D848"
    assert lsn_int(None) is None


def test_the_demotion_token_round_trips_and_refuses_garbage():
    token = DemotionToken("group-a", "0/3000060", 1, "7710")
    assert DemotionToken.decode(token.encode()) == token
    assert token.position == 0x3000060
    for bad in ("not base64!", "aGVsbG8=", ""):
        with pytest.raises(TokenError):
            DemotionToken.decode(bad)


def test_the_newest_token_of_the_same_lineage_wins():
    old = DemotionToken("group-b", "0/1000000", 1, "7710").encode()
    new = DemotionToken("group-c", "0/2000000", 2, "7710").encode()
    other = DemotionToken("group-c", "9/0", 9, "9999").encode()
    assert newest([old, "", new, other], "7710").group == "group-c"
    assert newest([other], "7710") is None
    assert newest([], "7710") is None


def _plan(databases=(), mode="planned"):
    return build_plan(
        stack="s",
        kind="switch",
        mode=mode,
        from_groups=("group-a",),
        to_groups=("group-b",),
        changes=[],
        has_databases=True,
        databases=databases,
    )


def test_a_plan_that_moves_a_primary_runs_the_database_steps_and_its_fingerprint_covers_the_move():
    moving = _plan((PrimaryMove("orders", "group-a", "group-b"),))
    still = _plan(())
    steps = {s.name: s.skipped for s in moving.steps}
    assert steps["demote-primary"] is None and steps["promote-primary"] is None
    assert "no database primary changes group" in {s.name: s.skipped for s in still.steps}["demote-primary"]
    assert moving.fingerprint != still.fingerprint
    assert not moving.noop
    assert "orders: group-a -> group-b (demote with a token" in render_table(moving)
    assert "orders: group-a -> group-b" in render_markdown(moving)
    failover = _plan((PrimaryMove("orders", "group-a", "group-b"),), mode="failover")
    assert "promote without a token" in render_table(failover)
    assert failover.fingerprint != moving.fingerprint


# --- the program's resources, with Pulumi MOCKS (no engine, no server) ----------------------------


def test_the_promoted_side_takes_the_demoted_sides_token_and_depends_on_it():
    import pulumi

    from orchestrator.adapters.pulumi.program import database_resources

    registered: list[tuple[str, dict]] = []

    class Mocks(pulumi.runtime.Mocks):
        def new_resource(self, args):
            registered.append((args.name, dict(args.inputs)))
            outs = dict(args.inputs)
            if not outs.get("primary"):
                outs["demotionToken"] = f"token-of-{outs['group']}"
            return f"{args.name}-id", outs

        def call(self, args):
            return {}

    pulumi.runtime.set_mocks(Mocks(), preview=False)
    topo = load_topology(
        {
            "zones": [{"name": "app.example.test", "provider": "powerdns", "settings": {"server": "dev"}}],
            "groups": {
                g: {"endpoints": {"www.app.example.test": {"a": [f"192.0.2.{i}"]}}}
                for i, g in enumerate(("group-a", "group-b"), 1)
            },
            "databases": [{"name": "orders", "clusters": {"group-a": LOCAL, "group-b": LOCAL}}],
        }
    )

    @pulumi.runtime.test
    def check():
        res = database_resources(topo, ("group-b",))
        assert sorted(res) == ["db-orders-group-a", "db-orders-group-b"]

        def inputs(_):
            by_name = dict(registered)
            a, b = by_name["db-orders-group-a"], by_name["db-orders-group-b"]
            assert a["primary"] is False and a["primaryGroup"] == "group-b"
            assert b["primary"] is True and b["promotionTokens"] == ["token-of-group-a"]
            # The promotion is registered only once the demotion's outputs are known.
            assert [n for n, _ in registered] == ["db-orders-group-a", "db-orders-group-b"]

        return res["db-orders-group-b"].urn.apply(inputs)

    check()
