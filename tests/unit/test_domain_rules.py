"""One record-set type, one reader of the TXT bookkeeping, the safety rules written once.

The switch plan's blockers and the policy pack's findings come from the same functions
(orchestrator.domain.rules), and status, metrics, the policy run and the pack read the
active-groups and registry records through orchestrator.domain.kuadrant.
"""

from __future__ import annotations

import ast
from pathlib import Path

from orchestrator.adapters.dns.registry import CLOUD_PROVIDERS, LOCAL_PROVIDERS
from orchestrator.domain import policies
from orchestrator.domain.kuadrant import (
    RegistryEntry,
    ValueCountError,
    active_groups_by_zone,
    active_groups_key,
    active_groups_of,
    active_groups_record,
    is_active_groups,
    is_hostname,
    is_registry,
    registry_entries,
    registry_record,
)
from orchestrator.domain.providers import PROVIDERS
from orchestrator.domain.records import RecordSet
from orchestrator.domain.rules import hostnames_left_empty, leaves_no_active_group
from orchestrator.domain.switch.plan import EndpointChange, build_plan

REPO = Path(__file__).resolve().parents[2]
Z = "app.example.test"
# The dynamic provider is being replaced by the provider plugin (another change); not edited here.
BEING_REPLACED = {REPO / "orchestrator/adapters/pulumi/dynamic.py"}


def _entry(group: str, targets: tuple[str, ...]) -> RecordSet:
    entry = RegistryEntry.build(owner="o-1", group=group, rtype="A", host=f"www.{Z}", targets=targets)
    return registry_record(Z, entry, 60)


def test_the_bookkeeping_records_are_written_and_read_by_one_module() -> None:
    active = active_groups_record(Z, ["group-b", "group-a", "group-a"], 60)
    assert active.key == active_groups_key(Z) == f"{Z}/kuadrant-active-groups.{Z}/TXT"
    assert active.values == ("version=1;groups=group-a&&group-b",)
    host = RecordSet(Z, f"www.{Z}", "A", 60, ("127.0.10.1",))
    reg = _entry("group-a", ("127.0.10.1",))
    assert [is_active_groups(r) for r in (active, host, reg)] == [True, False, False]
    assert [is_registry(r) for r in (active, host, reg)] == [False, False, True]
    assert [is_hostname(r) for r in (active, host, reg)] == [False, True, False]
    assert active_groups_of([active, host, reg]) == ("group-a", "group-b")
    ((rec, entry),) = list(registry_entries([active, host, reg]))
    assert rec is reg and isinstance(entry, RegistryEntry) and entry.group == "group-a"


def test_an_unreadable_bookkeeping_record_is_reported_not_skipped() -> None:
    two = RecordSet(Z, f"kuadrant-active-groups.{Z}", "TXT", 60, ("version=1;groups=a", "version=1;groups=b"))
    bad = RecordSet("other.test", "kuadrant-active-groups.other.test", "TXT", 60, ("version=2;groups=a",))
    sets, problems = active_groups_by_zone([two, bad])
    assert sets == {Z: None, "other.test": None}
    assert isinstance(problems[0][1], ValueCountError) and "has 2 values" in str(problems[0][1])
    assert "version '2'" in str(problems[1][1])
    empty_reg = RecordSet(Z, _entry("group-a", ("127.0.10.1",)).name, "TXT", 60, ())
    ((_, why),) = list(registry_entries([empty_reg]))
    assert isinstance(why, ValueCountError)


def test_the_rules_decide_for_the_plan_and_the_pack_alike() -> None:
    assert leaves_no_active_group([]) and leaves_no_active_group(["", ""])
    assert not leaves_no_active_group(["group-b"])
    a, aaaa = (RecordSet(Z, f"www.{Z}", t, 60, (v,)) for t, v in (("A", "127.0.10.1"), ("AAAA", "::1")))
    legacy = RecordSet(Z, f"legacy.{Z}", "A", 60, ("127.0.10.9",))
    # A name still served by another type is not left empty; one served by nothing is.
    assert hostnames_left_empty([a, aaaa, legacy], [a]) == [legacy]
    assert hostnames_left_empty([a, aaaa, legacy], [a], still_published={f"www.{Z}"}) == []
    # The plan refuses exactly what the rule finds, and an override of the policy lowers it.
    gone = EndpointChange("DELETE", Z, f"legacy.{Z}", "A", ("127.0.10.9",), ())
    common = dict(stack="s", kind="switch", mode="planned", from_groups=("group-a",), changes=[gone])
    plan = build_plan(to_groups=("group-b",), **common)  # type: ignore[arg-type]
    assert plan.blockers == (
        f"legacy.{Z} A would be left with no targets "
        "(only the groups being deactivated publish it: 127.0.10.9)",
    )
    override = {"no-empty-hostname": "INC-1"}
    lowered = build_plan(to_groups=("group-b",), overrides=override, **common)  # type: ignore[arg-type]
    assert lowered.blockers == () and lowered.warnings[0].startswith("OVERRIDDEN (no-empty-hostname: INC-1)")
    nothing = build_plan(to_groups=(), overrides=override, **common)  # type: ignore[arg-type]
    assert "leaves no active group" in nothing.blockers[0]  # not overridable


def test_the_policy_names_are_listed_once_and_the_registry_covers_every_provider() -> None:
    assert tuple(p.name for p in policies.POLICIES) == policies.POLICY_NAMES
    assert {policies.AT_LEAST_ONE_ACTIVE_GROUP, policies.NO_EMPTY_HOSTNAME} <= set(policies.POLICY_NAMES)
    assert sorted(LOCAL_PROVIDERS + CLOUD_PROVIDERS) == sorted(PROVIDERS)
    assert not set(LOCAL_PROVIDERS) & set(CLOUD_PROVIDERS)


def test_no_module_writes_the_kuadrant_prefix_or_a_record_key_by_hand() -> None:
    """The `kuadrant-` prefix lives in domain/kuadrant.py, the `zone/name/type` key in records.py."""
    offenders = []
    for path in (REPO / "orchestrator").rglob("*.py"):
        if path.name in ("kuadrant.py", "records.py") or "devenv" in path.parts or path in BEING_REPLACED:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and node.value.startswith("kuadrant-")
            ):
                offenders.append(f"{path.relative_to(REPO)}:{node.lineno}")
            if isinstance(node, ast.JoinedStr) and isinstance(node.values[0], ast.FormattedValue):
                # `f"{zone}/{name}/{type}"` or `f"{zone}/{name}/TXT"`: a record key written by hand
                parts = [v.value for v in node.values if isinstance(v, ast.Constant)]
                if len(parts) == 2 and all(str(p).startswith("/") for p in parts):
                    offenders.append(f"{path.relative_to(REPO)}:{node.lineno}")
    assert offenders == []
