"""Processes of this host: is one still running (stale locks and leases of killed runs), and
exiting with the parent that started us (the engine's plugins)."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable


def alive(pid: int) -> bool:
    """True while the process runs. A zombie counts as gone: a killed `pulumi` whose parent
    was killed too is reparented to an init that may never reap it, and its pid would
    otherwise hold the stack lock forever."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True  # no /proc: the signal said it exists
    return state not in ("Z", "X")


def exit_with_parent(before_exit: Callable[[], None] | None = None, interval: float = 0.5) -> None:
    """Exit when the process that started us is gone. A kill -9 of `pulumi` leaves its plugins
    running in their own process groups, and an orphaned plugin would live forever. Call it
    before anyone can learn our port: a parent killed right after reading it must not leave
    us taking its successor (init) for the engine. `before_exit` stops what we started."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(interval)
        if before_exit is not None:
            before_exit()
        os._exit(0)  # nothing to flush: the engine that would read it is gone

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()
