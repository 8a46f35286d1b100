"""The audit log: an append-only file of JSON lines, one per event (docs/audit.md).

Why a plain file: it must still be written when everything else is down (DNS servers,
the state backend, the network), it must be readable with `jq` at 3 a.m., and it must
never lose or interleave lines when two operators' processes append at the same time.
Each line is written with ONE write() on an O_APPEND descriptor under an exclusive
flock, then fsynced: a line is either wholly there or (after a crash mid-write) a
truncated tail that readers skip.

Event type names are an interface: dashboards, alerts and scripts match on them. Once
shipped a name never changes or disappears; new names may be added.
"""

from __future__ import annotations

import fcntl
import getpass
import json
import os
import socket
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from orchestrator.adapters.files.paths import state_dir
from orchestrator.domain.timestamps import format_ts, parse_ts, utc_now  # noqa: F401 (re-exported)

# The event names are the audit port's vocabulary (orchestrator.ports.audit); re-exported here.
from orchestrator.ports.audit import (  # noqa: F401
    ACTIVE_GROUPS_CHANGED,
    CONFIG_CHANGED_SINCE_PREVIEW,
    EVENT_TYPES,
    FAILOVER_READINESS,
    LEASE_ACQUIRED,
    LEASE_COLLISION,
    LEASE_LOST,
    LEASE_RELEASED,
    LEASE_RENEWED,
    POLICY_OVERRIDDEN,
    PREFLIGHT_BLOCKED,
    PREFLIGHT_PASSED,
    RECOVERY_MEASURED,
    RESUME_REQUESTED,
    ROLLBACK_COMPLETED,
    ROLLBACK_REQUESTED,
    STEP_COMPLETED,
    STEP_FAILED,
    STEP_STARTED,
    SWITCHOVER_COMPLETED,
    SWITCHOVER_CONFIRMED,
    SWITCHOVER_FAILED,
    SWITCHOVER_NOOP,
    SWITCHOVER_REQUESTED,
    WATCH_ACKNOWLEDGED,
    WATCH_BLOCKED,
    WATCH_DECISION,
    WATCH_LEASE_BUSY,
    WATCH_NO_QUORUM,
    WATCH_RESUMED,
    WATCH_STARTED,
    WATCH_SWITCH_RESULT,
)

# Keys every line carries; callers' fields may not shadow them.
ENVELOPE_KEYS: tuple[str, ...] = ("ts", "type", "switch_id", "user", "pid")

# A field whose key contains one of these words and whose value is a string looks like a
# credential. The log is read by many people and kept for a long time: refuse, loudly.
SECRET_KEY_WORDS: tuple[str, ...] = ("secret", "password", "token", "key")

AUDIT_LOG_ENV = "ORCHESTRATOR_AUDIT_LOG"
USER_ENV = "ORCHESTRATOR_USER"


def current_user() -> str:
    """Who acted: $ORCHESTRATOR_USER (set by CI or a wrapper), else login@hostname."""
    if env := os.environ.get(USER_ENV):
        return env
    try:
        login = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry and no LOGNAME/USER (containers)
        login = f"uid{os.getuid()}"
    return f"{login}@{socket.gethostname()}"


def default_audit_log(root: Path) -> Path:
    """$ORCHESTRATOR_AUDIT_LOG, else <root>/.orchestrator/audit.jsonl."""
    if env := os.environ.get(AUDIT_LOG_ENV):
        return Path(env)
    return state_dir(root) / "audit.jsonl"


def _check_event_type(event_type: str) -> None:
    if event_type not in EVENT_TYPES:
        raise ValueError(
            f"unknown audit event type {event_type!r}: add it to EVENT_TYPES in "
            "orchestrator.adapters.files.audit and docs/audit.md first "
            "(known: " + ", ".join(EVENT_TYPES) + ")"
        )


def _check_no_secrets(fields: Mapping[str, Any], where: str = "") -> None:
    """Refuse string values under secret-looking keys, at any depth."""
    for key, value in fields.items():
        path = f"{where}{key}"
        if isinstance(value, str) and any(word in str(key).lower() for word in SECRET_KEY_WORDS):
            raise ValueError(
                f"audit field {path!r} looks like a secret (its name contains one of "
                f"{', '.join(SECRET_KEY_WORDS)}): the audit log must never hold credentials; "
                "log a non-secret identifier instead"
            )
        _check_nested(value, path)


def _check_nested(value: Any, path: str) -> None:
    if isinstance(value, Mapping):
        _check_no_secrets(value, f"{path}.")
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            _check_nested(item, f"{path}[{i}]")


class AuditLog:
    """One audit file. Cheap to construct; every append opens, locks, writes, fsyncs, closes."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def append(self, event_type: str, *, switch_id: str | None = None, **fields: Any) -> dict[str, Any]:
        """Write one event as one JSON line and return it. Nothing is written on refusal."""
        _check_event_type(event_type)
        if clash := sorted(set(fields) & set(ENVELOPE_KEYS)):
            raise ValueError(
                f"audit fields {clash} are reserved for the envelope ({', '.join(ENVELOPE_KEYS)})"
            )
        _check_no_secrets(fields)
        event = {
            **fields,
            "ts": utc_now(),
            "type": event_type,
            "switch_id": switch_id,
            "user": current_user(),
            "pid": os.getpid(),
        }
        try:
            line = json.dumps(
                event, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
            )
        except (TypeError, ValueError) as exc:
            raise ValueError(f"audit event {event_type} has a field that is not plain JSON: {exc}") from exc
        self._write(line.encode("utf-8") + b"\n")
        return json.loads(line)

    def _write(self, data: bytes) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        created = not self.path.exists()
        # Read access too: the tail check below looks at the last byte.
        fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            # O_APPEND makes a single write() of < PIPE_BUF atomic; the lock covers longer
            # lines and the tail repair below, which must not race another writer.
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                size = os.fstat(fd).st_size
                if size and os.pread(fd, 1, size - 1) != b"\n":
                    # A previous writer died mid-line: end its fragment so that this line
                    # stays whole and parseable (readers skip the fragment).
                    data = b"\n" + data
                view = memoryview(data)
                while view:
                    written = os.write(fd, view)
                    view = view[written:]
                os.fsync(fd)
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)
        if created:
            fsync_dir(self.path.parent)

    def read(self, switch_id: str | None = None, types: Iterable[str] | None = None) -> list[dict[str, Any]]:
        """Events in file order, optionally only one switch's and/or some types.

        A truncated last line (a crash mid-write) is skipped silently; an unparseable line
        elsewhere (an old crash fragment) is skipped with a warning. A missing file is empty.
        """
        wanted: set[str] | None = None
        if types is not None:
            wanted = set(types)
            for event_type in wanted:
                _check_event_type(event_type)
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return []
        lines = data.split(b"\n")
        complete, tail = lines[:-1], lines[-1]  # tail is b"" when the file ends with a newline
        events: list[dict[str, Any]] = []
        for number, raw in enumerate(complete, start=1):
            if not raw.strip():
                continue
            event = _parse_line(raw)
            if event is None:
                warnings.warn(
                    f"{self.path}:{number}: skipped an unreadable audit line "
                    "(left by a process that died while writing it)",
                    stacklevel=2,
                )
                continue
            events.append(event)
        # An unterminated tail is either a fragment (skip) or, in files written by other
        # tools, a whole last line without its newline (keep).
        if tail.strip() and (event := _parse_line(tail)) is not None:
            events.append(event)
        return [
            e
            for e in events
            if (switch_id is None or e.get("switch_id") == switch_id)
            and (wanted is None or e.get("type") in wanted)
        ]


def _parse_line(raw: bytes) -> dict[str, Any] | None:
    try:
        event = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    return event if isinstance(event, dict) else None


def fsync_dir(directory: Path) -> None:
    """Make a new directory entry durable (the file exists after a power cut, not just its data)."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
