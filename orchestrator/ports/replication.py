"""Reading the database pairs' replication now, and proving a primary takes writes."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from orchestrator.domain.databases import DatabasePair
from orchestrator.domain.replication import Replication

# (pairs) -> who is primary and how far each standby lags (orchestrator.adapters.postgres.measure)
ReplicationReader = Callable[[Iterable[DatabasePair]], Replication]
# (pair, group) -> (the cluster accepted a real write, why not)
WriteProbe = Callable[[DatabasePair, str], tuple[bool, str]]
