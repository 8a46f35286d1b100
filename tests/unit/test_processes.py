"""A process that is gone (or only a zombie nobody reaps) does not hold a lock or a lease."""

from __future__ import annotations

import os
import signal
import socket
import subprocess

from orchestrator.adapters.processes import alive
from orchestrator.services.switch.service import dead_holder_of
from tests.e2e.dnsutil import wait_for


def test_a_killed_grandchild_counts_as_gone_even_unreaped() -> None:
    parent = subprocess.Popen(
        ["bash", "-c", "sleep 300 & echo $!; wait"], stdout=subprocess.PIPE, text=True, start_new_session=True
    )
    grandchild = int(parent.stdout.readline())  # type: ignore[union-attr]
    assert alive(grandchild)
    os.killpg(parent.pid, signal.SIGKILL)  # both: the grandchild is reparented, maybe never reaped
    parent.wait(timeout=10)
    wait_for(lambda: not alive(grandchild), 10, "the killed process to count as gone")
    assert alive(os.getpid())


def test_resume_takes_over_only_its_own_switch_from_a_gone_process() -> None:
    class Holder:
        def __init__(self, holder: str) -> None:
            self.holder = holder

    host = socket.gethostname()
    gone = dead_holder_of("sw-1", alive=lambda pid: False)
    assert gone(Holder(f"alice@{host}:42/sw-1"))
    assert not gone(Holder(f"alice@{host}:42/sw-2"))  # another switch
    assert not gone(Holder("alice@elsewhere:42/sw-1"))  # another host: wait for the TTL
    assert not dead_holder_of("sw-1", alive=lambda pid: True)(Holder(f"alice@{host}:42/sw-1"))
