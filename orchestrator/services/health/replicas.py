"""replicas-healthy: each database pair's primary is where the active groups want it and takes
writes, and every other cluster streams from it, caught up. The reading and the write probe
come in as functions (the local pair's by default), so the rules are unit-tested without servers.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchestrator.domain.databases import DatabasePair, primary_group
from orchestrator.domain.errors import OrchestratorError
from orchestrator.domain.health import DEFERRED, FALSE, REPLICAS_HEALTHY, TRUE, UNKNOWN, CheckResult
from orchestrator.domain.topology import Topology
from orchestrator.services.parts import installed
from orchestrator.services.policies.pack import REPLICA_CAUGHT_UP, pack_dir, thresholds

SHOWN = 3  # failures named in a summary

REPLICA_TIMEOUT = 30.0  # seconds a standby may take to reconnect to the new primary's timeline
REPLICA_POLL_INTERVAL = 0.5
MAX_LAG_BYTES = 16 * 1024 * 1024  # policy/config.json replica-caught-up.maxLagBytes (default)
MAX_LAG_SECONDS = 30.0  # ... .maxLagSeconds (reported; the verdict is on bytes, see replica_limits)

# (pairs) -> a live Replication reading (orchestrator.adapters.postgres.measure); (pair, group) -> a real
# write probe's (accepted, why). Both default to the local dev environment.
ReadReplication = Callable[[tuple[DatabasePair, ...]], Any]
WriteProbe = Callable[[DatabasePair, str], tuple[bool, str]]


@dataclass(frozen=True)
class ReplicaLimits:
    max_lag_bytes: int = MAX_LAG_BYTES
    max_lag_seconds: float = MAX_LAG_SECONDS

    def to_dict(self) -> dict[str, Any]:
        return {"maxLagBytes": self.max_lag_bytes, "maxLagSeconds": self.max_lag_seconds}


def replica_limits(root: Path | None = None) -> ReplicaLimits:
    """The policy pack's `replica-caught-up` thresholds (policy/config.json), else the defaults.

    Health judges a standby by its lag in bytes only: on an idle primary the age of the last
    replayed commit grows although nothing is outstanding, so seconds are shown, not judged.
    """
    defaults = ReplicaLimits()
    try:
        conf = thresholds(pack_dir(root or Path.cwd())).get(REPLICA_CAUGHT_UP) or {}
    except Exception:  # noqa: BLE001 — no pack or unreadable: the documented defaults
        return defaults

    def number(key: str, default: float) -> float:
        value = conf.get(key)
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            return default
        return value

    return ReplicaLimits(
        int(number("maxLagBytes", defaults.max_lag_bytes)),
        float(number("maxLagSeconds", defaults.max_lag_seconds)),
    )


def _size(n: int | None) -> str:
    if n is None:
        return "unknown"
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n} B"


def rebuild_hint(pair: str, group: str) -> str:
    return (
        f"{pair}: {group} is fenced (a failover left it behind); rebuild it: "
        f"`orchestrator dev rebuild-standby {group}`"
    )


@dataclass
class PairVerdict:
    """One pair at one reading: what is wrong (failures), undecidable (unknowns), or worth naming."""

    pair: str
    expected: str | None
    failures: list[str] = field(default_factory=list)
    unknowns: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # named even when healthy (a fenced peer)
    healthy: list[str] = field(default_factory=list)  # what passed, for the summary
    lines: list[str] = field(default_factory=list)  # one per cluster
    transient: bool = False  # some problem may clear by waiting (a standby reconnecting)
    writes: dict[str, tuple[bool, str]] = field(default_factory=dict)

    @property
    def status(self) -> str:
        return FALSE if self.failures else UNKNOWN if self.unknowns else TRUE

    def settled(self) -> bool:
        """Nothing to wait for: healthy, or every problem is one that waiting cannot fix."""
        return self.status == TRUE or not self.transient


def _cluster_line(pair: str, c: Any, writes: dict[str, tuple[bool, str]]) -> str:
    where = f" at {c.endpoint}" if c.endpoint else ""
    head = f"{pair} {c.group}{where}: {c.role}"
    if c.role == "primary":
        ok, why = writes.get(c.group, (False, "not probed"))
        return f"{head}, {'accepts writes' if ok else 'refuses writes: ' + why}"
    if c.role in ("standby", "fenced"):
        receiver = "receiver up" if c.receiver_up else "receiver down"
        sender = f" (from {c.sender})" if c.sender else ""
        secs = "unknown" if c.lag_seconds is None else f"{c.lag_seconds:g}s"
        paused = ", replay paused" if c.replay_paused else ""
        return f"{head}, {receiver}{sender}, lag {_size(c.lag_bytes)} / {secs}{paused}"
    return f"{head}: {c.error}" if c.error else head


def judge_pair(
    pair: DatabasePair,
    reading: Any,
    to_groups: tuple[str, ...],
    *,
    failover: bool,
    limits: ReplicaLimits,
    probe: WriteProbe,
) -> PairVerdict:
    """The verdict on one pair from one reading (a PairReading); probes the primaries' writes."""

    v = PairVerdict(pair.name, primary_group(pair, to_groups))
    name = pair.name
    clusters = tuple(reading.clusters) if reading is not None else ()
    if not clusters:
        v.unknowns.append(f"{name}: no reading of its clusters")
        v.transient = True
        return v
    if any(c.role == "unmeasured" for c in clusters):
        labels = ", ".join(c.label for c in pair.clusters)
        v.unknowns.append(
            f"{name}: not measured from here: check the CloudNativePG cluster status ({labels})"
        )
        v.lines = [_cluster_line(name, c, {}) for c in clusters]
        return v
    expected = v.expected
    if expected is None:
        v.unknowns.append(
            f"{name}: none of its clusters ({', '.join(pair.groups)}) is in the active groups "
            f"{', '.join(to_groups) or '(none)'}; no primary is expected"
        )
        v.lines = [_cluster_line(name, c, {}) for c in clusters]
        return v

    def probe_safely(group: str) -> tuple[bool, str]:
        try:
            return probe(pair, group)
        except Exception as exc:  # noqa: BLE001 — a probe that crashes proves nothing
            return False, f"the write probe failed: {type(exc).__name__}: {exc}"

    v.writes = {c.group: probe_safely(c.group) for c in clusters if c.role == "primary"}
    v.lines = [_cluster_line(name, c, v.writes) for c in clusters]
    writers = [c.group for c in clusters if v.writes.get(c.group, (False, ""))[0]]
    if len(writers) > 1:
        if expected in writers:
            others = [g for g in writers if g != expected]
            rebuild = ", ".join(f"`orchestrator dev rebuild-standby {g}`" for g in others)
            fix = f"keep {expected}, stop the writes to {' and '.join(others)} and rebuild it: {rebuild}"
        else:
            fix = "decide which one keeps the data, then rebuild the other as a standby"
        v.failures.append(f"{name}: split brain: {' and '.join(writers)} both accept writes; {fix}")
        return v  # nothing else matters, and waiting does not fix it

    by_group = {c.group: c for c in clusters}
    p = by_group.get(expected)
    primary_ep = p.endpoint if p is not None else None
    if p is None:
        v.unknowns.append(f"{name}: no reading of {expected}, the group that should hold the primary")
        v.transient = True
    elif p.role == "primary":
        ok, why = v.writes[expected]
        if ok:
            v.healthy.append(f"primary {expected} accepts writes")
        else:
            v.failures.append(f"{name}: the primary {expected} ({p.endpoint}) does not accept writes: {why}")
            v.transient = True
    elif p.role == "fenced":
        v.failures.append(
            f"{name}: {expected} should hold the primary but is fenced (a failover left it behind) and is "
            f"never promoted; rebuild it (`orchestrator dev rebuild-standby {expected}`) and switch again"
        )
    elif p.role == "unreachable":
        v.failures.append(f"{name}: {expected}, which should hold the primary, is unreachable ({p.error})")
        v.transient = True
    else:  # a standby: promotion has not happened (yet)
        v.failures.append(f"{name}: {expected} should be the primary but is still a {p.role}")
        v.transient = True

    for c in clusters:
        if c.group == expected:
            continue
        g = c.group
        if c.role == "fenced":
            (v.notes if failover else v.failures).append(rebuild_hint(name, g))
        elif c.role == "unreachable":
            if failover:
                v.notes.append(
                    f"{name}: {g} is unreachable, expected after a failover; rebuild it once it is back: "
                    f"`orchestrator dev rebuild-standby {g}`"
                )
            else:
                v.failures.append(f"{name}: standby {g} is unreachable ({c.error})")
                v.transient = True
        elif c.role == "primary":  # not writable (two writers returned above)
            v.failures.append(
                f"{name}: {g} is a primary that refuses writes ({v.writes[g][1]}); it should be a "
                f"standby of {expected}"
            )
            v.transient = True
        elif c.role == "standby":
            if not c.receiver_up:
                v.failures.append(f"{name}: standby {g} is not streaming (its WAL receiver is down)")
                v.transient = True
            elif primary_ep and c.sender != primary_ep:
                v.failures.append(
                    f"{name}: standby {g} streams from {c.sender or 'an unknown sender'}, not from the "
                    f"primary {expected} ({primary_ep})"
                )
                v.transient = True
            elif c.lag_bytes is None:
                v.unknowns.append(f"{name}: the lag of standby {g} cannot be measured")
                v.transient = True
            elif c.lag_bytes > limits.max_lag_bytes:
                v.failures.append(
                    f"{name}: standby {g} lags {_size(c.lag_bytes)} behind {expected} "
                    f"(limit {_size(limits.max_lag_bytes)})"
                )
                v.transient = True
            else:
                v.healthy.append(f"{g} streams from it (lag {_size(c.lag_bytes)})")
        else:
            v.unknowns.append(f"{name}: {g} is {c.role}")
    return v


def replicas_healthy(
    topology: Topology,
    to_groups: tuple[str, ...] = (),
    *,
    failover: bool = False,
    limits: ReplicaLimits | None = None,
    read: ReadReplication | None = None,
    probe: WriteProbe | None = None,
    timeout: float = REPLICA_TIMEOUT,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> CheckResult:
    """Per database pair: the primary sits where the active groups want it and accepts writes,
    and every other cluster streams from it, caught up.

    Polled until healthy or `timeout` passes (a demoted primary takes a few seconds to follow
    the new timeline). `failover`: this is the verify step of a failover, where the old
    primary is expected to be fenced or unreachable (named, not failed).
    """
    pairs = tuple(topology.databases or ())
    if not pairs:
        return CheckResult(
            REPLICAS_HEALTHY,
            DEFERRED,
            "no database pairs in the topology: no replica to check",
        )
    limits = limits or ReplicaLimits()
    if read is None or probe is None:  # not given: the installed parts' (the local pair's)
        local_read, local_probe = installed().database_io()
        read, probe = read or local_read, probe or local_probe
    start = clock()
    attempts = 0
    verdicts: list[PairVerdict] = []
    error: str | None = None
    while True:
        attempts += 1
        try:
            replication = read(pairs)
            verdicts = [
                judge_pair(
                    p, replication.pair(p.name), to_groups, failover=failover, limits=limits, probe=probe
                )
                for p in pairs
            ]
            error = None
        except OrchestratorError as exc:  # the environment says what is missing: waiting will not help
            error = "; ".join(x for x in (exc.what, exc.why, exc.fix) if x)
            break
        except Exception as exc:  # noqa: BLE001 — e.g. a server restarting mid-reading: try again
            error = f"{type(exc).__name__}: {exc}"
        if error is None and all(v.settled() for v in verdicts):
            break
        if clock() - start >= timeout:
            break
        sleep(REPLICA_POLL_INTERVAL)
    waited = round(clock() - start, 3)
    data: dict[str, Any] = {
        "failover": failover,
        "to_groups": list(to_groups),
        "limits": limits.to_dict(),
        "attempts": attempts,
        "waited_s": waited,
        "pairs": {
            v.pair: {
                "status": v.status,
                "expected_primary": v.expected,
                "clusters": v.lines,
                "writes": {g: {"accepted": ok, "why": why} for g, (ok, why) in v.writes.items()},
                "problems": v.failures + v.unknowns,
                "notes": v.notes,
            }
            for v in verdicts
        },
    }
    if error is not None:
        return CheckResult(
            REPLICAS_HEALTHY,
            UNKNOWN,
            f"the database pairs could not be measured ({attempts} attempts in {waited:.1f}s): {error}",
            (error,),
            data,
        )
    failures = [f for v in verdicts for f in v.failures]
    unknowns = [u for v in verdicts for u in v.unknowns]
    notes = [n for v in verdicts for n in v.notes]
    details = tuple(failures + unknowns + notes + [line for v in verdicts for line in v.lines])
    after = f" (after {waited:.1f}s, {attempts} readings)" if attempts > 1 else ""
    if failures:
        shown = "; ".join(failures[:SHOWN])
        more = f" (+{len(failures) - SHOWN} more)" if len(failures) > SHOWN else ""
        return CheckResult(REPLICAS_HEALTHY, FALSE, f"{shown}{more}{after}", details, data)
    healthy = [f"{v.pair}: {', '.join(v.healthy)}" for v in verdicts if v.status == TRUE]
    if unknowns:
        text = "; ".join(unknowns)
        if healthy:
            text += f"; healthy: {'; '.join(healthy)}"
        return CheckResult(REPLICAS_HEALTHY, UNKNOWN, text, details, data)
    text = f"{len(verdicts)} database pair(s) healthy: {'; '.join(healthy)}"
    if notes:
        text += f"; {'; '.join(notes)}"
    return CheckResult(REPLICAS_HEALTHY, TRUE, text + after, details, data)
