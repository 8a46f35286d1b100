"""The lease record's text: one TXT value, read leniently and written canonically.

Canonical form (docs/lease.md):

    holder=alice@host:4242/switch-1a2b;epoch=7;acquired=1767225600.000;expires=1767225630.000

A released lease is a tombstone that keeps the epoch: `holder=;epoch=7;acquired=...;expires=0`.
Reading accepts any field order, spaces around `;` and `=`, upper-case keys, unknown fields
(ignored, so that a later version may add some) and ISO 8601 times; it needs `epoch`.
"""

from __future__ import annotations

from datetime import datetime

from orchestrator.adapters.lease.base import LeaseRecord, stamp

TXT_CHUNK = 255  # one character-string of a TXT record holds at most 255 octets


def encode(record: LeaseRecord) -> str:
    return (
        f"holder={record.holder};epoch={record.epoch};"
        f"acquired={record.acquired_at:.3f};expires={_expires_text(record)}"
    )


def _expires_text(record: LeaseRecord) -> str:
    return "0" if record.released and record.expires_at == 0 else f"{record.expires_at:.3f}"


def tombstone(record: LeaseRecord) -> LeaseRecord:
    """What release() leaves behind: no holder, no expiry, the same epoch."""
    return LeaseRecord(holder="", epoch=record.epoch, expires_at=0.0, acquired_at=record.acquired_at)


def decode(text: str) -> LeaseRecord:
    """Parse a record value; ValueError (saying what is wrong) when it is not a lease record."""
    fields: dict[str, str] = {}
    for part in text.split(";"):
        if not part.strip():
            continue
        key, sep, value = part.partition("=")
        if not sep:
            raise ValueError(f"field {part.strip()!r} has no '='")
        fields[key.strip().lower()] = value.strip()
    if "epoch" not in fields:
        raise ValueError("it has no epoch field")
    try:
        epoch = int(fields["epoch"])
    except ValueError:
        raise ValueError(f"epoch {fields['epoch']!r} is not a whole number") from None
    if epoch < 0:
        raise ValueError(f"epoch {epoch} is negative")
    return LeaseRecord(
        holder=fields.get("holder", ""),
        epoch=epoch,
        expires_at=_time(fields, "expires"),
        acquired_at=_time(fields, "acquired"),
    )


def _time(fields: dict[str, str], key: str) -> float:
    text = fields.get(key, "")
    if not text:
        return 0.0
    try:
        return stamp(float(text))
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{key} {text!r} is neither unix seconds nor an ISO 8601 time") from None
    if parsed.tzinfo is None:
        raise ValueError(f"{key} {text!r} has no time zone (use Z for UTC)")
    return stamp(parsed.timestamp())


def to_strings(text: str) -> list[bytes]:
    """A value as TXT character-strings (split every 255 octets; readers join them)."""
    raw = text.encode()
    return [raw[i : i + TXT_CHUNK] for i in range(0, len(raw), TXT_CHUNK)] or [b""]


def from_strings(strings: list[bytes] | tuple[bytes, ...]) -> str:
    return b"".join(strings).decode("utf-8", errors="replace")
