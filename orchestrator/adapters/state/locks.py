"""Stale Pulumi stack locks in the PostgreSQL backend (the file backend's: adapters.pulumi.locks).

A run killed with SIGKILL leaves its lock object (JSON naming pid and host) in the
`pulumi_state` table, and every later update of the stack fails as locked. The rule is the
file backend's: a lock is stale when its holder is a process on this host that no longer
exists. A lock from another host is never removed here: nothing proves that process gone.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from psycopg import sql

from orchestrator.adapters.pulumi.locks import is_stale
from orchestrator.adapters.state.backend import connect
from orchestrator.adapters.state.migrate import PgBucket


def pg_stack_locks(url: str, stack: str) -> list[tuple[str, dict[str, Any]]]:
    """(key, lock content) of the stack's locks."""
    bucket = PgBucket(url)
    pattern = (
        (bucket.prefix + ".pulumi/locks/").replace("_", r"\_") + "%/" + stack.replace("_", r"\_") + "/%.json"
    )
    with connect(url) as conn:
        rows = conn.execute(
            sql.SQL("SELECT key, data FROM {} WHERE key LIKE %s ORDER BY key").format(
                sql.Identifier(bucket.table)
            ),
            (pattern,),
        ).fetchall()
    out = []
    for key, data in rows:
        try:
            info = json.loads(base64.b64decode(data["data"]))
        except (ValueError, KeyError, TypeError):
            info = {}
        out.append((key, info if isinstance(info, dict) else {}))
    return out


def clear_stale_pg_locks(url: str, stack: str) -> list[dict[str, Any]]:
    """Remove the stack's locks whose holder process on this host is gone; returns them."""
    bucket = PgBucket(url)
    removed = []
    for key, info in pg_stack_locks(url, stack):
        if is_stale(info):
            with connect(url) as conn:
                conn.execute(
                    sql.SQL("DELETE FROM {} WHERE key = %s").format(sql.Identifier(bucket.table)), (key,)
                )
            removed.append(info)
    return removed
