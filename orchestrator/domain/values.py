"""Record values between our canonical form and the DNS servers' wire/API forms.

Canonical form (what the planning core produces and what state holds): A/AAAA as
addresses, CNAME as a name without trailing dot, TXT as the plain text without quotes.
"""

from __future__ import annotations

import functools

import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype

TXT_CHUNK = 255  # a TXT character-string holds at most 255 octets


def fqdn(name: str) -> str:
    """`www.example.test` -> `www.example.test.` (PowerDNS and DNS wire want absolute names)."""
    return name if name.endswith(".") else name + "."


def relative(name: str) -> str:
    return name[:-1] if name.endswith(".") else name


def txt_strings(text: str) -> list[str]:
    """`text` as escaped character-strings of at most TXT_CHUNK characters, without quotes.

    The one TXT chunking: the zone-file form below, the RFC 2136 client and the cloud DNS
    mapping all split long values here.
    """
    chunks = [text[i : i + TXT_CHUNK] for i in range(0, len(text), TXT_CHUNK)] or [""]
    return [c.replace("\\", "\\\\").replace('"', '\\"') for c in chunks]


def quote_txt(text: str) -> str:
    """Zone-file form: `"abc"`, or `"first 255" "rest"` for long values."""
    return " ".join(f'"{c}"' for c in txt_strings(text))


def to_zone_text(rtype: str, value: str) -> str:
    """The presentation (zone-file) form of one canonical value."""
    if rtype == "TXT":
        return quote_txt(value)
    if rtype == "CNAME":
        return fqdn(value).lower()
    return value


def to_rdata(rtype: str, value: str) -> dns.rdata.Rdata:
    return dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.from_text(rtype), to_zone_text(rtype, value))


def from_rdata(rdata: dns.rdata.Rdata) -> str:
    """Canonical value of one rdata (TXT strings are joined, as DNS clients do)."""
    rtype = dns.rdatatype.to_text(rdata.rdtype)
    if rtype == "TXT":
        return b"".join(rdata.strings).decode("utf-8", "replace")
    if rtype == "CNAME":
        return relative(rdata.target.to_text()).lower()
    return rdata.to_text()


def from_zone_text(rtype: str, text: str) -> str:
    """Canonical value of one presentation-form value (as PowerDNS's API returns it)."""
    return from_rdata(dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.from_text(rtype), text))


@functools.lru_cache(maxsize=1 << 16)
def _canonical_value(rtype: str, value: str) -> str:
    # Cached: a refresh and a preview compare every record set's values several times (Read,
    # Diff of the refresh, Diff of the update), and each parse is a dnspython rdata parse.
    return from_zone_text(rtype, to_zone_text(rtype, value))


def canonical(rtype: str, values: list[str] | tuple[str, ...]) -> list[str]:
    """Sorted, de-duplicated canonical values (so equal sets compare equal)."""
    return sorted({_canonical_value(rtype, v) for v in values})
