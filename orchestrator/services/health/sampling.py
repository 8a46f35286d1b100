"""Latency sampling of health URLs: `samples` GETs per URL through the injected HTTP probe."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Any

from orchestrator.domain.health import HealthTarget
from orchestrator.ports.probes import HttpGet


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
    targets: list[HealthTarget], samples: int, timeout: float, get: HttpGet
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
