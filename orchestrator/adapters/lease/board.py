"""The watch observers' board: verdicts, the anti-flap block and the last automatic switch,
kept as TXT records on the lease servers (docs/watch.md).

Why there: every watch process already reaches the lease servers with a TSIG key (it must take
the lease to switch), they sit apart from the groups being judged, and a quorum of them survives
one being down. Each observer owns one TXT value inside one rrset per stack
(`obs.<stack>._orchestrator-watch.<lease zone>`), replaced in one signed UPDATE by deleting
exactly its previous value and adding the new one, so observers never overwrite each other and
one query reads them all. Values are JSON, split into 255-octet strings.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable
from typing import Any

import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.ANY.TXT
import dns.update

from orchestrator.adapters.lease.base import LeaseUnavailable
from orchestrator.adapters.lease.dnslease import DnsLease
from orchestrator.adapters.lease.quorum import QuorumLease
from orchestrator.domain.errors import AuthError, EnvironmentProblem
from orchestrator.domain.publish import AutoSwitch, Block, Verdict

LABEL = "_orchestrator-watch"
TXT_CHUNK = 255


def _label(text: str) -> str:
    """A DNS label for a stack name (lower case, [a-z0-9-], hashed when long)."""
    clean = re.sub(r"[^a-z0-9-]", "-", text.lower()).strip("-") or "x"
    if len(clean) > 40:
        clean = clean[:31] + "-" + hashlib.sha256(text.encode()).hexdigest()[:8]
    return clean


def _strings(text: str) -> list[bytes]:
    raw = text.encode()
    return [raw[i : i + TXT_CHUNK] for i in range(0, len(raw), TXT_CHUNK)] or [b""]


def _txt(text: str) -> dns.rdtypes.ANY.TXT.TXT:
    return dns.rdtypes.ANY.TXT.TXT(dns.rdataclass.IN, dns.rdatatype.TXT, _strings(text))


class Board:
    """The board of one stack on every lease server (one for `dns`, all for `dns-quorum`)."""

    def __init__(self, members: Iterable[DnsLease], stack: str) -> None:
        self.members = list(members)
        self.stack = stack
        self._mine: dict[str, str] = {}  # observer -> the value it wrote last (to delete exactly that)

    @classmethod
    def for_lease(cls, lease: Any, stack: str) -> Board:
        members = lease.members if isinstance(lease, QuorumLease) else [lease]
        return cls(members, stack)

    def _name(self, m: DnsLease, what: str) -> dns.name.Name:
        return dns.name.from_text(f"{what}.{_label(self.stack)}.{LABEL}", m.zone)

    # --- reading ------------------------------------------------------------------------------

    def _values(self, m: DnsLease, what: str) -> list[str]:
        query = dns.message.make_query(self._name(m, what), dns.rdatatype.TXT)
        query.use_tsig(m._keyring, keyname=m.key_name, algorithm=m.key_algorithm)  # noqa: SLF001
        response = m._send(query)  # noqa: SLF001 — the lease server's own transport and errors
        if response.rcode() == dns.rcode.NXDOMAIN:
            return []
        rrset = response.get_rrset(response.answer, self._name(m, what), dns.rdataclass.IN, dns.rdatatype.TXT)
        return [b"".join(r.strings).decode() for r in rrset] if rrset else []

    def _gather(self, what: str) -> tuple[list[str], dict[str, str]]:
        """Every value on every reachable server, and which servers failed (by name)."""
        values: list[str] = []
        failed: dict[str, str] = {}
        for m in self.members:
            try:
                values += self._values(m, what)
            except (LeaseUnavailable, AuthError) as exc:
                failed[m.where] = exc.what
        if len(failed) * 2 >= len(self.members) and failed:
            raise EnvironmentProblem(
                f"the watch board of stack '{self.stack}' cannot be read: "
                f"{len(failed)} of {len(self.members)} lease server(s) failed",
                "; ".join(f"{k}: {v}" for k, v in failed.items()),
                "start the lease servers (`orchestrator dev up` locally) or fix the lease configuration",
            )
        return values, failed

    def verdicts(self) -> list[Verdict]:
        """The newest verdict of each observer, across the servers."""
        values, _ = self._gather("obs")
        newest: dict[str, Verdict] = {}
        for raw in values:
            try:
                v = Verdict.from_dict(json.loads(raw))
            except (ValueError, KeyError, TypeError):
                continue  # not ours, or damaged: never a vote
            if v.observer not in newest or v.at > newest[v.observer].at:
                newest[v.observer] = v
        return sorted(newest.values(), key=lambda v: v.observer)

    def _one(self, what: str) -> dict[str, Any] | None:
        values, _ = self._gather(what)
        found = []
        for raw in values:
            try:
                found.append(json.loads(raw))
            except ValueError:
                continue
        return max(found, key=lambda d: float(d.get("t", 0)), default=None)

    def block(self) -> Block | None:
        data = self._one("block")
        return Block.from_dict(data) if data else None

    def last_auto(self) -> AutoSwitch | None:
        data = self._one("last")
        return AutoSwitch.from_dict(data) if data else None

    # --- writing ------------------------------------------------------------------------------

    def _update(self, what: str, change: Callable[[dns.update.UpdateMessage, dns.name.Name], None]) -> None:
        failed: dict[str, str] = {}
        for m in self.members:
            upd = dns.update.UpdateMessage(
                m.zone, keyring=m._keyring, keyname=m.key_name, keyalgorithm=m.key_algorithm
            )  # noqa: SLF001
            change(upd, self._name(m, what))
            try:
                response = m._send(upd)  # noqa: SLF001
            except (LeaseUnavailable, AuthError) as exc:
                failed[m.where] = exc.what
                continue
            if response.rcode() != dns.rcode.NOERROR:
                failed[m.where] = f"UPDATE answered {dns.rcode.to_text(response.rcode())}"
        if len(failed) * 2 >= len(self.members) and failed:
            raise EnvironmentProblem(
                f"the watch board of stack '{self.stack}' cannot be written: "
                f"{len(failed)} of {len(self.members)} lease server(s) failed",
                "; ".join(f"{k}: {v}" for k, v in failed.items()),
                "start the lease servers (`orchestrator dev up` locally) or fix the lease configuration",
            )

    def publish(self, verdict: Verdict) -> None:
        """Replace this observer's value (and only it) with its new verdict."""
        text = json.dumps(verdict.to_dict(), sort_keys=True, separators=(",", ":"))
        old = self._mine.get(verdict.observer)
        # The first write of this process also drops every value an earlier run of this observer left.
        old_values = [raw for raw, _ in self._own_values(verdict.observer)] if old is None else [old]

        def change(upd: dns.update.UpdateMessage, name: dns.name.Name) -> None:
            for raw in old_values:
                upd.delete(name, _txt(raw))
            upd.add(name, 0, _txt(text))

        self._update("obs", change)
        self._mine[verdict.observer] = text

    def _own_values(self, observer: str) -> list[tuple[str, Verdict]]:
        values, _ = self._gather("obs")
        out = []
        for raw in set(values):
            try:
                v = Verdict.from_dict(json.loads(raw))
            except (ValueError, KeyError, TypeError):
                continue
            if v.observer == observer:
                out.append((raw, v))
        return out

    def withdraw(self, observer: str) -> None:
        """An observer that stops takes its vote with it."""
        values = [raw for raw, _ in self._own_values(observer)]
        if values:
            self._update("obs", lambda upd, name: [upd.delete(name, _txt(raw)) for raw in values] and None)
        self._mine.pop(observer, None)

    def _put(self, what: str, data: dict[str, Any]) -> None:
        text = json.dumps(data, sort_keys=True, separators=(",", ":"))
        self._update(what, lambda upd, name: upd.replace(name, 0, _txt(text)))

    def set_block(self, block: Block) -> None:
        self._put("block", block.to_dict())

    def clear_block(self) -> None:
        self._update("block", lambda upd, name: upd.delete(name, dns.rdatatype.TXT))

    def set_last_auto(self, last: AutoSwitch) -> None:
        self._put("last", last.to_dict())
