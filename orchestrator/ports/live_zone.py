"""The DNS servers as they are now: what they serve, whether they can be written to."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from orchestrator.domain.records import RecordSet
from orchestrator.domain.topology import Topology

# topology -> record-set key -> what the zone's authoritative server serves (absent: not served)
LiveZoneReader = Callable[[Topology], Mapping[str, RecordSet]]
# topology -> None; raises an OrchestratorError naming the server that is down or refuses us
ZoneChecker = Callable[[Topology], None]
# () -> (address, port) of a caching resolver clients use, when there is one (local Unbound)
CachingResolver = Callable[[], tuple[str, int] | None]
