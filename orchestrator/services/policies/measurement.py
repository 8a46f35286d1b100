"""The health of the groups being activated, measured just before the preview (target-group-healthy).

One GET of each health URL, through the HTTP probe port (orchestrator.ports.probes): the
same probe the dry-run and the post-switchover checks use.
"""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from orchestrator.domain.timestamps import utc_now
from orchestrator.domain.topology import Topology
from orchestrator.ports.probes import HttpProbe

HEALTH_TIMEOUT = 2.0
HEALTH_WORKERS = 16


@dataclass(frozen=True)
class HealthCheck:
    group: str
    hostname: str
    target: str
    url: str
    status: int | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    def problem(self) -> str:
        where = f"{self.group} endpoint {self.hostname} target {self.target}: {self.url}"
        return f"{where} {self.error}" if self.error else f"{where} answered {self.status}"

    def to_config(self) -> dict[str, Any]:
        out: dict[str, Any] = {"hostname": self.hostname, "target": self.target, "url": self.url}
        if self.status is not None:
            out["status"] = self.status
        if self.error:
            out["error"] = self.error
        return out


@dataclass(frozen=True)
class Measurement:
    measured_at: str
    groups: tuple[str, ...]
    checks: tuple[HealthCheck, ...] = ()

    def problems(self) -> list[str]:
        return [c.problem() for c in self.checks if not c.ok]

    def to_config(self) -> dict[str, Any]:
        return {
            "measuredAt": self.measured_at,
            "groups": {
                g: {"checks": [c.to_config() for c in self.checks if c.group == g]} for g in self.groups
            },
        }


def measure_health(
    topology: Topology,
    groups: Iterable[str],
    *,
    probe: HttpProbe,
    timeout: float = HEALTH_TIMEOUT,
) -> Measurement:
    """One GET of each health URL of `groups` (in parallel; each URL once)."""
    wanted = tuple(sorted(set(groups)))
    jobs = [
        (g.name, ep.hostname, target, url)
        for g in topology.groups
        if g.name in wanted
        for ep in g.endpoints
        for target, url in ep.health_urls()
    ]
    measured_at = utc_now()  # when it started: the age check errs on the safe side

    def one(url: str) -> tuple[int | None, str | None]:
        answer = probe(url, timeout)
        if answer.status is None:
            return None, f"unreachable ({answer.error})"
        return answer.status, None

    urls = sorted({url for *_, url in jobs})
    results: dict[str, tuple[int | None, str | None]] = {}
    if urls:
        with ThreadPoolExecutor(max_workers=min(HEALTH_WORKERS, len(urls))) as pool:
            results = dict(zip(urls, pool.map(one, urls), strict=True))
    checks = tuple(HealthCheck(g, host, target, url, *results[url]) for g, host, target, url in jobs)
    return Measurement(measured_at=measured_at, groups=wanted, checks=checks)
