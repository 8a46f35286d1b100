"""The RecordSet resource's decisions (pure, unit-tested): diff, id and outputs."""

from __future__ import annotations

from typing import Any

from orchestrator.domain.records import record_key
from orchestrator.domain.values import canonical

# Inputs whose change is a change of the record set's content.
CONTENT_KEYS = ("ttl", "values")
# Inputs that identify the record set: a change means another record set.
IDENTITY_KEYS = ("backend", "zone", "name", "type")
INPUT_KEYS = (*IDENTITY_KEYS, *CONTENT_KEYS, "settings")


def record_id(props: dict[str, Any]) -> str:
    return record_key(str(props["zone"]), str(props["name"]), str(props["type"]))


def plan_diff(olds: dict[str, Any], news: dict[str, Any]) -> tuple[list[str], list[str]]:
    """(changed keys, keys that force a replacement)."""
    changes: list[str] = []
    for key in CONTENT_KEYS:
        old, new = olds.get(key), news.get(key)
        if key == "values" and olds.get("type") == news.get("type"):
            old = canonical(olds["type"], list(old or []))
            new = canonical(news["type"], list(new or []))
        elif key == "ttl" and old is not None and new is not None:
            old, new = int(old), int(new)  # numbers travel as floats
        if old != new:
            changes.append(key)
    replaces = [k for k in IDENTITY_KEYS if olds.get(k) != news.get(k)]
    if olds.get("settings") != news.get("settings"):
        changes.append("settings")  # where to reach the server: no DNS change by itself
    return changes + replaces, replaces


def outputs(props: dict[str, Any]) -> dict[str, Any]:
    """The state kept for a record set: its inputs, values in canonical form, ttl an integer."""
    outs = {k: props[k] for k in INPUT_KEYS if k in props}
    outs["ttl"] = int(outs["ttl"])
    outs["values"] = canonical(str(props["type"]), list(props["values"]))
    return outs
