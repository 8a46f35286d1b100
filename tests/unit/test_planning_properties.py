"""Property tests: over random valid topologies and random sequences of active sets.

The generator builds topologies that the validator must accept (targets never shared by
two groups for one name, a CNAME name published by one group only, every group with an
endpoint), over nested zones, wildcards, dual-stack names and mixed-case spellings.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from orchestrator.domain.canonical import canonical_json
from orchestrator.domain.desired import desired_state
from orchestrator.domain.kuadrant import (
    RegistryEntry,
    format_active_groups,
    owner_hash,
    parse_active_groups_txt,
    parse_registry_txt,
)
from orchestrator.domain.records import RecordSet
from orchestrator.domain.topology import Topology, load_topology
from tests.unit.statediff import apply_changes, diff

PROPS = settings(max_examples=200, deadline=None)

GROUP_POOL = ("group-a", "group-b", "g3", "eu-west-2")
ZONE_POOL = (("app.example.test", "powerdns"), ("example.test", "route53"), ("svc.other.test", "rfc2136"))
LABEL_POOL = ("www", "api", "*", "shop", "x1")
KINDS = ("a", "aaaa", "dual", "cname")


@st.composite
def topologies(draw: st.DrawFn) -> dict[str, Any]:
    groups = draw(st.lists(st.sampled_from(GROUP_POOL), min_size=1, max_size=4, unique=True))
    zones = draw(st.lists(st.sampled_from(ZONE_POOL), min_size=1, max_size=3, unique=True))
    endpoints: dict[str, dict[str, Any]] = {g: {} for g in groups}

    def targets(gi: int, kind: str) -> dict[str, Any]:
        nums = draw(st.lists(st.integers(1, 4), min_size=1, max_size=3, unique=True))
        body: dict[str, Any] = {}
        if kind in ("a", "dual"):
            body["a"] = [f"10.{gi}.0.{n}" for n in nums]  # same group may reuse an address on other names
        if kind in ("aaaa", "dual"):
            body["aaaa"] = [f"2001:DB8:{gi}:0::{n}" for n in nums]  # non-canonical spelling on purpose
        if draw(st.booleans()):
            body["ttl"] = draw(st.integers(1, 300))
        if draw(st.booleans()):
            body["health"] = {"port": 8080}
        return body

    for zone, _ in zones:
        for label in LABEL_POOL:
            if not draw(st.booleans()):
                continue
            host = f"{label}.{zone}"
            spelled = host.upper() if draw(st.booleans()) else host
            kind = draw(st.sampled_from(KINDS))
            if kind == "cname":
                g = draw(st.sampled_from(groups))
                endpoints[g][spelled] = {"cname": f"lb-{g}.example.net"}
                continue
            for gi, g in enumerate(groups):
                if draw(st.booleans()):
                    endpoints[g][spelled] = targets(gi, kind)
    for gi, g in enumerate(groups):
        if not endpoints[g]:
            endpoints[g][f"solo-{g}.{zones[0][0]}"] = {"a": [f"10.{gi}.9.1"]}
    return {
        "ttl": draw(st.integers(1, 600)),
        "zones": [{"name": z, "provider": p} for z, p in zones],
        "groups": {
            g: ({"owner": f"own-{g}"} if draw(st.booleans()) else {}) | {"endpoints": endpoints[g]}
            for g in groups
        },
    }


@st.composite
def scenario(draw: st.DrawFn) -> tuple[Topology, list[list[str]]]:
    topo = load_topology(draw(topologies()))
    names = list(topo.group_names)
    active_sets = st.lists(st.sampled_from(names), min_size=1, max_size=len(names), unique=True)
    return topo, draw(st.lists(active_sets, min_size=1, max_size=5))


def published(topo: Topology, groups: set[str]) -> dict[tuple[str, str, str], set[str]]:
    """(zone, name, type) -> union of the targets that `groups` give it."""
    out: dict[tuple[str, str, str], set[str]] = defaultdict(set)
    for g in topo.groups:
        if g.name in groups:
            for ep in g.endpoints:
                for rtype, targets in ep.records():
                    out[(ep.zone, ep.hostname, rtype)].update(targets)
    return out


def check_state(topo: Topology, active: list[str]) -> None:
    state = desired_state(topo, active)
    active_set = set(active)
    inactive = set(topo.group_names) - active_set

    # deterministic, whatever the order the active set is given in
    assert canonical_json(desired_state(topo, list(reversed(active)))) == canonical_json(state)
    keys = [r.key for r in state.all()]
    assert keys == sorted(keys) and len(keys) == len(set(keys))

    # record sets: exactly the union of the active groups' targets, never empty
    want = published(topo, active_set)
    got = {(r.zone, r.name, r.type): r for r in state.record_sets}
    assert set(got) == set(want)
    for k, rs in got.items():
        assert rs.values and set(rs.values) == want[k]

    # registry: one entry per (active group, host, type), its group owns exactly those targets
    entries = state.registry_entries()
    seen = set()
    for e in entries:
        assert e.group in active_set
        group = topo.group(e.group)
        assert e.owner == group.owner and e.hash_matches_owner and e.owner_hash == owner_hash(group.owner)
        ep = group.endpoint(e.host)
        assert ep is not None and e.targets == ep.targets(e.type)
        seen.add((e.group, e.host, e.type))
    assert seen == {
        (g.name, ep.hostname, t)
        for g in topo.groups
        if g.name in active_set
        for ep in g.endpoints
        for t, _ in ep.records()
    }

    # inactive groups own nothing published
    for g in topo.groups:
        if g.name not in inactive:
            continue
        assert all(e.group != g.name for e in entries)
        for ep in g.endpoints:
            for rtype, targets in ep.records():
                rs = got.get((ep.zone, ep.hostname, rtype))
                assert rs is None or not set(targets) & set(rs.values)

    # the zone's active-groups record names the active set, sorted
    for rs in state.active_groups_txt:
        assert parse_active_groups_txt(rs.values[0]) == tuple(sorted(active_set))


@PROPS
@given(scenario())
def test_transitions_between_active_sets(case):
    topo, transitions = case
    previous = None
    for active in transitions:
        check_state(topo, active)
        state = desired_state(topo, active)
        if previous is not None:
            changes = diff(previous.all(), state.all())
            assert apply_changes(previous.all(), changes) == list(state.all())
            assert [c.key for c in changes] == sorted(c.key for c in changes)
        assert diff(state.all(), state.all()) == []
        previous = state


record_sets = st.builds(
    RecordSet,
    zone=st.just("z.test"),
    name=st.sampled_from(["a.z.test", "b.z.test", "c.z.test"]),
    type=st.sampled_from(["A", "TXT"]),
    ttl=st.integers(1, 100),
    values=st.lists(st.sampled_from(["10.0.0.1", "10.0.0.2", "10.0.0.3"]), min_size=1, max_size=3).map(tuple),
)


def zone_file_quoted(text: str) -> str:
    """The presentation form a server or dig shows: quotes, with `\\` and `"` escaped."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def unique_sets(items: list[RecordSet]) -> list[RecordSet]:
    return list({r.key: r for r in items}.values())


@PROPS
@given(st.lists(record_sets).map(unique_sets), st.lists(record_sets).map(unique_sets))
def test_apply_of_diff_yields_desired_for_any_record_sets(current, desired):
    assert apply_changes(current, diff(current, desired)) == sorted(desired, key=lambda r: r.key)


group_names = st.text(
    alphabet=st.characters(min_codepoint=33, max_codepoint=126, exclude_characters=";&,\"'="),
    min_size=1,
    max_size=16,
)


@PROPS
@given(st.lists(group_names, min_size=1, max_size=5), st.booleans(), st.booleans())
def test_active_groups_text_round_trips_leniently(groups, quoted, reorder):
    text = format_active_groups(groups)
    if reorder:
        version, _, rest = text.partition(";")
        text = f" {rest} ; {version} "
    if quoted:
        text = zone_file_quoted(text)
    assert parse_active_groups_txt(text) == tuple(sorted(set(groups)))


hosts = st.builds(
    lambda wild, labels: ".".join((["*"] if wild else []) + labels),
    st.booleans(),
    st.lists(st.from_regex(r"[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?", fullmatch=True), min_size=2, max_size=4),
)


@PROPS
@given(
    group_names,
    group_names,
    st.sampled_from(["A", "AAAA", "CNAME"]),
    hosts,
    st.lists(st.sampled_from(["10.0.0.1", "10.0.0.2", "x.example"]), min_size=1),
)
def test_registry_entries_round_trip(owner, group, rtype, host, targets):
    entry = RegistryEntry.build(owner=owner, group=group, rtype=rtype, host=host, targets=targets)
    parsed = parse_registry_txt(entry.txt_name, zone_file_quoted(entry.txt_value))
    assert parsed == entry
    assert parsed.hash_matches_owner
