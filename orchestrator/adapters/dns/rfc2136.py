"""RFC 2136 dynamic updates with TSIG (dnspython), and direct queries for reads."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdataclass
import dns.rdataset
import dns.rdatatype
import dns.tsig
import dns.tsigkeyring
import dns.update
import dns.xfr
import dns.zone

from orchestrator.adapters.dns.errors import CredentialsRejected, ProviderError, ServerUnreachable
from orchestrator.adapters.dns.powerdns import Change, ZoneContent
from orchestrator.domain.values import canonical, fqdn, from_rdata, to_rdata

# A DNS message over TCP is at most 65,535 bytes. Room is kept for the header, the zone
# section and the TSIG record; each change is sized uncompressed (an upper bound).
MAX_MESSAGE = 65535
_MESSAGE_OVERHEAD = 1024


@dataclass(frozen=True)
class RFC2136Client:
    address: str
    port: int
    key_name: str
    key_secret: str
    key_algorithm: str = "hmac-sha256"
    timeout: float = 5.0

    @property
    def server(self) -> str:
        return f"{self.address}:{self.port}"

    def _keyring(self) -> dict:
        return dns.tsigkeyring.from_text({self.key_name: (self.key_algorithm, self.key_secret)})

    def _send(self, msg: dns.message.Message) -> dns.message.Message:
        try:
            return dns.query.tcp(msg, self.address, port=self.port, timeout=self.timeout)
        except dns.tsig.PeerError as exc:  # BADSIG / BADKEY / BADTIME from the server
            raise CredentialsRejected(
                f"DNS server {self.server} rejected the TSIG key '{self.key_name}' ({type(exc).__name__})",
                "the key name, algorithm or secret does not match the server's key",
                "set TSIG_KEY_NAME / TSIG_ALGORITHM / TSIG_SECRET to the server's key (for the local "
                "environment unset them: the key in .dev/secrets is used), then run again",
            ) from exc
        except (OSError, dns.exception.Timeout) as exc:
            raise ServerUnreachable(
                f"DNS server {self.server} is unreachable",
                f"{type(exc).__name__}: {exc}",
                "start the server (`orchestrator dev up` for the local environment) or fix the zone's "
                "address/port settings in the stack config, then run again",
            ) from exc

    def _check_rcode(self, resp: dns.message.Message, action: str) -> None:
        rcode = resp.rcode()
        if rcode == dns.rcode.NOERROR:
            return
        if rcode == dns.rcode.NOTAUTH:
            raise CredentialsRejected(
                f"DNS server {self.server} refused to {action}: NOTAUTH",
                "the server does not accept updates signed with this TSIG key for this zone",
                "check the TSIG key and the zone's allow-update / update-policy on the server",
            )
        raise ProviderError(
            f"DNS server {self.server} refused to {action}: {dns.rcode.to_text(rcode)}",
            "REFUSED means updates are not allowed; NOTZONE means the name is outside the zone",
            "check the zone name in the stack config and the server's update policy",
        )

    def check_zone(self, zone: str) -> None:
        """A TSIG-signed SOA query: proves reachability, the key and the zone at once."""
        q = dns.message.make_query(fqdn(zone), dns.rdatatype.SOA)
        q.use_tsig(self._keyring(), keyname=self.key_name, algorithm=self.key_algorithm)
        resp = self._send(q)
        if resp.rcode() == dns.rcode.NOERROR and not resp.answer:
            raise ProviderError(
                f"DNS server {self.server} is not authoritative for zone {zone}",
                "the SOA query returned no answer",
                "fix the zone name in the stack config or add the zone to the server",
            )
        self._check_rcode(resp, f"serve zone {zone}")

    def get_rrset(self, zone: str, name: str, rtype: str) -> tuple[int, list[str]] | None:
        q = dns.message.make_query(fqdn(name), dns.rdatatype.from_text(rtype))
        q.flags &= ~dns.flags.RD
        resp = self._send(q)
        if resp.rcode() == dns.rcode.NXDOMAIN:
            return None
        self._check_rcode(resp, f"answer {name} {rtype}")
        for rrset in resp.answer:
            if rrset.name == dns.name.from_text(fqdn(name)) and dns.rdatatype.to_text(rrset.rdtype) == rtype:
                return rrset.ttl, canonical(rtype, [from_rdata(r) for r in rrset])
        return None

    def _update(self, zone: str) -> dns.update.UpdateMessage:
        return dns.update.UpdateMessage(
            fqdn(zone), keyring=self._keyring(), keyname=self.key_name, keyalgorithm=self.key_algorithm
        )

    @staticmethod
    def _add_change(upd: dns.update.UpdateMessage, change: Change) -> int:
        """Adds one change (delete + add for a replace: atomic within the message); its wire size."""
        op, name, rtype, ttl, values = change
        owner = dns.name.from_text(fqdn(name))
        rdtype = dns.rdatatype.from_text(rtype)
        size = len(owner.to_wire()) + 10
        upd.delete(owner, rdtype)
        if op == "replace":
            rds = dns.rdataset.Rdataset(dns.rdataclass.IN, rdtype, ttl=ttl)
            for value in canonical(rtype, list(values)):
                rdata = to_rdata(rtype, value)
                rds.add(rdata)
                size += len(owner.to_wire()) + 10 + len(rdata.to_wire())
            upd.add(owner, rds)
        return size

    def replace_rrset(self, zone: str, name: str, rtype: str, ttl: int, values: list[str]) -> None:
        """Delete + add in one UPDATE message: applied atomically, so no empty answer in between."""
        self.apply(zone, [("replace", name, rtype, ttl, values)])

    def delete_rrset(self, zone: str, name: str, rtype: str) -> None:
        self.apply(zone, [("delete", name, rtype, 0, ())])

    def apply(self, zone: str, changes: Sequence[Change]) -> None:
        """The changes in as few UPDATE messages as fit in 64 KiB each; each message is atomic.

        A record set's delete and add are never split across two messages.
        """
        budget = MAX_MESSAGE - _MESSAGE_OVERHEAD
        upd, used, count = self._update(zone), 0, 0
        for change in changes:
            probe = self._update(zone)
            size = self._add_change(probe, change)
            if count and used + size > budget:
                self._send_update(upd, zone, count, changes)
                upd, used, count = self._update(zone), 0, 0
            self._add_change(upd, change)
            used, count = used + size, count + 1
        if count:
            self._send_update(upd, zone, count, changes)

    def _send_update(
        self, upd: dns.update.UpdateMessage, zone: str, count: int, changes: Sequence[Change]
    ) -> None:
        if len(changes) == 1:
            op, name, rtype = changes[0][:3]
            action = f"{op} {name} {rtype}"
        else:
            action = f"apply {count} record-set changes to zone {zone}"
        self._check_rcode(self._send(upd), action)

    def read_zone(self, zone: str) -> ZoneContent:
        """Every record set of the zone in one AXFR signed with the TSIG key."""
        try:
            xfr = dns.zone.Zone(fqdn(zone))
            query, _ = dns.xfr.make_query(
                xfr,
                serial=None,  # AXFR: the whole zone
                keyring=self._keyring(),
                keyname=self.key_name,
                keyalgorithm=self.key_algorithm,
            )
            dns.query.inbound_xfr(
                self.address, xfr, query, port=self.port, timeout=self.timeout, lifetime=self.timeout * 6
            )
        except dns.xfr.TransferError as exc:
            rcode = dns.rcode.to_text(exc.rcode)
            raise ProviderError(
                f"DNS server {self.server} refused the zone transfer (AXFR) of {zone}: {rcode}",
                f"the orchestrator reads a whole zone in one AXFR signed with the TSIG key '{self.key_name}'",
                f'allow it on the server: `allow-transfer {{ key "{self.key_name}"; }};` in the zone '
                "(docs/engine.md), then run again",
            ) from exc
        except dns.tsig.PeerError as exc:
            raise CredentialsRejected(
                f"DNS server {self.server} rejected the TSIG key '{self.key_name}' ({type(exc).__name__})",
                "the key name, algorithm or secret does not match the server's key",
                "set TSIG_KEY_NAME / TSIG_ALGORITHM / TSIG_SECRET to the server's key, then run again",
            ) from exc
        except (OSError, EOFError, dns.exception.Timeout) as exc:
            raise ServerUnreachable(
                f"DNS server {self.server} is unreachable (zone transfer of {zone})",
                f"{type(exc).__name__}: {exc}",
                "start the server (`orchestrator dev up` for the local environment) or fix the zone's "
                "address/port settings in the stack config, then run again",
            ) from exc
        out: ZoneContent = {}
        origin = xfr.origin
        for owner, rdataset in xfr.iterate_rdatasets():
            name = owner.derelativize(origin).to_text().rstrip(".").lower()
            rtype = dns.rdatatype.to_text(rdataset.rdtype)
            out[(name, rtype)] = (rdataset.ttl, canonical(rtype, [from_rdata(r) for r in rdataset]))
        return out
