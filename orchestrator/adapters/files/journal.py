"""The switch journal: one JSON file per switch, the bookkeeping behind resume and rollback.

Why a file per switch, rewritten whole: a switch can be killed at any instant (kill -9,
power, a lost lease) and the next command must know exactly which steps finished. Every
save writes a temporary file, fsyncs it, and os.replace()s it over the old one, so the
file on disk is always either the previous or the next complete version, never a mix.

The audit log (orchestrator.adapters.files.audit) says what happened, for people; the journal says
where a switch stands, for the orchestrator. Layout and fields: docs/audit.md.
"""

from __future__ import annotations

import builtins
import json
import os
import secrets
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from orchestrator.adapters.files.audit import format_ts, fsync_dir, parse_ts
from orchestrator.adapters.files.paths import state_dir
from orchestrator.domain.errors import OrchestratorError, UsageError
from orchestrator.domain.switch.ids import FINGERPRINT_RE, KINDS, SWITCH_ID_RE, is_switch_id  # noqa: F401

FORMAT_VERSION = 1

MODES: tuple[str, ...] = ("planned", "failover")
RECORD_STATUSES: tuple[str, ...] = ("running", "completed", "failed", "rolled-back", "abandoned")
STEP_STATUSES: tuple[str, ...] = ("pending", "running", "completed", "failed", "skipped")

# A record in one of these states is over: no step may start, it cannot be finished again.
FINAL_STATUSES: frozenset[str] = frozenset({"completed", "rolled-back", "abandoned"})
# A later record in one of these states means its stack moved on: older unfinished ones are moot.
SUPERSEDING_STATUSES: frozenset[str] = frozenset({"completed", "rolled-back"})
UNFINISHED_STATUSES: frozenset[str] = frozenset({"running", "failed"})
DONE_STEP_STATUSES: frozenset[str] = frozenset({"completed", "skipped"})


Clock = Callable[[], datetime]


def new_switch_id(now: datetime | None = None) -> str:
    """`sw-<UTC yyyymmddThhmmssZ>-<6 hex>`: sorts by time as text, unique in practice."""
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    return f"sw-{moment:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


def journal_dir(root: Path) -> Path:
    """<root>/.orchestrator/journal."""
    return state_dir(root) / "journal"


@dataclass
class StepRecord:
    """One step of a switch. `detail` is a one-line summary, or the error of a failed step."""

    name: str
    status: str = "pending"
    started_at: str | None = None
    finished_at: str | None = None
    duration_s: float | None = None
    detail: str | None = None


@dataclass
class SwitchRecord:
    """Where one switch stands. Times are UTC ISO-8601 strings with milliseconds."""

    id: str
    stack: str
    kind: str
    from_groups: tuple[str, ...]
    to_groups: tuple[str, ...]
    fingerprint: str
    mode: str
    status: str
    created_at: str
    updated_at: str
    holder: str | None = None
    epoch: int | None = None
    steps: list[StepRecord] = field(default_factory=list)
    rollback_of: str | None = None
    error: str | None = None

    def step(self, name: str) -> StepRecord:
        for step in self.steps:
            if step.name == name:
                return step
        raise ValueError(f"switch {self.id} has no step {name!r} (steps: {', '.join(self.step_names)})")

    @property
    def step_names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.steps)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["from_groups"] = list(self.from_groups)
        data["to_groups"] = list(self.to_groups)
        return {"format": FORMAT_VERSION, **data}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SwitchRecord:
        """Parse a journal file's content; KeyError/TypeError/ValueError when it is not one."""
        if data.get("format") != FORMAT_VERSION:
            raise ValueError(f"unsupported journal format {data.get('format')!r} (this version reads 1)")
        fields = {k: v for k, v in data.items() if k != "format"}
        fields["from_groups"] = tuple(fields["from_groups"])
        fields["to_groups"] = tuple(fields["to_groups"])
        fields["steps"] = [StepRecord(**s) for s in fields["steps"]]
        return cls(**fields)


def next_step(record: SwitchRecord) -> str | None:
    """The step to run on resume: the first one neither completed nor skipped (None: all done)."""
    for step in record.steps:
        if step.status not in DONE_STEP_STATUSES:
            return step.name
    return None


class Journal:
    """The journal directory of one project. Methods that change a record save it at once."""

    next_step = staticmethod(next_step)

    def __init__(self, directory: Path, clock: Clock | None = None) -> None:
        self.directory = Path(directory)
        self._clock = clock or (lambda: datetime.now(UTC))

    @classmethod
    def for_root(cls, root: Path) -> Journal:
        return cls(journal_dir(root))

    def path(self, switch_id: str) -> Path:
        return self.directory / f"{switch_id}.json"

    def _now(self) -> str:
        return format_ts(self._clock())

    # -- records -------------------------------------------------------------------------

    def create(
        self,
        stack: str,
        kind: str,
        from_groups: Iterable[str],
        to_groups: Iterable[str],
        fingerprint: str,
        mode: str,
        steps: Sequence[str],
        *,
        holder: str | None = None,
        epoch: int | None = None,
        rollback_of: str | None = None,
    ) -> SwitchRecord:
        """A new running record with every step pending, saved before anything else happens."""
        _require(kind in KINDS, f"kind {kind!r} is not one of {', '.join(KINDS)}")
        _require(mode in MODES, f"mode {mode!r} is not one of {', '.join(MODES)}")
        # "" until planned: an unreviewed switch gets its fingerprint under the lease.
        _require(
            fingerprint == "" or FINGERPRINT_RE.fullmatch(fingerprint) is not None,
            f"fingerprint {fingerprint!r} is not 16 hex",
        )
        _require(bool(steps), "a switch has at least one step")
        _require(len(set(steps)) == len(steps), f"step names repeat: {list(steps)}")
        # A rollback may name its original here or set record.rollback_of before the next save.
        _require(rollback_of is None or kind == "rollback", "only a rollback names a switch it rolls back")
        if rollback_of is not None:
            self.load(rollback_of)  # refuse a rollback of a switch this journal never saw
        moment = self._clock()
        now = format_ts(moment)
        record = SwitchRecord(
            id=new_switch_id(moment),
            stack=stack,
            kind=kind,
            from_groups=tuple(from_groups),
            to_groups=tuple(to_groups),
            fingerprint=fingerprint,
            mode=mode,
            status="running",
            created_at=now,
            updated_at=now,
            holder=holder,
            epoch=epoch,
            steps=[StepRecord(name) for name in steps],
            rollback_of=rollback_of,
        )
        self.save(record, touch=False)
        return record

    def load(self, switch_id: str) -> SwitchRecord:
        if not is_switch_id(switch_id) or not self.path(switch_id).exists():
            raise self._unknown(switch_id)
        return self._read(self.path(switch_id))

    def save(self, record: SwitchRecord, *, touch: bool = True) -> None:
        """Atomically replace the record's file (tmp + fsync + rename + fsync of the directory)."""
        _require(is_switch_id(record.id), f"{record.id!r} is not a switch id")
        if touch:
            record.updated_at = self._now()
        data = json.dumps(record.to_dict(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
        self.directory.mkdir(parents=True, exist_ok=True)
        target = self.path(record.id)
        # Dot-prefixed and not ending in .json: list() never mistakes it for a record.
        tmp = self.directory / f".{record.id}.json.{os.getpid()}.{secrets.token_hex(4)}.tmp"
        try:
            with open(tmp, "w", encoding="utf-8") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
        fsync_dir(self.directory)

    def list(self, stack: str | None = None) -> builtins.list[SwitchRecord]:
        """Every record (of one stack), newest first."""
        if not self.directory.is_dir():
            return []
        records = [self._read(path) for path in self.directory.glob("sw-*.json") if is_switch_id(path.stem)]
        records = [r for r in records if stack is None or r.stack == stack]
        return sorted(records, key=lambda r: (r.created_at, r.id), reverse=True)

    def unfinished(self, stack: str) -> SwitchRecord | None:
        """The newest running or failed record of the stack that no later record superseded.

        A later record that completed or was rolled back supersedes every earlier one: the
        stack moved on, and resuming an older switch would undo newer work. Abandoned records
        neither count nor supersede. A "running" record may be a switch that is alive in
        another process right now: the lease, not the journal, tells the two apart.
        """
        for record in self.list(stack):
            if record.status in UNFINISHED_STATUSES:
                return record
            if record.status in SUPERSEDING_STATUSES:
                return None
        return None

    def departures(self, stack: str) -> dict[str, str]:
        """Per group: when the last completed switch that deactivated it removed its records
        (the end of its cleanup-inactive step), for `status`'s "safe to delete"."""
        out: dict[str, str] = {}
        for record in self.list(stack):  # newest first: the first hit per group wins
            if record.status != "completed":
                continue
            cleanup = next((s for s in record.steps if s.name == "cleanup-inactive"), None)
            when = (cleanup.finished_at if cleanup else None) or record.updated_at
            for group in record.from_groups:
                if group not in record.to_groups:
                    out.setdefault(group, when)
        return out

    def last_completed(self, stack: str, kind: str | None = None) -> SwitchRecord | None:
        """The newest completed record of the stack (of one kind, if given)."""
        for record in self.list(stack):
            if record.status == "completed" and (kind is None or record.kind == kind):
                return record
        return None

    # -- step transitions ------------------------------------------------------------------

    def start_step(self, record: SwitchRecord, name: str) -> StepRecord:
        """Any step -> running, once every step before it is done (completed or skipped).

        Starting a step of a failed record resumes it (the record is running again). A step
        left running by a crash may start again, and so may a completed one: a resume has
        to run `acquire-lease` again because the old lease died with the old process.
        Whether re-running a step is safe is the caller's knowledge, not the journal's.
        """
        self._require_open(record)
        step = record.step(name)
        for before in record.steps[: record.steps.index(step)]:
            _require(
                before.status in DONE_STEP_STATUSES,
                f"step {name} of {record.id} cannot start before step {before.name} is done "
                f"({before.status})",
            )
        step.status = "running"
        step.started_at = self._now()
        step.finished_at = step.duration_s = step.detail = None
        record.status = "running"
        record.error = None
        self.save(record)
        return step

    def complete_step(self, record: SwitchRecord, name: str, detail: str | None = None) -> StepRecord:
        """running -> completed, with its duration."""
        self._require_open(record)
        step = record.step(name)
        _require(step.status == "running", f"step {name} of {record.id} is {step.status}, not running")
        self._close_step(step, "completed", detail)
        self.save(record)
        return step

    def fail_step(self, record: SwitchRecord, name: str, error: str) -> StepRecord:
        """pending/running -> failed; the whole record becomes failed (resumable) with that error.

        Accepting a pending step keeps error handlers simple: they may fail a step that
        never got as far as starting without masking the original exception.
        """
        self._require_open(record)
        step = record.step(name)
        _require(
            step.status in ("pending", "running"), f"step {name} of {record.id} is {step.status}, cannot fail"
        )
        self._close_step(step, "failed", error)
        record.status = "failed"
        record.error = f"{name}: {error}"
        self.save(record)
        return step

    def skip_step(self, record: SwitchRecord, name: str, reason: str | None = None) -> StepRecord:
        """pending -> skipped (an optional step such as lower-ttl that does not apply)."""
        self._require_open(record)
        step = record.step(name)
        _require(step.status == "pending", f"step {name} of {record.id} is {step.status}, cannot skip")
        step.status = "skipped"
        step.finished_at = self._now()
        step.detail = reason
        self.save(record)
        return step

    def finish(self, record: SwitchRecord, status: str, error: str | None = None) -> SwitchRecord:
        """End a record: completed (every step done), failed, rolled-back or abandoned."""
        _require(
            status in RECORD_STATUSES and status != "running",
            f"finish status {status!r} is not one of completed, failed, rolled-back, abandoned",
        )
        self._require_open(record)
        if status == "completed":
            pending = [s.name for s in record.steps if s.status not in DONE_STEP_STATUSES]
            _require(
                not pending, f"switch {record.id} cannot complete with steps not done: {', '.join(pending)}"
            )
        record.status = status
        if error is not None:
            record.error = error
        elif status == "completed":
            record.error = None
        self.save(record)
        return record

    # -- helpers ---------------------------------------------------------------------------

    def _close_step(self, step: StepRecord, status: str, detail: str | None) -> None:
        moment = self._clock()
        step.status = status
        step.finished_at = format_ts(moment)
        step.detail = detail
        if step.started_at is not None:
            step.duration_s = round(max(0.0, (moment - parse_ts(step.started_at)).total_seconds()), 3)

    @staticmethod
    def _require_open(record: SwitchRecord) -> None:
        _require(
            record.status not in FINAL_STATUSES,
            f"switch {record.id} is {record.status}: it cannot change any more (start a new switch)",
        )

    def _read(self, path: Path) -> SwitchRecord:
        try:
            record = SwitchRecord.from_dict(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise OrchestratorError(
                f"journal file {path} is unreadable",
                f"{type(exc).__name__}: {exc} (the orchestrator only ever writes whole files, so it was "
                "edited by hand, written by another version, or damaged on disk)",
                "restore it from a backup, or move it out of the journal directory and run again",
            ) from exc
        if record.id != path.stem:
            raise OrchestratorError(
                f"journal file {path} holds switch {record.id}",
                "a journal file is named after the switch it records",
                f"rename it to {record.id}.json or move it out of the journal directory",
            )
        return record

    def _unknown(self, switch_id: str, show: int = 5) -> UsageError:
        names = sorted(
            (p.stem for p in self.directory.glob("sw-*.json") if is_switch_id(p.stem)), reverse=True
        )
        if names:
            more = f" (and {len(names) - show} older)" if len(names) > show else ""
            why = f"known switches, newest first: {', '.join(names[:show])}{more}"
        else:
            why = f"the journal at {self.directory} holds no switches yet"
        if not is_switch_id(switch_id):
            why = f"a switch id looks like sw-20261121T101500Z-a1b2c3; {why}"
        return UsageError(
            f"no switch {switch_id!r} in the journal",
            why,
            "pass one of the ids above (copy it from the switch's output or the audit log)",
        )


def _require(condition: bool, message: str) -> None:
    """Misuse by the caller (a bug, not an operator mistake): a plain ValueError."""
    if not condition:
        raise ValueError(message)


def journal_for(root: Path) -> Journal:
    """The journal of the backend in use: the shared database's with postgres://, else the files."""
    # Imported here: orchestrator.adapters.state subclasses Journal, so it imports this module.
    from orchestrator.adapters.state import journal_for as pick

    return pick(root)
