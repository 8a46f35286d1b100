"""The vocabulary of the switch journal: kinds of change, switch ids, plan fingerprints."""

from __future__ import annotations

import re

KINDS: tuple[str, ...] = ("switch", "add-active-group", "remove-active-group", "rollback")
SWITCH_ID_RE = re.compile(r"sw-\d{8}T\d{6}Z-[0-9a-f]{6}")
FINGERPRINT_RE = re.compile(r"[0-9a-f]{16}")


def is_switch_id(text: str) -> bool:
    return SWITCH_ID_RE.fullmatch(text) is not None
