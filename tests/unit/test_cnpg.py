"""Pulumi mocks: no Kubernetes here. CNPG primary moves declared as pulumi_kubernetes resources.

`orchestrator.adapters.pulumi.cnpg` is run against a mock engine (`pulumi.runtime.set_mocks` with a
recording monitor): every registration is recorded with its type token, logical name,
inputs, provider, dependencies and the moment it started and finished, and the mock answers
the demoted side's patch with a fake `status.demotionToken`, as CNPG would publish it. The
tests prove what the orchestrator asks Pulumi to do (inputs, ordering, providers, refusals),
not that CloudNativePG or the Kubernetes provider behave as documented.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pulumi
import pytest
from pulumi.runtime.mocks import MockMonitor

from orchestrator.adapters.pulumi.cnpg import PATCH_TYPE, cnpg_primary_resources
from orchestrator.domain.databases import DatabaseCluster, DatabasePair

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "eyJmYWtlIjoiZGVtb3Rpb24tdG9rZW4ifQ=="  # what CNPG publishes is base64 JSON; any string will do
PROVIDER_TYPE = "pulumi:providers:kubernetes"
WAIT_FOR = "pulumi.com/waitFor"


@dataclass
class Registered:
    typ: str
    name: str
    inputs: dict[str, Any]
    provider: str
    dependencies: list[str]
    retain_on_delete: bool


class RecordingMonitor(MockMonitor):
    """The mock engine, recording each registration and when it started and ended."""

    def __init__(self, mocks: CnpgMocks) -> None:
        super().__init__(mocks)
        self.registered: dict[str, Registered] = {}
        self.events: list[tuple[str, str]] = []  # ("start" | "end", logical name), in order
        self._lock = threading.Lock()

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 (the gRPC method name)
        if request.type != "pulumi:pulumi:Stack":
            with self._lock:
                self.events.append(("start", request.name))
        response = super().RegisterResource(request)
        if request.type != "pulumi:pulumi:Stack":
            with self._lock:
                self.registered[request.name] = Registered(
                    request.type,
                    request.name,
                    pulumi.runtime.rpc.deserialize_properties(request.object),
                    request.provider,
                    list(request.dependencies),
                    request.retainOnDelete,
                )
                self.events.append(("end", request.name))
        return response


class CnpgMocks(pulumi.runtime.Mocks):
    """Echoes inputs; a patch that demotes its cluster also gets CNPG's status.demotionToken."""

    def __init__(self, token: str | None = TOKEN, demotion_seconds: float = 0.2) -> None:
        self.token = token
        self.demotion_seconds = demotion_seconds

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict]:
        state = dict(args.inputs)
        replica = (args.inputs.get("spec") or {}).get("replica") or {}
        if args.typ == PATCH_TYPE and replica.get("primary") != replica.get("self"):
            # The real provider returns only after waitFor is met; a slow answer here makes any
            # promotion that did not wait for it start before this one ends.
            time.sleep(self.demotion_seconds)
            state["status"] = (
                {"demotionToken": self.token} if self.token else {"phase": "Cluster in healthy state"}
            )
        return f"{args.name}-id", state

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict, list | None]:
        return {}, None


def cluster(group: str, name: str, context: str | None = None) -> DatabaseCluster:
    settings: dict[str, Any] = {"name": name, "namespace": "db"}
    if context is not None:
        settings["context"] = context
    return DatabaseCluster(group, "cnpg", MappingProxyType(settings))


PAYMENTS = DatabasePair(
    "payments", (cluster("group-a", "payments-east", "east"), cluster("group-b", "payments-west", "west"))
)


def declare(
    *pairs: tuple[DatabasePair, str, str], mocks: CnpgMocks | None = None, shared: bool = True
) -> RecordingMonitor:
    """Runs cnpg_primary_resources for each (pair, primary, mode) on mocks; returns the monitor."""
    monitor = RecordingMonitor(mocks or CnpgMocks())
    pulumi.runtime.set_mocks(monitor.mocks, preview=False, monitor=monitor)

    @pulumi.runtime.test
    def program() -> None:
        providers: dict = {}
        for pair, primary, mode in pairs:
            cnpg_primary_resources(pair, primary, mode, providers=providers if shared else None)

    program()  # returns once every registration has been answered
    return monitor


def patches(monitor: RecordingMonitor) -> dict[str, Registered]:
    return {n: r for n, r in monitor.registered.items() if r.typ == PATCH_TYPE}


def urn_of(monitor: RecordingMonitor, name: str) -> str:
    (urn,) = [u for u in monitor.resources if u.endswith(f"::{name}")]
    return urn


def replica(r: Registered) -> dict[str, Any]:
    return r.inputs["spec"]["replica"]


# --- planned switchover ---------------------------------------------------------------------


def test_patch_type_token_is_what_the_policy_pack_must_match() -> None:
    got = patches(declare((PAYMENTS, "group-b", "planned")))
    assert {r.typ for r in got.values()} == {"kubernetes:postgresql.cnpg.io/v1:ClusterPatch"}
    assert all(
        r.inputs["apiVersion"] == "postgresql.cnpg.io/v1" and r.inputs["kind"] == "Cluster"
        for r in got.values()
    )


def test_planned_threads_the_demoted_sides_token_into_the_promotion() -> None:
    got = patches(declare((PAYMENTS, "group-b", "planned")))
    assert replica(got["db-payments-group-b"])["promotionToken"] == TOKEN
    assert "promotionToken" not in replica(got["db-payments-group-a"])


def test_promotion_registers_only_after_the_demotion_resolved() -> None:
    monitor = declare((PAYMENTS, "group-b", "planned"))
    events = monitor.events
    assert events.index(("end", "db-payments-group-a")) < events.index(("start", "db-payments-group-b"))
    # and the engine is told so, for its own ordering of the update
    promote = monitor.registered["db-payments-group-b"]
    assert urn_of(monitor, "db-payments-group-a") in promote.dependencies


@pytest.mark.parametrize(
    ("primary", "promoted", "demoted"),
    [("group-a", "payments-east", "payments-west"), ("group-b", "payments-west", "payments-east")],
)
def test_self_primary_and_source_for_a_switch_in_each_direction(
    primary: str, promoted: str, demoted: str
) -> None:
    got = patches(declare((PAYMENTS, primary, "planned")))
    other = "group-b" if primary == "group-a" else "group-a"
    assert replica(got[f"db-payments-{primary}"]) == {
        "self": promoted,
        "primary": promoted,
        "source": demoted,
        "promotionToken": TOKEN,
    }
    assert replica(got[f"db-payments-{other}"]) == {"self": demoted, "primary": promoted, "source": promoted}
    assert got[f"db-payments-{primary}"].inputs["metadata"]["name"] == promoted
    assert got[f"db-payments-{other}"].inputs["metadata"]["name"] == demoted
    assert {r.inputs["metadata"]["namespace"] for r in got.values()} == {"db"}


def test_demoted_patch_waits_for_the_token_and_both_are_forced_and_labelled() -> None:
    got = patches(declare((PAYMENTS, "group-b", "planned")))
    demote, promote = got["db-payments-group-a"], got["db-payments-group-b"]
    assert demote.inputs["metadata"]["annotations"][WAIT_FOR] == "jsonpath={.status.demotionToken}"
    assert WAIT_FOR not in promote.inputs["metadata"]["annotations"]
    for group, r in (("group-a", demote), ("group-b", promote)):
        meta = r.inputs["metadata"]
        assert meta["labels"] == {"orchestrator/database-pair": "payments", "orchestrator/group": group}
        assert meta["annotations"]["pulumi.com/patchForce"] == "true"
        assert meta["annotations"]["pulumi.com/patchFieldManager"] == "orchestrator"
        assert r.retain_on_delete is True  # deleting a patch would strip spec.replica
    # status is an output only: it must never reach the provider as an input
    assert all("status" not in r.inputs for r in got.values())


def run_without_token() -> dict[str, Any]:
    """The child's side of the next test: a demotion whose status has no token."""
    monitor = RecordingMonitor(CnpgMocks(token=None, demotion_seconds=0))
    pulumi.runtime.set_mocks(monitor.mocks, preview=False, monitor=monitor)

    @pulumi.runtime.test
    def program() -> None:
        cnpg_primary_resources(PAYMENTS, "group-b")

    try:
        program()
    except Exception as exc:  # noqa: BLE001 (reported to the parent, which asserts on it)
        return {"error": str(exc), "registered": sorted(monitor.registered)}
    return {"error": None, "registered": sorted(monitor.registered)}


def test_a_demotion_without_token_never_promotes() -> None:
    # In a child interpreter: after an exception escapes a Pulumi mock program, this Python
    # (3.11) is left so that the next failing test's report crashes pytest with "SystemError:
    # AST constructor recursion depth mismatch", in whatever test file comes next.
    code = "import json; from tests.unit.test_cnpg import run_without_token as r; print(json.dumps(r()))"
    child = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120, check=True
    )
    got = json.loads(child.stdout.strip().splitlines()[-1])
    assert got["error"] and "published no status.demotionToken" in got["error"]
    assert "refusing to promote without it" in got["error"]
    assert "db-payments-group-a" in got["registered"]
    assert "db-payments-group-b" not in got["registered"]  # no token-less (failover) promotion


# --- failover -------------------------------------------------------------------------------


def test_failover_promotes_without_token_and_without_touching_the_old_primary() -> None:
    monitor = declare((PAYMENTS, "group-b", "failover"))
    got = patches(monitor)
    assert list(got) == ["db-payments-group-b"]  # the unreachable old primary is not declared
    promote = got["db-payments-group-b"]
    assert replica(promote) == {
        "self": "payments-west",
        "primary": "payments-west",
        "source": "payments-east",
    }
    assert promote.dependencies == []
    # nor is its cluster's provider: nothing in this update needs the unreachable context
    assert [n for n, r in monitor.registered.items() if r.typ == PROVIDER_TYPE] == ["k8s-west"]


# --- providers ------------------------------------------------------------------------------


def test_one_provider_per_context_and_each_patch_uses_its_own() -> None:
    monitor = declare((PAYMENTS, "group-a", "planned"))
    providers = {n: r for n, r in monitor.registered.items() if r.typ == PROVIDER_TYPE}
    assert sorted(providers) == ["k8s-east", "k8s-west"]
    assert providers["k8s-east"].inputs["context"] == "east"
    assert providers["k8s-west"].inputs["context"] == "west"
    assert all(
        p.inputs["enableServerSideApply"] == "true" for p in providers.values()
    )  # provider config is strings
    got = patches(monitor)
    assert "::k8s-east::" in got["db-payments-group-a"].provider
    assert "::k8s-west::" in got["db-payments-group-b"].provider


def test_pairs_sharing_contexts_share_their_providers() -> None:
    orders = DatabasePair(
        "orders", (cluster("group-a", "orders-east", "east"), cluster("group-b", "orders-west", "west"))
    )
    monitor = declare((PAYMENTS, "group-b", "planned"), (orders, "group-b", "planned"))
    assert sorted(n for n, r in monitor.registered.items() if r.typ == PROVIDER_TYPE) == [
        "k8s-east",
        "k8s-west",
    ]
    assert sorted(patches(monitor)) == [
        "db-orders-group-a",
        "db-orders-group-b",
        "db-payments-group-a",
        "db-payments-group-b",
    ]


def test_without_a_context_the_default_provider_is_used() -> None:
    local = DatabasePair("ledger", (cluster("group-a", "ledger-a"), cluster("group-b", "ledger-b")))
    monitor = declare((local, "group-a", "planned"))
    assert not [r for r in monitor.registered.values() if r.typ == PROVIDER_TYPE]
    assert all("::k8s-" not in r.provider for r in patches(monitor).values())


def test_returned_resources_are_keyed_by_logical_name() -> None:
    pulumi.runtime.set_mocks(CnpgMocks(demotion_seconds=0), preview=False)
    got: dict[str, pulumi.Resource] = {}

    @pulumi.runtime.test
    def program() -> None:
        got.update(cnpg_primary_resources(PAYMENTS, "group-b"))

    program()
    assert sorted(got) == ["db-payments-group-a", "db-payments-group-b", "k8s-east", "k8s-west"]
    assert all(r._name == name for name, r in got.items())  # noqa: SLF001 (the logical name, as registered)


# --- refusals -------------------------------------------------------------------------------


def refused(pair: DatabasePair, primary: str, mode: str = "planned") -> str:
    monitor = RecordingMonitor(CnpgMocks())
    pulumi.runtime.set_mocks(monitor.mocks, preview=False, monitor=monitor)
    with pytest.raises(ValueError) as info:
        cnpg_primary_resources(pair, primary, mode)
    assert monitor.registered == {}  # a refused pair declares nothing, not even a provider
    return str(info.value)


def test_a_non_cnpg_cluster_is_refused() -> None:
    mixed = DatabasePair(
        "orders",
        (
            cluster("group-a", "orders-a"),
            DatabaseCluster("group-b", "postgres", MappingProxyType({"server": "dev"})),
        ),
    )
    assert refused(mixed, "group-a") == (
        "database pair orders: cluster of group group-b is kind postgres, not cnpg; "
        "only CloudNativePG clusters are switched here"
    )


def test_an_unknown_primary_group_is_refused() -> None:
    assert "no cluster in group 'group-c' (groups: group-a, group-b)" in refused(PAYMENTS, "group-c")


def test_an_unknown_mode_is_refused() -> None:
    assert "unknown mode 'yolo' (use one of: planned, failover)" in refused(PAYMENTS, "group-b", "yolo")


def test_three_clusters_are_refused() -> None:
    three = DatabasePair("p", (cluster("group-a", "a"), cluster("group-b", "b"), cluster("group-c", "c")))
    assert "needs exactly two clusters, got 3" in refused(three, "group-a")


def test_two_clusters_with_one_name_are_refused() -> None:
    same = DatabasePair("p", (cluster("group-a", "pg", "east"), cluster("group-b", "pg", "west")))
    assert "both clusters are named 'pg'" in refused(same, "group-a")
