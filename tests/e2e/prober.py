"""A client that asks every hostname at every server in a loop while a switch runs.

It counts answers that would break a client: NXDOMAIN, an empty answer, or no answer.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from orchestrator.adapters.dns.query import query


@dataclass
class Prober:
    servers: list[tuple[str, str, int, bool, list[str]]]  # (label, address, port, recursive, hostnames)
    failures: list[str] = field(default_factory=list)
    queries: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def _loop(self) -> None:
        while not self._stop.is_set():
            for label, address, port, recursive, hostnames in self.servers:
                for host in hostnames:
                    rcode, values = query(address, port, host, "A", recursive=recursive, timeout=2)
                    self.queries += 1
                    if rcode != "NOERROR" or not values:
                        self.failures.append(f"{time.time():.3f} {label} {host}: {rcode} {sorted(values)}")

    def __enter__(self) -> Prober:
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=10)
