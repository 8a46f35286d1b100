"""Is a process of this host still running? (For stale locks and leases of killed runs.)"""

from __future__ import annotations

import os


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
