"""The HealthReport and the LastSwitchoverHealthy condition (pure data, JSON round-trip).

A check reports one of four statuses. True and False are verdicts; Unknown means the
check could not decide (a vantage without an answer path, an unreadable history);
Deferred means there is nothing it can check yet (no database pairs). A check never
passes by default: a status other than True is never turned into True.

The condition aggregates the checks, Kubernetes style: `False` when any check is False,
else `Unknown` when any check is Unknown (or none ran), else `True`. Deferred checks do
not block True but are named in the summary.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from orchestrator.domain.topology import Topology

TRUE = "True"
FALSE = "False"
UNKNOWN = "Unknown"
DEFERRED = "Deferred"
STATUSES: tuple[str, ...] = (TRUE, FALSE, UNKNOWN, DEFERRED)
CONDITION_STATUSES: tuple[str, ...] = (TRUE, FALSE, UNKNOWN)

REPLICAS_HEALTHY = "replicas-healthy"
DNS_PROBES = "dns-probes"
LATENCY_NORMAL = "latency-normal"
AUDIT_POSTED = "audit-posted"
# The fixed order of DESIGN.md ("Health after a switch").
CHECKS: tuple[str, ...] = (REPLICAS_HEALTHY, DNS_PROBES, LATENCY_NORMAL, AUDIT_POSTED)

CONDITION_TYPE = "LastSwitchoverHealthy"
FORMAT_VERSION = 1
SUMMARY_MAX = 400


def one_line(text: str, limit: int = SUMMARY_MAX) -> str:
    """Summaries are one line: newlines folded, long text cut with an ellipsis."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


@dataclass(frozen=True)
class CheckResult:
    name: str
    status: str
    summary: str
    details: tuple[str, ...] = ()  # one line per notable observation (failures first)
    data: dict[str, Any] = field(default_factory=dict, compare=False)  # probes, latencies (JSON)
    duration_s: float = 0.0

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"check status {self.status!r} is not one of {', '.join(STATUSES)}")
        object.__setattr__(self, "summary", one_line(self.summary))
        object.__setattr__(self, "duration_s", round(float(self.duration_s), 3))

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["details"] = list(self.details)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CheckResult:
        return cls(
            name=str(data["name"]),
            status=str(data["status"]),
            summary=str(data.get("summary", "")),
            details=tuple(str(d) for d in data.get("details") or ()),
            data=dict(data.get("data") or {}),
            duration_s=float(data.get("duration_s") or 0.0),
        )


@dataclass(frozen=True)
class Condition:
    """`LastSwitchoverHealthy`: status True/False/Unknown, a reason and a one-line message."""

    status: str
    reason: str
    message: str
    last_transition_time: str | None = None
    switch_id: str | None = None
    checked_at: str | None = None
    type: str = CONDITION_TYPE

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "status": self.status,
            "reason": self.reason,
            "message": self.message,
            "lastTransitionTime": self.last_transition_time,
            "switchId": self.switch_id,
            "checkedAt": self.checked_at,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Condition:
        return cls(
            status=str(data["status"]),
            reason=str(data.get("reason", "")),
            message=str(data.get("message", "")),
            last_transition_time=data.get("lastTransitionTime"),
            switch_id=data.get("switchId"),
            checked_at=data.get("checkedAt"),
        )

    def line(self) -> str:
        """The one line `status` prints."""
        return f"{self.type}={self.status}: {self.message}"


NO_REPORT = Condition(
    status=UNKNOWN,
    reason="NoHealthReport",
    message="no health report yet: run `orchestrator health` or finish a switch",
)


def aggregate(checks: list[CheckResult] | tuple[CheckResult, ...]) -> tuple[str, str, str]:
    """(status, reason, one-line message) of the condition for these check results."""
    failed = [c for c in checks if c.status == FALSE]
    unknown = [c for c in checks if c.status == UNKNOWN]
    passed = [c for c in checks if c.status == TRUE]
    deferred = [c for c in checks if c.status == DEFERRED]
    if failed:
        head = "; ".join(f"{c.name} False: {c.summary}" for c in failed)
        return FALSE, "CheckFailed", one_line(head)
    if unknown or not passed:
        if unknown:
            head = "; ".join(f"{c.name} Unknown: {c.summary}" for c in unknown)
        else:
            head = "no check could run"
        return UNKNOWN, "CheckUnknown", one_line(head)
    text = f"{len(passed)} of {len(checks)} checks passed ({', '.join(c.name for c in passed)})"
    if deferred:
        text += "; deferred: " + ", ".join(f"{c.name} ({c.summary})" for c in deferred)
    return TRUE, "ChecksPassed", one_line(text)


@dataclass(frozen=True)
class HealthReport:
    stack: str
    switch_id: str | None
    fingerprint: str | None
    from_groups: tuple[str, ...]
    to_groups: tuple[str, ...]
    started_at: str
    finished_at: str
    checks: tuple[CheckResult, ...]
    condition: Condition

    def check(self, name: str) -> CheckResult:
        for c in self.checks:
            if c.name == name:
                return c
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT_VERSION,
            "kind": "HealthReport",
            "stack": self.stack,
            "switch_id": self.switch_id,
            "fingerprint": self.fingerprint,
            "from_groups": list(self.from_groups),
            "to_groups": list(self.to_groups),
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "checks": [c.to_dict() for c in self.checks],
            "condition": self.condition.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> HealthReport:
        if data.get("format") != FORMAT_VERSION or data.get("kind") != "HealthReport":
            raise ValueError(f"not a HealthReport of format {FORMAT_VERSION}")
        return cls(
            stack=str(data["stack"]),
            switch_id=data.get("switch_id"),
            fingerprint=data.get("fingerprint"),
            from_groups=tuple(data.get("from_groups") or ()),
            to_groups=tuple(data.get("to_groups") or ()),
            started_at=str(data["started_at"]),
            finished_at=str(data["finished_at"]),
            checks=tuple(CheckResult.from_dict(c) for c in data.get("checks") or ()),
            condition=Condition.from_dict(data["condition"]),
        )


@dataclass(frozen=True)
class HealthTarget:
    """One health URL of a group, and every hostname whose target it is."""

    url: str
    group: str
    target: str
    hostnames: tuple[str, ...]

    def label(self) -> str:
        return f"{self.group} endpoint {', '.join(self.hostnames)} target {self.target} ({self.url})"


def health_targets(topology: Topology, groups: tuple[str, ...]) -> list[HealthTarget]:
    """Unique health URLs of the groups' endpoints, with the hostnames each one serves."""
    found: dict[str, tuple[str, str, list[str]]] = {}
    for group in topology.groups:
        if group.name not in groups:
            continue
        for ep in group.endpoints:
            for target, url in ep.health_urls():
                entry = found.setdefault(url, (group.name, target, []))
                if ep.hostname not in entry[2]:
                    entry[2].append(ep.hostname)
    return [HealthTarget(url, g, t, tuple(sorted(h))) for url, (g, t, h) in sorted(found.items())]
