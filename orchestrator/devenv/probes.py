"""Readiness probes: does a DNS server answer, does an HTTP endpoint answer."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Mapping

import dns.exception
import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype

# Loopback servers only: never through an HTTP proxy from the environment.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


# Short: a probe sent before the server binds is lost, and the next poll should come soon.
DNS_TIMEOUT = 0.25


def dns_rcode(
    address: str,
    port: int,
    name: str,
    rtype: str = "SOA",
    *,
    recursive: bool = False,
    timeout: float = DNS_TIMEOUT,
) -> int | None:
    """The rcode a server answers for name/rtype over UDP, or None when it does not answer."""
    msg = dns.message.make_query(name.rstrip(".") + ".", dns.rdatatype.from_text(rtype))
    if not recursive:
        msg.flags &= ~dns.flags.RD
    try:
        return dns.query.udp(msg, address, port=port, timeout=timeout).rcode()
    except (OSError, dns.exception.DNSException):
        return None


def soa_served(address: str, port: int, zone: str, timeout: float = DNS_TIMEOUT) -> bool:
    """The server answers authoritatively with the zone's SOA."""
    msg = dns.message.make_query(zone.rstrip(".") + ".", dns.rdatatype.SOA)
    msg.flags &= ~dns.flags.RD
    try:
        resp = dns.query.udp(msg, address, port=port, timeout=timeout)
    except (OSError, dns.exception.DNSException):
        return False
    return (
        resp.rcode() == dns.rcode.NOERROR
        and bool(resp.flags & dns.flags.AA)
        and any(r.rdtype == dns.rdatatype.SOA for r in resp.answer)
    )


def http_status(url: str, headers: Mapping[str, str] | None = None, timeout: float = 1.0) -> int | None:
    """HTTP status of a GET, or None when nothing answers."""
    req = urllib.request.Request(url, headers=dict(headers or {}))
    try:
        with _OPENER.open(req, timeout=timeout) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except (OSError, ValueError):
        return None
