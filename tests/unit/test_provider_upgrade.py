"""The state upgrade from the previous version's dynamic resources (a real exported state)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from orchestrator.adapters.pulumi.provider import DYNAMIC_TYPE, PRIMARY_TYPE, RECORD_SET_TYPE
from orchestrator.adapters.pulumi.provider.upgrade import PROVIDER_TYPE, upgrade_deployment
from orchestrator.domain.errors import ConflictError

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "previous-version-state.json"


def previous() -> dict:
    return json.loads(FIXTURE.read_text())["deployment"]


def test_every_dynamic_record_set_moves_to_the_typed_resource_with_its_name_and_id():
    old = previous()
    new, moved = upgrade_deployment(old)
    olds = {r["urn"].rsplit("::", 1)[1]: r for r in old["resources"] if r["type"] == DYNAMIC_TYPE}
    news = {r["urn"].rsplit("::", 1)[1]: r for r in new["resources"] if r["type"] == RECORD_SET_TYPE}
    assert moved == len(olds) == len(news) == 8
    for name, res in news.items():
        assert res["id"] == olds[name]["id"] == name
        assert res["urn"] == olds[name]["urn"].replace(DYNAMIC_TYPE, RECORD_SET_TYPE)
        assert "__provider" not in res["inputs"] and "__provider" not in res["outputs"]
        assert res["outputs"]["values"] == olds[name]["outputs"]["values"]
    assert old["resources"][2]["type"] == DYNAMIC_TYPE  # the input is left as it was


def test_the_project_provider_replaces_the_dynamic_one():
    new, _ = upgrade_deployment(previous())
    providers = [r for r in new["resources"] if r["type"].startswith("pulumi:providers:")]
    assert [p["type"] for p in providers] == [PROVIDER_TYPE]
    ref = f"{providers[0]['urn']}::{providers[0]['id']}"
    assert all(r["provider"] == ref for r in new["resources"] if r["type"] == RECORD_SET_TYPE)
    urns = [r["urn"] for r in new["resources"]]
    assert urns.index(providers[0]["urn"]) < min(
        i for i, r in enumerate(new["resources"]) if r["type"] == RECORD_SET_TYPE
    )  # a provider precedes what it serves


def test_a_database_side_moves_and_references_follow_it():
    doc = previous()
    stack_urn = doc["resources"][0]["urn"]
    provider = doc["resources"][2]["provider"]
    base = stack_urn.split("::pulumi:pulumi:Stack::")[0]
    replica = f"{base}::{DYNAMIC_TYPE}::db-orders-group-b"
    promoted = f"{base}::{DYNAMIC_TYPE}::db-orders-group-a"
    props = {"databasePair": "orders", "primary": False, "primaryGroup": "group-a", "settings": {}}
    common = {"type": DYNAMIC_TYPE, "provider": provider, "parent": stack_urn}
    doc["resources"] += [
        dict(
            common,
            urn=replica,
            id="orders/group-b",
            inputs=dict(props, group="group-b", __provider="x"),
            outputs=dict(props, group="group-b"),
        ),
        dict(
            common,
            urn=promoted,
            id="orders/group-a",
            inputs=dict(props, group="group-a", primary=True),
            outputs=dict(props, group="group-a"),
            dependencies=[replica],
            propertyDependencies={"promotionTokens": [replica]},
        ),
    ]
    new, moved = upgrade_deployment(doc)
    assert moved == 10
    byname = {r["urn"].rsplit("::", 1)[1]: r for r in new["resources"]}
    side = byname["db-orders-group-a"]
    assert side["type"] == PRIMARY_TYPE
    assert side["dependencies"] == [byname["db-orders-group-b"]["urn"]]
    assert side["propertyDependencies"]["promotionTokens"] == [byname["db-orders-group-b"]["urn"]]
    assert side["parent"] == stack_urn


def test_an_upgraded_state_is_left_alone_and_an_interrupted_one_is_refused():
    once, _ = upgrade_deployment(previous())
    twice, moved = upgrade_deployment(once)
    assert moved == 0 and twice == once
    interrupted = dict(previous(), pending_operations=[{"op": "updating"}])
    with pytest.raises(ConflictError, match="interrupted operations"):
        upgrade_deployment(interrupted)


def test_the_fixture_holds_no_secret_and_no_local_path():
    text = FIXTURE.read_text()
    assert "/tmp/" not in text and "/root/" not in text and "api_key" not in text.lower()
    # The pickled providers (a class reference, no credential) are dropped by the upgrade.
    assert "__provider" in text and "orchestrator.providers.dynamic" not in text
    assert "__provider" not in json.dumps(upgrade_deployment(previous())[0])
