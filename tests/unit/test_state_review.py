"""The pull-request comment, the CI stack selection and the prune plan, without servers."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from orchestrator.services import prune as prune_module
from orchestrator.services.review import MARKER, fingerprint, markdown, override_verdict

REPO = Path(__file__).resolve().parents[2]


def load_ci_script():
    spec = importlib.util.spec_from_file_location("ci_preview", REPO / "scripts" / "ci" / "preview.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["ci_preview"] = module
    spec.loader.exec_module(module)
    return module


def report(stack: str = "prod", blockers=(), warnings=(), changes=None) -> dict:
    r = {
        "stack": stack,
        "active_groups": ["group-b"],
        "changes": changes
        if changes is not None
        else [{"action": "MODIFY", "name": "www.example.com", "type": "A", "zone": "example.com"}],
        "policy": {"blockers": list(blockers), "warnings": list(warnings)},
        "refused": bool(blockers),
    }
    r["fingerprint"] = fingerprint(r)
    return r


def test_the_comment_names_endpoints_policies_and_the_fingerprint():
    refused = report(blockers=["policy target-group-healthy: group-b has 0 healthy endpoints"])
    fine = report("staging", warnings=["policy ttl-ceiling (advisory): ttl 300 > 60"], changes=[])
    text = markdown([refused, fine])
    assert text.startswith(MARKER + "\n")
    assert "refused by the policy pack: prod" in text
    assert "### stack `prod` — REFUSED" in text and "### stack `staging` — ok" in text
    assert "| MODIFY | `www.example.com` | A | example.com |" in text
    assert "- policy target-group-healthy: group-b has 0 healthy endpoints" in text
    assert "- policy ttl-ceiling (advisory)" in text and "No endpoint changes." in text
    assert f"fingerprint `{refused['fingerprint']}`" in text


def test_the_fingerprint_covers_what_a_reviewer_approves():
    base = report()
    assert fingerprint(base) == fingerprint(report()) and len(fingerprint(base)) == 16
    assert fingerprint(report(blockers=["policy x: y"])) != fingerprint(base)
    assert fingerprint(report(changes=[])) != fingerprint(base)


def test_override_verdict_lists_what_each_override_let_through():
    r = report(warnings=["policy blast-radius OVERRIDDEN (INC-1: planned): 40% of app.example.test"])
    v = override_verdict(r, {"blast-radius": "INC-1: planned"})
    assert v.overridden == {"blast-radius": ("40% of app.example.test",)}


def test_ci_selects_changed_stacks_and_every_stack_for_program_or_policy_changes(tmp_path):
    ci = load_ci_script()
    (tmp_path / "stacks").mkdir()
    for name in ("local", "prod", "staging"):
        (tmp_path / "stacks" / f"Pulumi.{name}.yaml").write_text("config: {}\n")
    assert ci.affected_stacks(tmp_path, ["stacks/Pulumi.prod.yaml", "README.md"]) == ["prod"]
    assert ci.affected_stacks(tmp_path, ["stacks/Pulumi.gone.yaml"]) == [], "a deleted stack is not previewed"
    assert ci.affected_stacks(tmp_path, ["policy/config.json"]) == ["local", "prod", "staging"]
    assert ci.affected_stacks(tmp_path, ["orchestrator/domain/diff.py"]) == ["local", "prod", "staging"]
    assert ci.affected_stacks(tmp_path, ["docs/team.md"]) == []


def test_the_prune_plan_keeps_what_the_stack_wants(monkeypatch):
    live = {
        "stale_registry": ["z/kuadrant-a-www.z/TXT", "z/kuadrant-b-www.z/TXT"],
        "hostnames": [
            {
                "zone": "z",
                "name": "old.z",
                "type": "A",
                "served": ["1.2.3.4"],
                "expected": [],
                "drift": ["x"],
            },
            {
                "zone": "z",
                "name": "www.z",
                "type": "A",
                "served": ["9.9.9.9"],
                "expected": ["1.1.1.1"],
                "drift": ["y"],
            },
            {
                "zone": "z",
                "name": "ok.z",
                "type": "A",
                "served": ["1.1.1.1"],
                "expected": ["1.1.1.1"],
                "drift": [],
            },
        ],
    }

    class Desired:
        def by_key(self):
            return {"z/kuadrant-a-www.z/TXT": None, "z/www.z/A": None}

    monkeypatch.setattr(prune_module, "build_status", lambda *a: live)
    monkeypatch.setattr(prune_module, "desired_state", lambda *a: Desired())
    plan = prune_module.plan_prune(None, ("a",), "s")
    assert [lo.key for lo in plan.leftovers] == ["z/kuadrant-b-www.z/TXT", "z/old.z/A"]
    assert plan.leftovers[1].values == ("1.2.3.4",)
    assert sorted(plan.left_to_up) == ["z/kuadrant-a-www.z/TXT", "z/www.z/A"]


def test_prune_refuses_during_an_unfinished_switch_before_taking_the_lease():
    class NoLease:
        def acquire(self, *a, **k):
            raise AssertionError("must not be taken")

    with pytest.raises(Exception, match="unfinished") as err:
        prune_module.prune(
            Path("."),
            "s",
            lease=NoLease(),
            audit=None,
            client_for=None,
            unfinished_switch="sw-20261121T101500Z-a1b2c3",
            echo=print,
        )
    assert err.value.exit_code == 5 and "--resume" in err.value.fix
