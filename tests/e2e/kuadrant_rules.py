"""Kuadrant's rules for a zone, checked on what the servers serve (a test oracle).

The zone is read whole by AXFR with dnspython (PowerDNS allows loopback transfers; BIND
wants the TSIG key), not through the orchestrator's own live-zone reader, so a bug there
cannot hide a broken zone. The TXT values are read with the domain's one Kuadrant reader:
what is checked here is the rules, not the format.

The rules, as Kuadrant's DNS operator keeps them in a multi-cluster zone:
- the zone's active-groups TXT lists exactly the active groups;
- every registry TXT is readable, belongs to an active group, and names a record set the
  zone serves, whose values include every target the entry claims;
- every value a hostname record set serves is claimed by a registry entry of an active group.
"""

from __future__ import annotations

import dns.name
import dns.query
import dns.rdatatype
import dns.tsigkeyring
import dns.zone

from orchestrator.devenv import find_server
from orchestrator.domain.kuadrant import (
    FormatError,
    is_active_groups,
    is_hostname,
    is_registry,
    parse_registry_txt,
    read_active_groups,
)
from orchestrator.domain.records import RecordSet

ZONE_SERVERS = {"app.example.test": "powerdns", "svc.example.test": "bind"}


def transfer(dev_env, zone: str) -> list[RecordSet]:
    """Every record set of the zone but SOA, NS and the name servers' own addresses (one AXFR)."""
    server = find_server(dev_env.status, ZONE_SERVERS[zone])
    keyring = None
    if ZONE_SERVERS[zone] == "bind":
        s = dev_env.secrets
        keyring = dns.tsigkeyring.from_text({s["tsig_key_name"]: (s["tsig_algorithm"], s["tsig_secret"])})
    xfr = dns.query.xfr(
        server["address"], zone + ".", port=server["port"], keyring=keyring, timeout=10, relativize=False
    )
    content = dns.zone.from_xfr(xfr, relativize=False)
    out = []
    nameservers = {r.target for _, _, r in content.iterate_rdatas(dns.rdatatype.NS)}
    for name, rdataset in content.iterate_rdatasets():
        if rdataset.rdtype in (dns.rdatatype.SOA, dns.rdatatype.NS) or name in nameservers:
            continue
        if rdataset.rdtype == dns.rdatatype.TXT:
            values = tuple(b"".join(r.strings).decode() for r in rdataset)
        else:
            values = tuple(r.to_text() for r in rdataset)
        rtype = dns.rdatatype.to_text(rdataset.rdtype)
        out.append(RecordSet(zone, name.to_text(), rtype, rdataset.ttl, values))
    return out


def violations(dev_env, zone: str, active: list[str]) -> list[str]:
    """What in the zone breaks Kuadrant's rules for this active set (empty: the zone is sound)."""
    records = transfer(dev_env, zone)
    served = {(r.name, r.type): set(r.values) for r in records if is_hostname(r)}
    problems: list[str] = []
    claimed: dict[tuple[str, str], set[str]] = {}
    marker = [r for r in records if is_active_groups(r)]
    if len(marker) != 1 or sorted(read_active_groups(marker[0])) != sorted(active):
        problems.append(f"active-groups TXT is {[m.values for m in marker]}, want {sorted(active)}")
    for rs in (r for r in records if is_registry(r)):
        for value in rs.values:
            try:
                entry = parse_registry_txt(rs.name, value)
            except FormatError as exc:
                problems.append(f"{rs.name}: unreadable registry entry ({exc})")
                continue
            if entry.group not in active:
                problems.append(f"{rs.name}: entry of inactive group {entry.group}")
                continue
            have = served.get((entry.host, entry.type))
            if have is None:
                problems.append(f"{rs.name}: names {entry.host} {entry.type}, which the zone does not serve")
            elif not set(entry.targets) <= have:
                problems.append(f"{rs.name}: claims {entry.targets}, the zone serves {sorted(have)}")
            claimed.setdefault((entry.host, entry.type), set()).update(entry.targets)
    for (host, rtype), values in served.items():
        orphans = values - claimed.get((host, rtype), set())
        if orphans:
            problems.append(f"{host} {rtype}: {sorted(orphans)} claimed by no active group's entry")
    return problems
