"""`orchestrator watch`: measure, publish a verdict, read the quorum, apply the publish rules.

One round (Watcher.round):
1. finish a switch an earlier watch started and did not end (kill -9, crash): resume it;
2. measure every group (the endpoints' health URLs) and count consecutive failures;
3. publish this observer's verdict on the board and read every observer's fresh verdict;
4. decide (domain/publish.py) and act: run the same switch a person runs, record why nothing
   moves (no quorum, anti-flap block, someone else holds the lease), or nothing;
5. every `readinessEvery` seconds, dry-run each failover path the rules could trigger.

Every decision is an audit event with its evidence. The loop never fights a person: a lease held
by someone else is recorded and waited out, and after an automatic switch further automatic
switches are blocked until acknowledged (`orchestrator watch ack`).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from orchestrator.domain.errors import EXIT_BLOCKED, EXIT_CONFLICT, OrchestratorError
from orchestrator.domain.publish import (
    DOWN,
    AutoSwitch,
    Block,
    Decision,
    Verdict,
    aggregate,
    decide,
    failover_paths,
    observe,
)
from orchestrator.ports.audit import (
    FAILOVER_READINESS,
    RECOVERY_MEASURED,
    WATCH_ACKNOWLEDGED,
    WATCH_BLOCKED,
    WATCH_DECISION,
    WATCH_LEASE_BUSY,
    WATCH_NO_QUORUM,
    WATCH_RESUMED,
    WATCH_STARTED,
    WATCH_SWITCH_RESULT,
)
from orchestrator.ports.watch import (
    AuditSink,
    GroupProber,
    StackReader,
    SwitchExecutor,
    SwitchResult,
    VerdictBoard,
)
from orchestrator.services.watch.metrics import WatchMetrics


@dataclass
class Watcher:
    stack: str
    observer: str
    read_stack: StackReader
    prober: GroupProber
    board: VerdictBoard
    executor: SwitchExecutor
    audit: AuditSink
    metrics: WatchMetrics
    clock: Callable[[], float] = time.time
    echo: Callable[[str], None] = print
    # Per group: consecutive failures, and when this run of failures began (detection time).
    failures: dict[str, int] = field(default_factory=dict)
    failing_since: dict[str, float] = field(default_factory=dict)
    _last_said: dict[str, str] = field(default_factory=dict)
    _ready_at: float = 0.0
    _ready_state: dict[str, tuple[str, ...]] = field(default_factory=dict)

    # -- one round -------------------------------------------------------------------------------

    def round(self) -> Decision | None:
        now = self.clock()
        view = self.read_stack()
        settings, topology = view.settings, view.topology
        self.metrics.rules(settings.rules, settings.rto)
        if self._resume_if_needed():
            return None
        groups = tuple(g.name for g in topology.groups)
        probes = self.prober(topology, groups)
        counts, verdicts = observe(
            self.failures, {g: p.healthy for g, p in probes.items()}, settings.failures
        )
        for g, c in counts.items():
            if c and g not in self.failing_since:
                self.failing_since[g] = now
            elif not c:
                self.failing_since.pop(g, None)
        self.failures = counts
        mine = Verdict(self.observer, now, verdicts, counts, {g: p.evidence[:200] for g, p in probes.items()})
        self.board.publish(mine)
        fresh = [v for v in self.board.verdicts() if now - v.at <= settings.freshness]
        views = aggregate(fresh, groups, settings, now)
        self.metrics.views(views, [(v.observer, v.groups) for v in fresh])
        block = self.board.block()
        active_block = block if block is not None and block.active(now) else None
        self.metrics.block(active_block.until if active_block else None)
        decision = decide(
            settings, topology, view.active, views, block=block, last_auto=self.board.last_auto(), now=now
        )
        self.metrics.decisions.labels(self.stack, decision.action).inc()
        self._act(decision, view.active, settings.anti_flap, settings.rto, now)
        if now - self._ready_at >= settings.readiness_every:
            self._ready_at = now
            self.check_readiness(failover_paths(settings, view.active))
        return decision

    def _say_once(self, key: str, text: str, event: str, **fields: object) -> None:
        """Record a standing situation once, not every round (the audit log stays readable)."""
        if self._last_said.get(key) == text:
            return
        self._last_said[key] = text
        self.echo(f"watch: {text}")
        self.audit.append(event, stack=self.stack, observer=self.observer, reason=text, **fields)

    def _act(
        self, decision: Decision, active: tuple[str, ...], anti_flap: float, rto: float, now: float
    ) -> None:
        if decision.action == "none":
            self._last_said.pop("standing", None)
            return
        if decision.action == "no-quorum":
            self._say_once("standing", decision.reason, WATCH_NO_QUORUM, evidence=list(decision.evidence))
            return
        if decision.action == "blocked":
            self._say_once(
                "standing",
                decision.reason,
                WATCH_BLOCKED,
                kind=decision.kind,
                to_groups=list(decision.to_groups),
            )
            return
        self._switch(decision, active, anti_flap, rto, now)

    def _switch(
        self, decision: Decision, active: tuple[str, ...], anti_flap: float, rto: float, now: float
    ) -> None:
        detected = min((self.failing_since.get(g, now) for g in active if self.failures.get(g)), default=now)
        self.audit.append(
            WATCH_DECISION,
            stack=self.stack,
            observer=self.observer,
            kind=decision.kind,
            from_groups=list(active),
            to_groups=list(decision.to_groups),
            reason=decision.reason,
            evidence=list(decision.evidence),
        )
        failover = False
        if decision.kind == "failover":
            # Planned when the old primary can still be asked to step back; the dry-run says.
            probe = self.executor.dry_run(decision.to_groups, failover=False)
            failover = not probe.ok and any("--failover" in b for b in probe.blockers + (probe.output,))
        mode = " (--failover)" if failover else ""
        self.echo(f"watch: {decision.kind} to {', '.join(decision.to_groups)}{mode}: {decision.reason}")
        result = self.executor.switch(
            decision.to_groups, failover=failover, reason=f"watch {decision.kind}: {decision.reason}"
        )
        finished = self.clock()
        self._record_result(decision, active, result, failover)
        if result.exit_code in (EXIT_CONFLICT, EXIT_BLOCKED):
            return  # nothing was changed: the rule is evaluated again next round
        self._last_said.pop("lease", None)
        # A switch that ran, even one that failed half way (watch resumes it), counts for anti-flap.
        switch_id = result.switch_id or "unknown"
        self.board.set_last_auto(AutoSwitch(switch_id, finished, active, decision.to_groups, decision.kind))
        if anti_flap > 0:
            until = finished + anti_flap
            self.board.set_block(Block(switch_id, finished, until, f"automatic {decision.kind}"))
            self.metrics.block(until)
            self.audit.append(
                WATCH_BLOCKED,
                stack=self.stack,
                observer=self.observer,
                switch_id=switch_id,
                reason=f"automatic switches are blocked after {decision.kind} {switch_id} until acknowledged",
                until=until,
            )
        if not result.ok:
            return
        phases = {
            "detection": now - detected,
            "decision": 0.0,
            "switch": finished - now,
            "total": finished - detected,
        }
        self.metrics.recovered(phases, rto)
        self.audit.append(
            RECOVERY_MEASURED,
            stack=self.stack,
            switch_id=switch_id,
            kind=decision.kind,
            detection_s=round(phases["detection"], 3),
            switch_s=round(phases["switch"], 3),
            total_s=round(phases["total"], 3),
            rto_s=rto,
            within_rto=phases["total"] <= rto,
        )
        self.echo(f"watch: recovered in {phases['total']:.1f}s (RTO {rto:.0f}s)")

    def _record_result(
        self, decision: Decision, active: tuple[str, ...], result: SwitchResult, failover: bool
    ) -> None:
        if result.exit_code == EXIT_CONFLICT:
            outcome = "lease-busy"
            self._say_once(
                "lease",
                result.output.strip()[-500:] or "the lease is held",
                WATCH_LEASE_BUSY,
                to_groups=list(decision.to_groups),
            )
        elif result.exit_code == EXIT_BLOCKED:
            outcome = "blocked"
        else:
            outcome = "completed" if result.ok else "failed"
        self.metrics.switches.labels(self.stack, decision.kind, outcome).inc()
        self.audit.append(
            WATCH_SWITCH_RESULT,
            stack=self.stack,
            observer=self.observer,
            kind=decision.kind,
            result=outcome,
            exit_code=result.exit_code,
            switch_id=result.switch_id,
            failover=failover,
            from_groups=list(active),
            to_groups=list(decision.to_groups),
            blockers=list(result.blockers),
            output=result.output.strip()[-500:],
        )

    def _resume_if_needed(self) -> bool:
        """A switch watch started and did not finish (its process is gone): finish it first."""
        pending = self.executor.unfinished()
        if pending is None or not pending.by_watch:
            return False
        if pending.holder_alive:
            self._say_once(
                "resume", f"switch {pending.switch_id} is still running ({pending.holder})", WATCH_DECISION
            )
            return True
        self.echo(f"watch: resuming switch {pending.switch_id} left by {pending.holder}")
        self.audit.append(
            WATCH_RESUMED, stack=self.stack, observer=self.observer, switch_id=pending.switch_id
        )
        result = self.executor.resume()
        self.audit.append(
            WATCH_SWITCH_RESULT,
            stack=self.stack,
            observer=self.observer,
            kind="resume",
            result="completed" if result.ok else "failed",
            exit_code=result.exit_code,
            switch_id=pending.switch_id,
            output=result.output.strip()[-500:],
        )
        return True

    # -- readiness ---------------------------------------------------------------------------------

    def check_readiness(self, paths: list[tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
        """Dry-run each failover the rules could trigger; export whether it would pass, and why not."""
        out: dict[str, tuple[str, ...]] = {}
        for to_groups in paths:
            try:
                result = self.executor.dry_run(to_groups, failover=False)
                blockers = result.blockers if not result.ok else ()
                if not result.ok and not blockers:
                    blockers = (
                        result.output.strip().splitlines()[-1]
                        if result.output.strip()
                        else f"dry-run exited {result.exit_code}",
                    )
            except OrchestratorError as exc:
                blockers = (exc.what,)
            key = ",".join(to_groups)
            out[key] = tuple(blockers)
            self.metrics.readiness(key, blockers, self.clock())
            if self._ready_state.get(key) != out[key]:
                self._ready_state[key] = out[key]
                self.audit.append(
                    FAILOVER_READINESS,
                    stack=self.stack,
                    to_groups=list(to_groups),
                    ready=not blockers,
                    blockers=list(blockers),
                )
        return out

    # -- the loop ----------------------------------------------------------------------------------

    def run(
        self, *, interval: Callable[[], float], stop: Callable[[], bool], wait: Callable[[float], bool]
    ) -> None:
        """Rounds until stop(); `wait(seconds)` returns True when asked to stop meanwhile."""
        self.audit.append(WATCH_STARTED, stack=self.stack, observer=self.observer)
        try:
            while not stop():
                started = self.clock()
                try:
                    self.round()
                except OrchestratorError as exc:
                    # A round that cannot measure or read the board decides nothing; say it once.
                    self._say_once("error", exc.what, WATCH_DECISION, error=exc.render()[:500])
                if wait(max(0.0, interval() - (self.clock() - started))):
                    break
        finally:
            with contextlib.suppress(OrchestratorError):  # the vote goes stale on its own anyway
                self.board.withdraw(self.observer)


def acknowledge(board: VerdictBoard, audit: AuditSink, stack: str, who: str, reason: str) -> Block | None:
    """Lift the anti-flap block (a person read what happened); returns the block that was lifted."""
    block = board.block()
    board.clear_block()
    audit.append(
        WATCH_ACKNOWLEDGED, stack=stack, by=who, reason=reason, switch_id=block.switch_id if block else None
    )
    return block


def any_down(verdicts: list[Verdict]) -> bool:
    return any(state == DOWN for v in verdicts for state in v.groups.values())
