"""DNS names and record values in canonical form.

One canonical spelling per value is what makes plans comparable: the topology, the
desired state and what a server reports back must spell `2001:DB8::1`, `www.Example.test.`
and `www.example.test` the same way, or every preview shows a change that is not one.
Canonical form matches orchestrator/domain/values.py (what state holds): A/AAAA as
addresses (AAAA in dnspython's spelling, which is what the servers' answers parse to),
CNAME as a lower-case name without trailing dot, TXT as the plain text without quotes.
"""

from __future__ import annotations

import ipaddress
import re

import dns.exception
import dns.ipv6

ADDRESS_TYPES = ("A", "AAAA")
TARGET_TYPES = ("A", "AAAA", "CNAME")

MAX_NAME = 253  # presentation length of a name without the trailing dot
MAX_LABEL = 63
_LABEL = re.compile(r"^[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?$")


def normalise_name(name: str) -> str:
    """Lower case, surrounding space and one trailing dot removed: DNS names are case-insensitive."""
    name = name.strip().lower()
    return name[:-1] if name.endswith(".") else name


def name_problem(name: str, *, wildcard: bool = False) -> str | None:
    """Why `name` (already normalised) is not a usable host or zone name, or None.

    Labels are letters, digits, `_` and inner `-` (underscore for service names such
    as `_sip._tcp`); with `wildcard`, the leftmost label may be `*` and nothing else may.
    """
    if not name:
        return "the name is empty"
    if len(name) > MAX_NAME:
        return f"the name has {len(name)} characters; DNS allows at most {MAX_NAME}"
    labels = name.split(".")
    for i, label in enumerate(labels):
        if label == "*" and i == 0 and wildcard and len(labels) > 1:
            continue
        if "*" in label:
            if wildcard:
                return "a wildcard is allowed only as the whole leftmost label (`*.app.example.test`)"
            return "`*` is not allowed here"
        if not label:
            return "the name has an empty label (two dots in a row, or a leading dot)"
        if len(label) > MAX_LABEL:
            return f"the label '{label}' has {len(label)} characters; DNS allows at most {MAX_LABEL}"
        if not _LABEL.match(label):
            return f"the label '{label}' may contain only letters, digits, '_' and inner '-'"
    return None


def in_zone(name: str, zone: str) -> bool:
    """True when `name` is `zone` itself or a name below it (label-wise, not by suffix)."""
    return name == zone or name.endswith("." + zone)


def canonical_ipv4(value: str) -> str:
    """The dotted-quad spelling; raises ValueError for anything else (no leading zeros)."""
    return str(ipaddress.IPv4Address(value.strip()))


def canonical_ipv6(value: str) -> str:
    """dnspython's spelling, the one servers' answers parse to; raises ValueError if malformed."""
    text = value.strip()
    ipaddress.IPv6Address(text)  # strict syntax check (rejects v4 addresses, allows no zone id below)
    if "%" in text:
        raise ValueError("a scope id (%...) has no meaning in DNS")
    try:
        return dns.ipv6.inet_ntoa(dns.ipv6.inet_aton(text))
    except dns.exception.SyntaxError as exc:  # pragma: no cover - ipaddress already agreed
        raise ValueError(str(exc)) from exc


def canonical_value(rtype: str, value: str) -> str:
    """Canonical spelling of one value of a record of type `rtype`; unknown shapes pass through.

    Lenient on purpose: it is also applied to what a live zone reports, where a value
    we cannot parse must still be shown (and then differ), not crash the comparison.
    """
    rtype = rtype.upper()
    try:
        if rtype == "A":
            return canonical_ipv4(value)
        if rtype == "AAAA":
            return canonical_ipv6(value)
    except ValueError:
        return value.strip()
    if rtype == "CNAME":
        return normalise_name(value)
    return value
