"""A reading of the database pairs' replication: who is primary, how far each standby lags.

Pure data, measured by orchestrator.adapters.postgres.measure (behind the ReplicationReader
port) and read by the policy run (replica-caught-up), health (replicas-healthy) and metrics.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class ClusterReading:
    group: str
    reachable: bool
    role: str  # primary | standby | fenced | unreachable | unmeasured
    error: str | None = None
    endpoint: str | None = None  # host:port
    receiver_up: bool | None = None
    sender: str | None = None  # host:port a standby streams from
    lag_bytes: int | None = None
    lag_seconds: float | None = None
    replay_paused: bool | None = None


@dataclass(frozen=True)
class PairReading:
    pair: str
    clusters: tuple[ClusterReading, ...] = field(default_factory=tuple)

    @property
    def primaries(self) -> tuple[str, ...]:
        return tuple(c.group for c in self.clusters if c.role == "primary")

    def cluster(self, group: str) -> ClusterReading | None:
        return next((c for c in self.clusters if c.group == group), None)

    def to_config(self) -> dict[str, Any]:
        return {"primaries": list(self.primaries), "clusters": {c.group: asdict(c) for c in self.clusters}}


@dataclass(frozen=True)
class Replication:
    measured_at: str
    pairs: tuple[PairReading, ...] = ()

    def pair(self, name: str) -> PairReading | None:
        return next((p for p in self.pairs if p.pair == name), None)

    def to_config(self) -> dict[str, Any]:
        return {"measuredAt": self.measured_at, "pairs": {p.pair: p.to_config() for p in self.pairs}}
