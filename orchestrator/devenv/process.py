"""Child processes of the local environment: start in their own session, observe, stop.

Liveness comes from /proc: a pid counts as ours only while its command line mentions the
environment's state directory (so a recycled pid is never mistaken for a server), and a
zombie counts as gone.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

PROC = Path("/proc")

# Popen objects of the children this Python process started, so that it can reap them.
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


def wait_until(condition: Callable[[], bool], timeout: float, interval: float = 0.05) -> bool:
    """Poll `condition` until it holds (True) or the deadline passes (False)."""
    deadline = time.monotonic() + timeout
    while True:
        _reap()
        if condition():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def start(
    cmd: Sequence[str], log: Path, *, env: Mapping[str, str] | None = None, cwd: Path | None = None
) -> int:
    """Start cmd in its own session (its pid is its process group), output appended to log."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        out.write(f"--- {stamp} starting: {' '.join(cmd)}\n".encode())
        out.flush()
        child = subprocess.Popen(
            list(cmd),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=dict(env) if env is not None else None,
            cwd=cwd,
        )
    _CHILDREN[child.pid] = child
    return child.pid


def _reap() -> None:
    for pid, child in list(_CHILDREN.items()):
        if child.poll() is not None:
            del _CHILDREN[pid]


def exit_code(pid: int) -> int | None:
    """The exit status of a child of this process that has ended, if known."""
    child = _CHILDREN.get(pid)
    return child.poll() if child else None


def has_exited(pid: int) -> bool:
    """pid (a child this process started, or any process) has ended.

    For our own children the Popen object decides: right after exec the command line in /proc
    can still be empty for a moment, so a marker check would misreport a starting process.
    """
    child = _CHILDREN.get(pid)
    if child is not None:
        return child.poll() is not None
    stat = _stat(pid)
    return stat is None or stat[0] in ("Z", "X")


def _stat(pid: int) -> tuple[str, int] | None:
    """(state letter, process group) of pid, or None when there is no such process."""
    try:
        raw = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rfind(")") + 2 :].split()
    return fields[0], int(fields[2])


def exists(pid: int) -> bool:
    """Any process table entry for pid, zombies included."""
    return (PROC / str(pid)).exists()


def cmdline(pid: int) -> str:
    try:
        return (
            (PROC / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        )
    except OSError:
        return ""


def is_alive(pid: int | None, marker: str) -> bool:
    """pid runs (not a zombie) and its command line mentions marker."""
    if not pid:
        return False
    _reap()
    stat = _stat(pid)
    return stat is not None and stat[0] not in ("Z", "X") and marker in cmdline(pid)


def group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes of the process group."""
    members = []
    for entry in PROC.iterdir():
        if entry.name.isdigit():
            stat = _stat(int(entry.name))
            if stat and stat[1] == pgid and stat[0] not in ("Z", "X"):
                members.append(int(entry.name))
    return members


def processes_mentioning(marker: str, exclude: Sequence[int] = ()) -> list[int]:
    """Live processes whose command line mentions marker (strays of an environment)."""
    found = []
    own = {os.getpid(), *exclude}
    for entry in PROC.iterdir():
        if entry.name.isdigit() and int(entry.name) not in own:
            pid = int(entry.name)
            if is_alive(pid, marker):
                found.append(pid)
    return found


def stop_group(pgid: int, timeout: float = 10.0) -> bool:
    """SIGTERM the process group, wait for it to empty, SIGKILL what is left. True when empty."""
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
        if not group_members(pgid):
            return True
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            return True
        if wait_until(lambda: not group_members(pgid), wait):
            return True
    return not group_members(pgid)


def stop_pid(pid: int, timeout: float = 10.0) -> bool:
    """SIGTERM one process, wait, SIGKILL if needed. True when it is gone."""
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
        stat = _stat(pid)
        if stat is None or stat[0] in ("Z", "X"):
            return True
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return True
        if wait_until(lambda: (s := _stat(pid)) is None or s[0] in ("Z", "X"), wait):
            return True
    return False


def log_tail(log: Path, lines: int = 20) -> str:
    """The last lines of a log file, from the latest start marker on."""
    try:
        text = log.read_text(errors="replace")
    except OSError:
        return f"(no log at {log})"
    start_at = text.rfind("\n--- ")
    tail = text[start_at + 1 :] if start_at >= 0 else text
    return "\n".join(tail.splitlines()[-lines:]) or "(log is empty)"
