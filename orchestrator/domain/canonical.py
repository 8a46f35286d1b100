"""One byte-exact JSON spelling of planning objects, for fingerprints.

A plan fingerprint (DESIGN.md: first 16 hex digits of SHA-256 over the canonical plan)
is only useful if equal plans always serialise to equal bytes: keys sorted, no
whitespace, tuples/lists/sets as JSON arrays (sets sorted), dataclasses as objects of
their compared fields (a field outside equality, such as a record set's URN, is not part of
what an object means). Anything else is refused rather than guessed at.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from typing import Any


def to_plain(obj: Any) -> Any:
    """JSON-ready plain data (dict, list, str, int, float, bool, None) of a planning object."""
    if obj is None or isinstance(obj, bool | int | float | str):
        return obj
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_plain(getattr(obj, f.name)) for f in dataclasses.fields(obj) if f.compare}
    if isinstance(obj, Mapping):
        return {str(k): to_plain(v) for k, v in obj.items()}
    if isinstance(obj, set | frozenset):
        return sorted((to_plain(v) for v in obj), key=lambda v: json.dumps(v, sort_keys=True))
    if isinstance(obj, list | tuple):
        return [to_plain(v) for v in obj]
    raise TypeError(f"canonical_json cannot serialise {type(obj).__name__}")


def canonical_json(obj: Any) -> str:
    """Sorted keys, `,`/`:` separators, UTF-8 text as is, NaN refused."""
    return json.dumps(
        to_plain(obj), sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )
