"""The I/O edges of the health checks: DNS questions and HTTP GETs (ports/probes.py)."""

from __future__ import annotations

from orchestrator.adapters.dns.query import query as dns_query
from orchestrator.adapters.probes.http import http_probe


def default_dns_query(
    address: str, port: int, name: str, rtype: str, recursive: bool, timeout: float
) -> tuple[str, set[str]]:
    return dns_query(address, port, name, rtype, recursive=recursive, timeout=timeout)


def default_http_get(url: str, timeout: float) -> tuple[int | None, float, str | None]:
    """One GET of a health URL, timed (orchestrator.adapters.probes.http)."""
    return tuple(http_probe(url, timeout))  # type: ignore[return-value]
