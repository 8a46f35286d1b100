"""One DNS question to one server: what a client at that vantage point sees."""

from __future__ import annotations

import dns.exception
import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype

from orchestrator.domain.values import from_rdata


def query(
    address: str, port: int, name: str, rtype: str = "A", *, recursive: bool = False, timeout: float = 3.0
) -> tuple[str, set[str]]:
    """(rcode text, canonical values of the answer for that type); rcode 'TIMEOUT' when silent."""
    msg = dns.message.make_query(name.rstrip(".") + ".", dns.rdatatype.from_text(rtype))
    if not recursive:
        msg.flags &= ~dns.flags.RD
    try:
        resp = dns.query.udp(msg, address, port=port, timeout=timeout)
        if resp.flags & dns.flags.TC:
            resp = dns.query.tcp(msg, address, port=port, timeout=timeout)
    except (dns.exception.Timeout, OSError):
        return "TIMEOUT", set()
    wanted = msg.question[0].rdtype
    values = {from_rdata(r) for rrset in resp.answer if rrset.rdtype == wanted for r in rrset}
    return dns.rcode.to_text(resp.rcode()), values
