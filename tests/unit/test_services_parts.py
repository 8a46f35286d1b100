"""Services receive their adapters (orchestrator/services/parts.py): fakes in, no servers needed.

`status`, `deploy.load`, the policy run's baseline and the health store go through the ports;
these tests give them fakes and check that the service uses exactly what it was given.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from orchestrator.domain.desired import desired_state
from orchestrator.domain.errors import EnvironmentProblem
from orchestrator.domain.health import NO_REPORT
from orchestrator.domain.records import RecordSet
from orchestrator.domain.topology import Topology
from orchestrator.interfaces.wiring import real_parts
from orchestrator.services import parts as parts_module
from orchestrator.services.deploy import load
from orchestrator.services.parts import Parts, installed
from orchestrator.services.policies import baseline_from_state
from orchestrator.services.status import build_status, status_for_stack
from tests.unit.test_health import topo


def _fake(**overrides: Any) -> Parts:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        pytest.fail(f"an adapter the test did not give was used: {args} {kwargs}")

    names = {f.name for f in dataclasses.fields(Parts)}
    return Parts(**{name: overrides.get(name, refuse) for name in names})


class _Store:
    def condition_for(self, root: Path, stack: str) -> Any:
        return NO_REPORT


def test_status_reads_the_live_zones_through_the_port_it_is_given() -> None:
    topology = topo()
    served = desired_state(topology, ("group-a",)).by_key()
    seen: list[Topology] = []

    def live(t: Topology) -> dict[str, RecordSet]:
        seen.append(t)
        return served

    parts = _fake(live_zone=live, resolver=lambda: None)
    report = build_status(topology, ("group-a",), "s", parts=parts)
    assert seen == [topology] and report["in_sync"], report["problems"]
    drifted = build_status(topology, ("group-b",), "s", parts=parts)
    assert not drifted["in_sync"]
    assert (
        "zone app.example.test publishes active groups ['group-a'], the stack says ['group-b']"
        in (drifted["problems"])
    )


def test_status_for_a_stack_takes_config_live_zones_and_health_from_the_parts(tmp_path: Path) -> None:
    raw = {
        "orchestrator:topology": {
            "zones": [{"name": "app.example.test", "provider": "powerdns", "settings": {"server": "dev"}}],
            "groups": {"group-a": {"endpoints": {"www.app.example.test": {"a": ["127.0.10.1"]}}}},
        },
        "orchestrator:activeGroups": ["group-a"],
    }
    parts = _fake(
        stack_config=lambda root, stack: (
            raw if (root, stack) == (tmp_path, "s") else pytest.fail("wrong stack")
        ),
        live_zone=lambda t: {},
        resolver=lambda: None,
        health_store=_Store(),
    )
    topology, active = load(tmp_path, "s", parts)
    assert active == ("group-a",) and topology.group_names == ("group-a",)
    report = status_for_stack(tmp_path, "s", parts=parts)
    assert report["last_switchover_healthy"] == NO_REPORT.to_dict()
    assert "www.app.example.test A: serves nothing, the stack wants ['127.0.10.1']" in report["problems"]


def test_the_policy_baseline_is_read_through_the_stack_state_port(tmp_path: Path) -> None:
    kept = {"zone": "z.test", "name": "a.z.test", "type": "A", "ttl": 30, "values": ["10.0.0.1"]}
    going = {"zone": "z.test", "name": "b.z.test", "type": "A", "values": ["1.2.3.4"]}
    deployment = {"resources": [{"outputs": kept}, {"outputs": going, "delete": True}]}
    engine = object()
    base = baseline_from_state(engine, lambda given: deployment if given is engine else None)
    assert base.records == (RecordSet("z.test", "a.z.test", "A", 30, ("10.0.0.1",)),)


def test_the_installed_parts_are_the_registered_real_ones_unless_the_interfaces_install_others(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(parts_module, "_installed", None)
    assert installed().stack_engine is real_parts().stack_engine  # found through the entry point
    fake = _fake()
    parts_module.install(fake)
    assert installed() is fake
    monkeypatch.setattr(parts_module, "_installed", None)
    monkeypatch.setattr(parts_module, "entry_points", lambda group: [])
    with pytest.raises(EnvironmentProblem, match="adapters are not registered"):
        installed()
