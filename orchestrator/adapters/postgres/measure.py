"""Replication of each database pair, measured now: who is primary, how far each standby lags.

One reading serves the policy pack (replica-caught-up), health (replicas-healthy) and the
metrics. Lag in bytes is the primary's current WAL position minus the standby's replay
position; in seconds, the age of the last replayed commit when bytes are outstanding (0
when caught up). A WAL receiver that is down makes the lag unknowable: it is reported as
such, never as 0. CloudNativePG pairs are not measured here (no Kubernetes access).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path

from orchestrator.adapters.local import local_environment
from orchestrator.adapters.postgres import pg
from orchestrator.domain.databases import DatabasePair
from orchestrator.domain.replication import ClusterReading, PairReading, Replication
from orchestrator.ports.replication import ReplicationReader, WriteProbe

__all__ = ["ClusterReading", "PairReading", "Replication", "dev_locator", "local_database_io", "measure"]


Locate = Callable[[DatabasePair, str], "pg.Endpoint | None"]
Fenced = Callable[[DatabasePair, str], bool]


def dev_locator(state_dir: Path | None = None) -> tuple[Locate, Fenced]:
    """Endpoints and fence markers of the local pair (`server: dev`), from the local environment."""
    env = local_environment(state_dir)

    def locate(pair: DatabasePair, group: str) -> pg.Endpoint | None:
        if pair.cluster(group).kind != "postgres":
            return None
        place = env.postgres_endpoint(group)
        return pg.Endpoint(place.host, place.port, place.user, place.password, place.dbname)

    def fenced(pair: DatabasePair, group: str) -> bool:
        return pair.cluster(group).kind == "postgres" and env.postgres_fenced(group)

    return locate, fenced


def measure(
    pairs: Iterable[DatabasePair], locate: Locate | None = None, fenced: Fenced | None = None
) -> Replication:
    pairs = tuple(pairs)
    measured_at = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    if pairs and (locate is None or fenced is None):
        locate, fenced = dev_locator()
    return Replication(measured_at, tuple(_pair(p, locate, fenced) for p in pairs))  # type: ignore[arg-type]


def _pair(pair: DatabasePair, locate: Locate, fenced: Fenced) -> PairReading:
    endpoints = {c.group: locate(pair, c.group) for c in pair.clusters}
    roles: dict[str, pg.Role | None] = {}
    errors: dict[str, str] = {}
    for group, ep in endpoints.items():
        if ep is None:
            continue
        try:
            roles[group] = pg.role(ep)
        except pg.Unreachable as exc:
            roles[group], errors[group] = None, str(exc)
    primary_lsn: int | None = None
    for group, r in roles.items():
        if r is not None and not r.in_recovery:
            try:
                primary_lsn = pg.current_lsn(endpoints[group])  # type: ignore[arg-type]
            except pg.Unreachable:
                primary_lsn = None
    readings = []
    for c in pair.clusters:
        ep = endpoints[c.group]
        if ep is None:
            readings.append(
                ClusterReading(c.group, False, "unmeasured", "not measured locally (CloudNativePG)")
            )
            continue
        r = roles.get(c.group)
        if r is None:  # a fenced instance that is down is still fenced: say so (with the rebuild hint)
            role = "fenced" if fenced(pair, c.group) else "unreachable"
            readings.append(ClusterReading(c.group, False, role, errors.get(c.group), ep.where))
            continue
        if not r.in_recovery:
            readings.append(ClusterReading(c.group, True, "primary", endpoint=ep.where))
            continue
        try:
            s = pg.standby_state(ep)
        except pg.Unreachable as exc:
            readings.append(ClusterReading(c.group, False, "unreachable", str(exc), ep.where))
            continue
        lag_bytes = None
        lag_seconds = None
        if primary_lsn is not None and s.replay_lsn is not None:
            lag_bytes = max(0, primary_lsn - s.replay_lsn)
            lag_seconds = 0.0 if lag_bytes == 0 else round(float(s.last_replay_age_s or 0.0), 3)
        readings.append(
            ClusterReading(
                c.group,
                True,
                "fenced" if fenced(pair, c.group) else "standby",
                endpoint=ep.where,
                receiver_up=s.receiver_up,
                sender=s.sender,
                lag_bytes=lag_bytes,
                lag_seconds=lag_seconds,
                replay_paused=s.replay_paused,
            )
        )
    return PairReading(pair.name, tuple(readings))


def local_database_io() -> tuple[ReplicationReader, WriteProbe]:
    """Measure and probe the dev environment's PostgreSQL pair (`kind: postgres, server: dev`)."""
    locate, fenced = dev_locator()

    def read(pairs: Iterable[DatabasePair]) -> Replication:
        return measure(pairs, locate, fenced)

    def probe(pair: DatabasePair, group: str) -> tuple[bool, str]:
        ep = locate(pair, group)
        if ep is None:
            return False, "no endpoint to probe from here"
        return pg.accepts_writes(ep)

    return read, probe
