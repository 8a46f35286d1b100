"""The policy pack (policy/) in the orchestrator's runs: measure, configure, read the verdict.

Pulumi runs the pack on the preview; the pack itself is pure and sees only the stack after
the update. What it cannot see, the orchestrator measures just before the preview and passes
in as policy config (a temporary `--policy-pack-config` file, the thresholds of
policy/config.json plus):

- `before`: the record sets in the stack's state now (for blast-radius and no-empty-hostname),
  and `activeBefore`, the groups they publish as active (for target-group-healthy);
- `measurement`: one HTTP GET of each health URL of every group being activated;
- `topologyHostnames`: the hostnames the topology still publishes (a hostname retired from
  the topology on purpose is not "left with no targets").

The engine reports violations as `policy_event`s; mandatory ones become blockers, advisory
ones warnings. The break-glass `--override-policy NAME --reason TEXT` lowers exactly that
policy to advisory for one run; the switch writes the audit event `policy.overridden`.
docs/policies.md has the whole story.

Run as `python -m orchestrator.services.policies --stack <stack> [--out FILE]` to write the config for
a preview by hand: `pulumi preview -s <stack> --policy-pack policy --policy-pack-config FILE`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import requests

import orchestrator
from orchestrator.adapters.postgres.measure import Replication
from orchestrator.adapters.postgres.measure import measure as measure_replication
from orchestrator.domain.errors import EnvironmentProblem, UsageError
from orchestrator.domain.kuadrant import FormatError, active_groups_txt_name, parse_active_groups_txt
from orchestrator.domain.topology import Topology

if TYPE_CHECKING:
    from orchestrator.adapters.files.audit import AuditLog
    from orchestrator.adapters.pulumi.stack import ProjectStack

# The pack's policies (policy/__main__.py POLICY_NAMES; a unit test keeps the two equal).
AT_LEAST_ONE_ACTIVE_GROUP = "at-least-one-active-group"
NO_EMPTY_HOSTNAME = "no-empty-hostname"
REGISTRY_CONSISTENT = "registry-consistent"
TARGET_GROUP_HEALTHY = "target-group-healthy"
BLAST_RADIUS = "blast-radius"
SINGLE_PRIMARY = "single-primary"
REPLICA_CAUGHT_UP = "replica-caught-up"
TTL_CEILING = "ttl-ceiling"
POLICY_NAMES: tuple[str, ...] = (
    AT_LEAST_ONE_ACTIVE_GROUP,
    NO_EMPTY_HOSTNAME,
    REGISTRY_CONSISTENT,
    TARGET_GROUP_HEALTHY,
    BLAST_RADIUS,
    SINGLE_PRIMARY,
    REPLICA_CAUGHT_UP,
    TTL_CEILING,
)
BASELINE_POLICIES = (NO_EMPTY_HOSTNAME, BLAST_RADIUS)

PACK_DIR_NAME = "policy"
CONFIG_NAME = "config.json"
HEALTH_TIMEOUT = 2.0
HEALTH_WORKERS = 16
ADVISORY = "advisory"
MANDATORY = "mandatory"


# --- where the pack lives, and its thresholds --------------------------------------------


def pack_dir(root: Path) -> Path:
    """The project's policy/ (the repository's, when a copy of the project has none)."""
    candidates = [root / PACK_DIR_NAME, Path(orchestrator.__file__).resolve().parents[1] / PACK_DIR_NAME]
    for candidate in candidates:
        if (candidate / "PulumiPolicy.yaml").exists():
            return candidate
    raise EnvironmentProblem(
        "the policy pack is missing",
        f"none of {', '.join(str(c) for c in candidates)} has a PulumiPolicy.yaml; every preview and "
        "switch runs the pack, and without it nothing is checked",
        "restore policy/ from the repository (`git checkout -- policy`)",
    )


def thresholds(pack: Path) -> dict[str, dict[str, Any]]:
    """policy/config.json: per policy, its enforcement level and thresholds."""
    path = pack / CONFIG_NAME
    try:
        doc = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise EnvironmentProblem(
            f"cannot read the policy thresholds {path}",
            str(exc),
            "restore policy/config.json from the repository, or fix its JSON",
        ) from exc
    return {k: (dict(v) if isinstance(v, dict) else {"enforcementLevel": v}) for k, v in doc.items()}


# --- overrides ----------------------------------------------------------------------------


def check_override(name: str | None, reason: str | None) -> dict[str, str]:
    """`--override-policy NAME --reason TEXT` as {policy: reason}; empty without an override."""
    if name is None and reason is None:
        return {}
    if name is None:
        raise UsageError(
            "--reason without --override-policy",
            "a reason explains an override; there is nothing to override",
            "add --override-policy NAME, or drop --reason",
        )
    if name not in POLICY_NAMES:
        raise UsageError(
            f"unknown policy '{name}'",
            f"the policy pack has: {', '.join(POLICY_NAMES)}",
            "use one of those names (docs/policies.md)",
        )
    if reason is None or not reason.strip():
        raise UsageError(
            f"--override-policy {name} needs --reason",
            "every override is audited with the policy, the user and the reason",
            f"add --reason 'INC-1234: why {name} may be bypassed now'",
        )
    return {name: reason.strip()}


# --- the state before the update ------------------------------------------------------------


@dataclass(frozen=True)
class Baseline:
    """The record sets in the stack's state now (the policies' `before`)."""

    records: tuple[dict[str, Any], ...] = ()

    @property
    def active(self) -> tuple[str, ...]:
        """The groups the zones' active-groups records list now."""
        groups: set[str] = set()
        for rec in self.records:
            if rec["type"] == "TXT" and rec["name"] == active_groups_txt_name(rec["zone"]):
                for value in rec["values"]:
                    try:
                        groups.update(parse_active_groups_txt(value))
                    except FormatError:
                        continue
        return tuple(sorted(groups))


def baseline_from_deployment(deployment: Mapping[str, Any] | None) -> Baseline:
    """Record sets from a `pulumi stack export` deployment (outputs: what was applied)."""
    records = []
    for res in (deployment or {}).get("resources") or []:
        if res.get("delete"):
            continue  # left over from an interrupted replace: about to go
        outs = res.get("outputs") or res.get("inputs") or {}
        if not all(k in outs for k in ("zone", "name", "type", "values")):
            continue
        values = outs["values"] if isinstance(outs["values"], list) else [outs["values"]]
        records.append(
            {
                "zone": str(outs["zone"]),
                "name": str(outs["name"]),
                "type": str(outs["type"]).upper(),
                "ttl": outs.get("ttl") if isinstance(outs.get("ttl"), int) else None,
                "values": sorted(str(v) for v in values if isinstance(v, str)),
            }
        )
    return Baseline(tuple(sorted(records, key=lambda r: (r["zone"], r["name"], r["type"]))))


def baseline_from_state(stack: ProjectStack) -> Baseline:
    from pulumi import automation as auto

    from orchestrator.adapters.pulumi.stack import translate_failure

    try:
        exported = stack.stack().export_stack()
    except auto.errors.CommandError as exc:
        raise translate_failure(exc, stack.name) from exc
    return baseline_from_deployment(exported.deployment)


# --- health of the groups being activated ------------------------------------------------------


@dataclass(frozen=True)
class HealthCheck:
    group: str
    hostname: str
    target: str
    url: str
    status: int | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    def problem(self) -> str:
        where = f"{self.group} endpoint {self.hostname} target {self.target}: {self.url}"
        return f"{where} {self.error}" if self.error else f"{where} answered {self.status}"

    def to_config(self) -> dict[str, Any]:
        out: dict[str, Any] = {"hostname": self.hostname, "target": self.target, "url": self.url}
        if self.status is not None:
            out["status"] = self.status
        if self.error:
            out["error"] = self.error
        return out


@dataclass(frozen=True)
class Measurement:
    measured_at: str
    groups: tuple[str, ...]
    checks: tuple[HealthCheck, ...] = ()

    def problems(self) -> list[str]:
        return [c.problem() for c in self.checks if not c.ok]

    def to_config(self) -> dict[str, Any]:
        return {
            "measuredAt": self.measured_at,
            "groups": {
                g: {"checks": [c.to_config() for c in self.checks if c.group == g]} for g in self.groups
            },
        }


def _utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _why_unreachable(exc: requests.RequestException, timeout: float) -> str:
    """A short, stable reason (it ends up in blockers, which the plan fingerprint covers)."""
    if isinstance(exc, requests.Timeout):
        return f"no answer within {timeout:g}s"
    text = str(exc).lower()
    for needle, reason in (
        ("connection refused", "connection refused"),
        ("name or service not known", "name not resolved"),
        ("no route to host", "no route to host"),
        ("ssl", "TLS handshake failed"),
    ):
        if needle in text:
            return reason
    return "connection failed" if isinstance(exc, requests.ConnectionError) else type(exc).__name__


def measure_health(
    topology: Topology,
    groups: Iterable[str],
    *,
    timeout: float = HEALTH_TIMEOUT,
    get: Callable[..., Any] = requests.get,
) -> Measurement:
    """One GET of each health URL of `groups` (in parallel; each URL once)."""
    wanted = tuple(sorted(set(groups)))
    jobs = [
        (g.name, ep.hostname, target, url)
        for g in topology.groups
        if g.name in wanted
        for ep in g.endpoints
        for target, url in ep.health_urls()
    ]
    measured_at = _utc_now()  # when it started: the age check errs on the safe side

    def probe(url: str) -> tuple[int | None, str | None]:
        try:
            return int(get(url, timeout=timeout).status_code), None
        except requests.RequestException as exc:
            return None, f"unreachable ({_why_unreachable(exc, timeout)})"

    urls = sorted({url for *_, url in jobs})
    results: dict[str, tuple[int | None, str | None]] = {}
    if urls:
        with ThreadPoolExecutor(max_workers=min(HEALTH_WORKERS, len(urls))) as pool:
            results = dict(zip(urls, pool.map(probe, urls), strict=True))
    checks = tuple(HealthCheck(g, host, target, url, *results[url]) for g, host, target, url in jobs)
    return Measurement(measured_at=measured_at, groups=wanted, checks=checks)


# --- the config the pack gets -----------------------------------------------------------------


def build_config(
    limits: Mapping[str, Mapping[str, Any]],
    *,
    baseline: Baseline | None,
    measurement: Measurement | None,
    topology_hostnames: Iterable[str] | None,
    overrides: Mapping[str, str] | None = None,
    replication: Replication | None = None,
    mode: str = "planned",
) -> dict[str, dict[str, Any]]:
    """policy/config.json plus the run's measurements and overrides (Pulumi's config format)."""
    config: dict[str, dict[str, Any]] = {k: dict(v) for k, v in limits.items()}
    for name in POLICY_NAMES:
        config.setdefault(name, {})
    if baseline is not None:
        before = [dict(r) for r in baseline.records]
        for name in BASELINE_POLICIES:
            config[name]["before"] = before
        config[TARGET_GROUP_HEALTHY]["activeBefore"] = list(baseline.active)
    if topology_hostnames is not None:
        config[NO_EMPTY_HOSTNAME]["topologyHostnames"] = sorted(set(topology_hostnames))
    if measurement is not None:
        config[TARGET_GROUP_HEALTHY]["measurement"] = measurement.to_config()
    if replication is not None:
        config[REPLICA_CAUGHT_UP]["replication"] = replication.to_config()
    config[REPLICA_CAUGHT_UP]["mode"] = mode
    for name in overrides or {}:
        config[name]["enforcementLevel"] = ADVISORY
    return config


# --- what the engine reported ------------------------------------------------------------------


@dataclass(frozen=True)
class Violation:
    policy: str
    level: str  # mandatory | advisory (as the engine reports it)
    message: str
    urn: str | None = None

    @property
    def mandatory(self) -> bool:
        return self.level in (MANDATORY, "remediate")


def violations_from_events(events: Iterable[Any]) -> list[Violation]:
    """The policy violations among engine events, in order, without repeats.

    The engine's message is the policy's description, a newline, then the violation's own
    message: only the latter is kept.
    """
    out: list[Violation] = []
    for ev in events:
        pe = getattr(ev, "policy_event", None)
        if pe is None:
            continue
        lines = [ln.strip() for ln in (pe.message or "").splitlines() if ln.strip()]
        message = " ".join(lines[1:]) if len(lines) > 1 else "".join(lines)
        level = str(pe.enforcement_level or "").lower()
        v = Violation(pe.policy_name, level, message, pe.resource_urn or None)
        if v not in out:
            out.append(v)
    return out


@dataclass(frozen=True)
class Verdict:
    blockers: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    overridden: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # policy -> let through
    violations: tuple[Violation, ...] = ()


def verdict(violations: Iterable[Violation], overrides: Mapping[str, str] | None = None) -> Verdict:
    overrides = overrides or {}
    blockers, warnings = [], []
    overridden: dict[str, list[str]] = {name: [] for name in overrides}
    seen = tuple(violations)
    for v in seen:
        if v.policy in overrides:
            warnings.append(f"policy {v.policy} OVERRIDDEN ({overrides[v.policy]}): {v.message}")
            overridden[v.policy].append(v.message)
        elif v.mandatory:
            blockers.append(f"policy {v.policy}: {v.message}")
        else:
            warnings.append(f"policy {v.policy} ({v.level or ADVISORY}): {v.message}")
    return Verdict(
        blockers=tuple(blockers),
        warnings=tuple(warnings),
        overridden={k: tuple(v) for k, v in overridden.items()},
        violations=seen,
    )


# --- one run of the pack --------------------------------------------------------------------------


@dataclass
class PolicyRun:
    """Everything a preview needs to run the pack, and what was measured for it."""

    pack: Path
    config_file: Path
    config: dict[str, dict[str, Any]]
    baseline: Baseline
    measurement: Measurement
    overrides: dict[str, str]

    @property
    def packs(self) -> list[str]:
        return [str(self.pack)]

    @property
    def configs(self) -> list[str]:
        return [str(self.config_file)]

    def verdict(self, events: Iterable[Any]) -> Verdict:
        return verdict(violations_from_events(events), self.overrides)


@contextmanager
def policy_run(
    root: Path,
    stack: ProjectStack,
    topology: Topology,
    active: Iterable[str],
    overrides: Mapping[str, str] | None = None,
    mode: str = "planned",
) -> Iterator[PolicyRun]:
    """Measure now (state, health of the groups `active` adds, replication of the database
    pairs), write the config, clean up after."""
    pack = pack_dir(root)
    limits = thresholds(pack)
    baseline = baseline_from_state(stack)
    activating = set(active) - set(baseline.active)
    measurement = measure_health(topology, activating)
    config = build_config(
        limits,
        baseline=baseline,
        measurement=measurement,
        topology_hostnames=topology.hostnames(),
        overrides=overrides,
        replication=measure_replication(topology.databases) if topology.databases else None,
        mode=mode,
    )
    fd, name = tempfile.mkstemp(prefix=f"policy-config.{stack.name}.", suffix=".json")
    try:
        with os.fdopen(fd, "w") as out:
            json.dump(config, out, indent=1, sort_keys=True)
        yield PolicyRun(pack, Path(name), config, baseline, measurement, dict(overrides or {}))
    finally:
        os.unlink(name)


def audit_overrides(
    audit: AuditLog,
    overrides: Mapping[str, str],
    result: Verdict,
    *,
    stack: str,
    mode: str,
    switch_id: str | None = None,
) -> None:
    """One `policy.overridden` event per override: the policy, the reason, what it let through."""
    from orchestrator.adapters.files import audit as ev

    for policy, reason in overrides.items():
        audit.append(
            ev.POLICY_OVERRIDDEN,
            switch_id=switch_id,
            stack=stack,
            policy=policy,
            reason=reason,
            mode=mode,
            violations=list(result.overridden.get(policy, ())),
        )


# --- by hand ------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    """Write the policy config for a preview by hand (measured now, valid for a few minutes)."""
    from orchestrator.adapters.files.paths import project_root
    from orchestrator.adapters.pulumi.stack import ProjectStack
    from orchestrator.domain.errors import OrchestratorError
    from orchestrator.services.deploy import load

    parser = argparse.ArgumentParser(
        prog="python -m orchestrator.services.policies", description=main.__doc__
    )
    parser.add_argument("--stack", "-s", default="local")
    parser.add_argument("--out", "-o", help="file to write (default: stdout)")
    args = parser.parse_args(argv)
    try:
        root = project_root()
        topology, active = load(root, args.stack)
        with policy_run(root, ProjectStack(root, args.stack), topology, active) as run:
            text = json.dumps(run.config, indent=1, sort_keys=True) + "\n"
    except OrchestratorError as err:
        print(err.render(), file=sys.stderr)
        return err.exit_code
    if args.out:
        Path(args.out).write_text(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
