"""The `dns` lease: one TXT record on one authoritative server, changed by compare-and-swap.

Every change is an RFC 2136 UPDATE signed with TSIG whose prerequisite is the state we read:
"no TXT rrset at the name" when there was none, otherwise "the TXT rrset is exactly this
value" (value-dependent, RFC 2136 2.4.2). The server checks prerequisites and applies the
update atomically, so of two writers that read the same state exactly one succeeds; the
other gets NXRRSET/YXRRSET and knows that it lost the race.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.ANY.TXT
import dns.tsig
import dns.tsigkeyring
import dns.update

from orchestrator.adapters.lease import codec
from orchestrator.adapters.lease.base import (
    DEFAULT_TTL,
    LeaseCollision,
    LeaseLost,
    LeaseRecord,
    LeaseUnavailable,
    TakeOver,
    acquire_epoch,
    iso,
    lost,
    stamp,
    validate_holder,
    validate_ttl,
)
from orchestrator.domain.errors import AuthError

DEFAULT_NAME = "_orchestrator-lease"
DEFAULT_TIMEOUT = 2.0
# The record's DNS TTL: 0, so that no cache ever answers with an old holder.
RECORD_TTL = 0
# How often acquire re-reads and retries after losing a race to a writer that did not keep it.
ACQUIRE_ATTEMPTS = 3
# Answers to an UPDATE whose prerequisite did not hold: someone changed the record meanwhile.
PREREQUISITE_FAILED = {dns.rcode.NXRRSET, dns.rcode.YXRRSET, dns.rcode.NXDOMAIN, dns.rcode.YXDOMAIN}


@dataclass(frozen=True)
class Observation:
    """What one server stores: the exact rdata (the swap's prerequisite) and its meaning."""

    rdata: dns.rdata.Rdata | None
    record: LeaseRecord | None


class DnsLease:
    """A lease stored on one server (kind `dns`). Also the building block of QuorumLease."""

    def __init__(
        self,
        address: str,
        port: int,
        zone: str,
        *,
        key_name: str,
        key_secret: str,
        key_algorithm: str = "hmac-sha256",
        name: str = DEFAULT_NAME,
        timeout: float = DEFAULT_TIMEOUT,
        label: str | None = None,
        clock: Callable[[], float] = time.time,
    ):
        self.address = address
        self.port = int(port)
        self.zone = dns.name.from_text(zone)
        self.owner = dns.name.from_text(name, self.zone)
        self.key_name = key_name
        self.key_algorithm = key_algorithm
        self.timeout = timeout
        self.clock = clock
        self.where = f"{label} ({address}:{port})" if label else f"{address}:{port}"
        self._keyring = dns.tsigkeyring.from_text({key_name: (key_algorithm, key_secret)})

    def __repr__(self) -> str:
        return f"DnsLease({self.owner.to_text()} on {self.where})"

    # --- the Lease interface -------------------------------------------------------------------

    def acquire(
        self, holder: str, ttl: float = DEFAULT_TTL, *, take_over: TakeOver | None = None
    ) -> LeaseRecord:
        validate_holder(holder)
        validate_ttl(ttl)
        for _ in range(ACQUIRE_ATTEMPTS):
            observed = self.observe()
            now = self.clock()
            epoch = acquire_epoch(observed.record, holder, now, self.where, take_over)
            record = LeaseRecord(holder, epoch, stamp(now + ttl), stamp(now))
            if self.swap(observed, record):
                return record
            # Lost a race: the next read names the winner (LeaseCollision) or finds it gone again.
        now = self.clock()
        raise LeaseCollision(
            "another switch",
            now,
            now=now,
            why=f"the lease record on {self.where} changed under each of {ACQUIRE_ATTEMPTS} attempts "
            "(switches are starting and giving up concurrently)",
        )

    def renew(self, record: LeaseRecord, ttl: float = DEFAULT_TTL) -> LeaseRecord:
        validate_ttl(ttl)
        observed = self.observe()
        now = self.clock()
        current = observed.record
        if current is None or not (record.same_lease(current) and current.is_live(now)):
            raise lost(record, current, now, self.where)
        renewed = replace(current, expires_at=stamp(now + ttl))
        if not self.swap(observed, renewed):
            raise lost(record, self.observe().record, self.clock(), self.where)
        return renewed

    def release(self, record: LeaseRecord) -> None:
        observed = self.observe()
        if observed.record is None or not record.same_lease(observed.record):
            return  # not ours (any more): nothing to give up
        # A lost race means someone else changed it: it is not ours either way.
        self.swap(observed, codec.tombstone(observed.record))

    def read(self) -> LeaseRecord | None:
        record = self.observe().record
        return None if record is None or record.released else record

    def check(self, record: LeaseRecord, *, margin: float = 0.0) -> None:
        current = self.observe().record
        now = self.clock()
        if current is not None and record.same_lease(current) and current.expires_at > now + margin:
            return
        raise too_short(record, current, now, margin, self.where) or lost(record, current, now, self.where)

    # --- the primitives (QuorumLease uses them per server) ---------------------------------------

    def observe(self) -> Observation:
        """Read the record (a TSIG-signed query, so that the answer is the server's own)."""
        query = dns.message.make_query(self.owner, dns.rdatatype.TXT)
        query.flags &= ~dns.flags.RD
        query.use_tsig(self._keyring, keyname=self.key_name, algorithm=self.key_algorithm)
        response = self._send(query)
        rcode = response.rcode()
        if rcode == dns.rcode.NXDOMAIN:
            return Observation(None, None)
        if rcode != dns.rcode.NOERROR or not response.flags & dns.flags.AA:
            raise self._unavailable(
                f"answers {dns.rcode.to_text(rcode)}"
                + ("" if response.flags & dns.flags.AA else ", not authoritatively")
                + f" for {self.owner.to_text()}: it does not serve zone {self.zone.to_text()}"
            )
        rrset = response.get_rrset(response.answer, self.owner, dns.rdataclass.IN, dns.rdatatype.TXT)
        if not rrset:
            return Observation(None, None)
        if len(rrset) != 1:
            raise self._unavailable(
                f"holds {len(rrset)} TXT values at {self.owner.to_text()} where the lease keeps one "
                "(someone wrote it by hand); delete the extra values with nsupdate"
            )
        rdata = rrset[0]
        text = codec.from_strings(rdata.strings)
        try:
            record = codec.decode(text)
        except ValueError as exc:
            raise self._unavailable(
                f"holds a TXT value at {self.owner.to_text()} that is not a lease record ({exc}): {text!r}"
            ) from None
        return Observation(rdata, record)

    def swap(self, observed: Observation, record: LeaseRecord) -> bool:
        """Replace what `observed` saw with `record`; False when the record changed meanwhile."""
        update = dns.update.UpdateMessage(
            self.zone, keyring=self._keyring, keyname=self.key_name, keyalgorithm=self.key_algorithm
        )
        if observed.rdata is None:
            update.absent(self.owner, dns.rdatatype.TXT)
        else:
            update.present(self.owner, observed.rdata)
        new = dns.rdtypes.ANY.TXT.TXT(
            dns.rdataclass.IN, dns.rdatatype.TXT, codec.to_strings(codec.encode(record))
        )
        update.replace(self.owner, RECORD_TTL, new)
        response = self._send(update)
        rcode = response.rcode()
        if rcode == dns.rcode.NOERROR:
            return True
        if rcode in PREREQUISITE_FAILED:
            return False
        if rcode in (dns.rcode.NOTAUTH, dns.rcode.REFUSED):
            raise AuthError(
                f"lease server {self.where} refused an update of {self.owner.to_text()}: "
                f"{dns.rcode.to_text(rcode)}",
                "the server does not accept updates signed with key "
                f"'{self.key_name}' for zone {self.zone.to_text()}",
                "check the TSIG key name and secret, and the zone's allow-update on the server",
            )
        raise self._unavailable(f"answered the update with {dns.rcode.to_text(rcode)}")

    # --- transport ---------------------------------------------------------------------------

    def _send(self, message: dns.message.Message) -> dns.message.Message:
        try:
            return dns.query.tcp(message, self.address, port=self.port, timeout=self.timeout)
        except dns.tsig.PeerError as exc:  # BADSIG / BADKEY / BADTIME
            raise AuthError(
                f"lease server {self.where} rejected the TSIG key '{self.key_name}' ({type(exc).__name__})",
                "the key name, algorithm or secret does not match the server's key"
                + (" (or the clocks differ by more than 5 minutes)" if "Time" in type(exc).__name__ else ""),
                "fix tsigKeyName / tsigAlgorithm in the lease configuration and the secret in its "
                "environment variable (TSIG_SECRET by default), then run again",
            ) from exc
        except (OSError, EOFError, dns.exception.DNSException) as exc:
            reason = str(exc) or type(exc).__name__
            raise self._unavailable(f"is unreachable ({type(exc).__name__}: {reason})") from exc

    def _unavailable(self, reason: str) -> LeaseUnavailable:
        return LeaseUnavailable(
            f"lease server {self.where} {reason}",
            "the lease lives on this server: without it no switch can take, renew or check the lease",
            failed={self.where: reason},
        )


def too_short(
    record: LeaseRecord, current: LeaseRecord | None, now: float, margin: float, where: str = ""
) -> LeaseLost | None:
    """The LeaseLost for a lease that is ours and live but ends within the write's margin."""
    if current is None or not record.same_lease(current) or not current.is_live(now):
        return None
    on = f" on {where}" if where else ""
    return LeaseLost(
        f"the lease of {record.holder} (epoch {record.epoch}) is about to expire",
        f"it expires at {iso(current.expires_at)}{on}, {current.expires_at - now:.1f}s from now, "
        f"less than the {margin:.0f}s a write may take",
        "the lease is renewed every 10 s by the switch that holds it: if that process stopped "
        "renewing, it stalled; resume or roll back the switch",
        current=current,
    )
