"""The I/O edges of the health checks: DNS questions and HTTP GETs, both injectable."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests

from orchestrator.adapters.dns.query import query as dns_query
from orchestrator.domain.topology import Topology

# (address, port, name, rtype, recursive, timeout) -> (rcode, values)
DnsQuery = Callable[[str, int, str, str, bool, float], tuple[str, set[str]]]
# (url, timeout) -> (HTTP status or None, milliseconds, error text or None)
HttpGet = Callable[[str, float], tuple[int | None, float, str | None]]


def default_dns_query(
    address: str, port: int, name: str, rtype: str, recursive: bool, timeout: float
) -> tuple[str, set[str]]:
    return dns_query(address, port, name, rtype, recursive=recursive, timeout=timeout)


_session: requests.Session | None = None


def default_http_get(url: str, timeout: float) -> tuple[int | None, float, str | None]:
    """One GET straight to the endpoint (no proxy from the environment), timed."""
    global _session
    if _session is None:
        _session = requests.Session()
        _session.trust_env = False
    t0 = time.perf_counter()
    try:
        resp = _session.get(url, timeout=timeout, allow_redirects=False)
        resp.close()
    except requests.RequestException as exc:
        return None, (time.perf_counter() - t0) * 1000, f"{type(exc).__name__}: {exc}"
    return resp.status_code, (time.perf_counter() - t0) * 1000, None


@dataclass(frozen=True)
class HealthTarget:
    """One health URL of a group, and every hostname whose target it is."""

    url: str
    group: str
    target: str
    hostnames: tuple[str, ...]

    def label(self) -> str:
        return f"{self.group} endpoint {', '.join(self.hostnames)} target {self.target} ({self.url})"


def health_targets(topology: Topology, groups: tuple[str, ...]) -> list[HealthTarget]:
    """Unique health URLs of the groups' endpoints, with the hostnames each one serves."""
    found: dict[str, tuple[str, str, list[str]]] = {}
    for group in topology.groups:
        if group.name not in groups:
            continue
        for ep in group.endpoints:
            for target, url in ep.health_urls():
                entry = found.setdefault(url, (group.name, target, []))
                if ep.hostname not in entry[2]:
                    entry[2].append(ep.hostname)
    return [HealthTarget(url, g, t, tuple(sorted(h))) for url, (g, t, h) in sorted(found.items())]


@dataclass
class Measurement:
    url: str
    codes: list[int | None] = field(default_factory=list)
    millis: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def good(self) -> int:
        return sum(1 for c in self.codes if c is not None and 200 <= c < 300)

    @property
    def healthy(self) -> bool:
        """More than half of the samples answered 2xx."""
        return self.good * 2 > len(self.codes)

    @property
    def median_ms(self) -> float | None:
        ok = [m for c, m in zip(self.codes, self.millis, strict=True) if c is not None and 200 <= c < 300]
        return statistics.median(ok) if ok else None

    def problem(self) -> str:
        bad = [c for c in self.codes if c is None or not 200 <= c < 300]
        what = ", ".join(str(c) for c in sorted({c for c in bad if c is not None}))
        parts = []
        if what:
            parts.append(f"answered {what}")
        if self.errors:
            parts.append(f"unreachable ({self.errors[-1]})")
        return f"{' and '.join(parts) or 'failed'} ({len(bad)} of {len(self.codes)} probes)"

    def to_dict(self) -> dict[str, Any]:
        med = self.median_ms
        return {
            "url": self.url,
            "codes": list(self.codes),
            "median_ms": None if med is None else round(med, 3),
            "healthy": self.healthy,
            "errors": list(self.errors[-3:]),
        }


def measure(
    targets: list[HealthTarget], samples: int, timeout: float, get: HttpGet = default_http_get
) -> dict[str, Measurement]:
    """`samples` GETs per URL, in rounds (so a slow URL does not bias the others' timing)."""
    out = {t.url: Measurement(t.url) for t in targets}
    for _ in range(samples):
        for t in targets:
            code, ms, err = get(t.url, timeout)
            m = out[t.url]
            m.codes.append(code)
            m.millis.append(ms)
            if err:
                m.errors.append(err)
    return out
