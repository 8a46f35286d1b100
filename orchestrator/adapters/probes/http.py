"""The one way the orchestrator probes an HTTP health URL (policy run, dry-run, health checks).

One GET, timed, through a shared requests session that honours the proxy settings of the
environment (HTTP(S)_PROXY, NO_PROXY) like every other HTTP client of the orchestrator;
put the endpoints in NO_PROXY to reach them directly. Redirects are followed: a health URL
that redirects to a page answering 2xx is healthy. The error is a short, stable reason
(it ends up in blockers, which the plan fingerprint covers).
"""

from __future__ import annotations

import threading
import time

import requests

from orchestrator.ports.probes import HttpAnswer

_local = threading.local()  # requests.Session is not documented as thread-safe: one per thread


def _session() -> requests.Session:
    session: requests.Session | None = getattr(_local, "session", None)
    if session is None:
        session = _local.session = requests.Session()
    return session


def why_unreachable(exc: requests.RequestException, timeout: float) -> str:
    """A short, stable reason for a failed GET."""
    if isinstance(exc, requests.Timeout):
        return f"no answer within {timeout:g}s"
    text = str(exc).lower()
    for needle, reason in (
        ("connection refused", "connection refused"),
        ("name or service not known", "name not resolved"),
        ("no route to host", "no route to host"),
        ("ssl", "TLS handshake failed"),
    ):
        if needle in text:
            return reason
    return "connection failed" if isinstance(exc, requests.ConnectionError) else type(exc).__name__


def http_probe(url: str, timeout: float) -> HttpAnswer:
    """One GET of `url`: its status, how long it took, or why it failed."""
    t0 = time.perf_counter()
    try:
        resp = _session().get(url, timeout=timeout)
        resp.close()
    except requests.RequestException as exc:
        return HttpAnswer(None, (time.perf_counter() - t0) * 1000, why_unreachable(exc, timeout))
    return HttpAnswer(resp.status_code, (time.perf_counter() - t0) * 1000, None)
