"""One run of the pack: measure now, write the config file Pulumi reads, clean up after."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orchestrator.domain.topology import Topology
from orchestrator.ports.audit import POLICY_OVERRIDDEN, AuditSink
from orchestrator.services.parts import Parts, installed
from orchestrator.services.policies.baseline import Baseline, baseline_from_state
from orchestrator.services.policies.config import build_config
from orchestrator.services.policies.measurement import Measurement, measure_health
from orchestrator.services.policies.pack import pack_dir, thresholds
from orchestrator.services.policies.verdict import Verdict, verdict, violations_from_events


@dataclass
class PolicyRun:
    """Everything a preview needs to run the pack, and what was measured for it."""

    pack: Path
    config_file: Path
    config: dict[str, dict[str, Any]]
    baseline: Baseline
    measurement: Measurement
    overrides: dict[str, str]
    topology: Topology | None = None
    parts: Parts | None = None

    @property
    def packs(self) -> list[str]:
        return [str(self.pack)]

    @property
    def configs(self) -> list[str]:
        return [str(self.config_file)]

    def verdict(self, events: Iterable[Any]) -> Verdict:
        return verdict(violations_from_events(events), self.overrides)

    def health_problems(self, groups: Iterable[str]) -> list[str]:
        """Health of more groups, measured now with the same probe (advice for the dry-run)."""
        wanted = tuple(groups)
        if not wanted or self.topology is None:
            return []
        return measure_health(self.topology, wanted, probe=(self.parts or installed()).http_probe).problems()


@contextmanager
def policy_run(
    root: Path,
    stack: Any,
    topology: Topology,
    active: Iterable[str],
    overrides: Mapping[str, str] | None = None,
    mode: str = "planned",
    parts: Parts | None = None,
    baseline: Baseline | None = None,
) -> Iterator[PolicyRun]:
    """Measure now (state, health of the groups `active` adds, replication of the database
    pairs), write the config, clean up after. `stack` is the stack's engine (Parts.stack_engine).
    `baseline`: the state before the update, when the caller read it already."""
    parts = parts or installed()
    name = stack.name
    pack = pack_dir(root)
    limits = thresholds(pack)
    if baseline is None:
        baseline = baseline_from_state(stack, parts.stack_state)
    activating = set(active) - set(baseline.active)
    measurement = measure_health(topology, activating, probe=parts.http_probe)
    config = build_config(
        limits,
        baseline=baseline,
        measurement=measurement,
        topology_hostnames=topology.hostnames(),
        overrides=overrides,
        replication=parts.replication(topology.databases) if topology.databases else None,
        mode=mode,
    )
    fd, path = tempfile.mkstemp(prefix=f"policy-config.{name}.", suffix=".json")
    try:
        with os.fdopen(fd, "w") as out:
            json.dump(config, out, indent=1, sort_keys=True)
        yield PolicyRun(
            pack, Path(path), config, baseline, measurement, dict(overrides or {}), topology, parts
        )
    finally:
        os.unlink(path)


def audit_overrides(
    audit: AuditSink,
    overrides: Mapping[str, str],
    result: Verdict,
    *,
    stack: str,
    mode: str,
    switch_id: str | None = None,
) -> None:
    """One `policy.overridden` event per override: the policy, the reason, what it let through."""
    for policy, reason in overrides.items():
        audit.append(
            POLICY_OVERRIDDEN,
            switch_id=switch_id,
            stack=stack,
            policy=policy,
            reason=reason,
            mode=mode,
            violations=list(result.overridden.get(policy, ())),
        )
