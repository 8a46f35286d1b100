"""Which backend is in use, and short connections to the shared PostgreSQL store.

The store is the database of Pulumi's postgres:// DIY backend (pulumi/pulumi#19581): the
same URL, the same credentials (PGPASSFILE or PGPASSWORD, never in the URL by our own
tools), tables of our own next to Pulumi's `pulumi_state` table.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from orchestrator.domain.errors import EnvironmentProblem

if TYPE_CHECKING:  # imported where used: a run on another backend skips its ~9 MB
    import psycopg

BACKEND_ENV = "PULUMI_BACKEND_URL"
SCHEMES = ("postgres://", "postgresql://")
CONNECT_TIMEOUT = 5
# Created once per database; an advisory lock makes concurrent first runs safe
# (CREATE TABLE IF NOT EXISTS alone races on the catalog).
SCHEMA_LOCK = 0x6F7263685354  # "orchST"
SCHEMA = """
CREATE TABLE IF NOT EXISTS orchestrator_journal (
    id TEXT PRIMARY KEY,
    stack TEXT NOT NULL,
    created_at TEXT NOT NULL,
    record JSONB NOT NULL,
    saved_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS orchestrator_journal_stack_idx ON orchestrator_journal (stack, created_at);
CREATE TABLE IF NOT EXISTS orchestrator_audit (
    seq BIGSERIAL PRIMARY KEY,
    switch_id TEXT,
    type TEXT NOT NULL,
    line TEXT NOT NULL,
    written_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS orchestrator_audit_switch_idx ON orchestrator_audit (switch_id);
"""

_ready: set[str] = set()
_ready_lock = threading.Lock()


def shared_backend_url() -> str | None:
    """PULUMI_BACKEND_URL when it names the PostgreSQL backend, else None (file backend, Cloud)."""
    url = os.environ.get(BACKEND_ENV, "")
    return url if url.startswith(SCHEMES) else None


def conninfo(url: str) -> str:
    """The libpq URI of a backend URL: Pulumi's own `table` parameter removed."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "table"]
    query.append(("connect_timeout", str(CONNECT_TIMEOUT)))
    query.append(("application_name", "orchestrator"))
    return urlunsplit(parts._replace(scheme="postgresql", query=urlencode(query)))


def redacted(url: str) -> str:
    """The URL without a password (for messages)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


@contextmanager
def connect(url: str) -> Iterator[psycopg.Connection]:
    """A short autocommit connection with our tables in place; EnvironmentProblem when unreachable."""
    import psycopg

    try:
        conn = psycopg.connect(conninfo(url), autocommit=True)
    except psycopg.OperationalError as exc:
        raise EnvironmentProblem(
            f"the shared state database {redacted(url)} is unreachable",
            str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__,
            "start it (`orchestrator dev up --state-db` locally), check PGPASSFILE/PGPASSWORD, "
            "or unset PULUMI_BACKEND_URL to use the file backend",
        ) from exc
    try:
        _ensure_schema(url, conn)
        yield conn
    finally:
        conn.close()


def _ensure_schema(url: str, conn: psycopg.Connection) -> None:
    with _ready_lock:
        if url in _ready:
            return
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK,))
            conn.execute(SCHEMA)
        _ready.add(url)
