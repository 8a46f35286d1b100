"""The record formats Kuadrant dns-operator reads and writes, so that a zone can be shared.

Written canonically (byte-identical to what dns-operator and its CLI write) and read
leniently (field order, spacing, quotes, a legacy spelling), because a human or another
tool may have edited the zone. References are to github.com/kuadrant/dns-operator:

- active groups: cmd/plugin/failover/shared.go (`kuadrant-active-groups.` prefix,
  `version=1`, `;` between fields, `&&` between groups, groups sorted and de-duplicated
  by generateGroupTXTRecordTargets); internal/controller/dnsrecord_groups.go getActiveGroups
  (the controller's reader: any field order, `k=v` pairs split on `;`).
- registry names: internal/external-dns/registry/name_mapper_kuadrant.go ToTXTName
  (`<prefix><hash8>-<type lower>-<host>`, a leading `*` replaced); prefix `kuadrant-` and
  replacement `wildcard` from internal/common/registry.go; hash from
  internal/common/hash/hash.go (SHA-224, base36 of martinlindhe/base36, lower case, first 8).
- registry values: internal/external-dns/registry/txt.go generateTXTRecord (labels plus
  `version=1`), serialised by external-dns endpoint/labels.go SerializePlain
  (`heritage=external-dns` first, then `external-dns/<key>=<value>` by sorted key, joined
  with `,`); `group` and `targets` labels from types/group.go and registry/group.go
  AdjustEndpoints (targets joined with `;`, external-dns Targets.String()).

The one reader and writer of these records: the program (through desired.py), the policy
pack, `status`, the metrics and the policy run all go through the functions below
(`is_active_groups`, `is_registry`, `active_groups_by_zone`, `registry_entries`), so a change
of the format is one edit here.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field

from orchestrator.domain.names import TARGET_TYPES
from orchestrator.domain.records import RecordSet, record_key

ACTIVE_GROUPS_LABEL = "kuadrant-active-groups"
ACTIVE_GROUPS_VERSION = "1"
GROUP_SEPARATOR = "&&"
FIELD_SEPARATOR = ";"

REGISTRY_PREFIX = "kuadrant-"
AFFIX_SEPARATOR = "-"
WILDCARD_REPLACEMENT = "wildcard"
REGISTRY_VERSION = "1"
HERITAGE = "external-dns"
LABEL_SEPARATOR = ","
TARGET_SEPARATOR = ";"
OWNER_HASH_LENGTH = 8
REGISTRY_TYPES = ("A", "AAAA", "CNAME", "NS")  # getSupportedTypes() in registry/txt.go

GROUP_LABEL = "group"
OWNER_LABEL = "owner"
TARGETS_LABEL = "targets"
VERSION_LABEL = "version"

_BASE36 = "0123456789abcdefghijklmnopqrstuvwxyz"


class FormatError(ValueError):
    """A TXT record that is not in a format we (or Kuadrant) can read."""


class ValueCountError(FormatError):
    """A bookkeeping record set with other than exactly one value (each is one TXT string)."""

    def __init__(self, record: RecordSet) -> None:
        super().__init__(f"{record.name} has {len(record.values)} values, not one")
        self.count = len(record.values)


# --- owner hash -------------------------------------------------------------------------


def base36(data: bytes) -> str:
    """martinlindhe/base36 EncodeBytes, lower-cased: big-endian number, one `0` per leading zero byte."""
    number = int.from_bytes(data, "big")
    digits = []
    while number > 0:
        number, rem = divmod(number, 36)
        digits.append(_BASE36[rem])
    zeros = len(data) - len(data.lstrip(b"\0"))
    return "0" * zeros + "".join(reversed(digits))


def owner_hash(owner: str, length: int = OWNER_HASH_LENGTH) -> str:
    """hash.ToBase36HashLen(owner, 8): the owner's id as it appears in registry record names."""
    return base36(hashlib.sha224(owner.encode("utf-8")).digest())[:length]


# --- active groups ----------------------------------------------------------------------


def active_groups_txt_name(zone: str) -> str:
    return f"{ACTIVE_GROUPS_LABEL}.{zone}"


def active_groups_key(zone: str) -> str:
    """The record-set key of a zone's active-groups TXT."""
    return record_key(zone, active_groups_txt_name(zone), "TXT")


def active_groups_record(zone: str, groups: Iterable[str], ttl: int | None) -> RecordSet:
    """The zone's active-groups TXT record set, as we publish it."""
    return RecordSet(zone, active_groups_txt_name(zone), "TXT", ttl, (format_active_groups(groups),))


def format_active_groups(groups: Iterable[str]) -> str:
    """`version=1;groups=a&&b`, groups sorted and unique, as Kuadrant's CLI writes it.

    Sorted rather than as configured: it is what generateGroupTXTRecordTargets writes, so a
    zone edited by either tool does not flip back and forth, and order carries no meaning
    (the controllers only ask "is my group in the list").
    """
    unique = sorted({g for g in groups if g})
    value = f"{VERSION_LABEL}={ACTIVE_GROUPS_VERSION}"
    if unique:
        value += f"{FIELD_SEPARATOR}groups={GROUP_SEPARATOR.join(unique)}"
    return value


def parse_active_groups_txt(text: str) -> tuple[str, ...]:
    """The groups of an active-groups TXT value, sorted and unique.

    Lenient: fields in any order, spaces around separators, surrounding quotes (also the
    zone-file form with several quoted strings), a missing version (the controller ignores
    it too). Raises FormatError for a version other than 1, which we cannot interpret.
    """
    groups: set[str] = set()
    for pair in unquote_txt(text).split(FIELD_SEPARATOR):
        if "=" not in pair:
            continue
        key, _, value = pair.partition("=")
        key, value = key.strip().lower(), value.strip()
        if key == VERSION_LABEL and value != ACTIVE_GROUPS_VERSION:
            raise FormatError(f"active-groups record version '{value}' is not supported (expected 1)")
        if key == "groups":
            groups.update(g.strip() for g in value.split(GROUP_SEPARATOR) if g.strip())
    return tuple(sorted(groups))


# --- registry ---------------------------------------------------------------------------


def registry_txt_name(owner: str, rtype: str, host: str) -> str:
    """`kuadrant-<hash8>-<type>-<host>`, a leading `*` of the host replaced by `wildcard`."""
    if host.startswith("*"):
        host = WILDCARD_REPLACEMENT + host[1:]
    return f"{REGISTRY_PREFIX}{owner_hash(owner)}{AFFIX_SEPARATOR}{rtype.lower()}{AFFIX_SEPARATOR}{host}"


def serialize_labels(labels: Mapping[str, str]) -> str:
    """external-dns Labels.SerializePlain(false): heritage first, then the labels by sorted key."""
    tokens = [f"heritage={HERITAGE}"]
    tokens += [f"{HERITAGE}/{key}={labels[key]}" for key in sorted(labels)]
    return LABEL_SEPARATOR.join(tokens)


def registry_labels(group: str, owner: str, targets: Iterable[str]) -> dict[str, str]:
    return {
        GROUP_LABEL: group,
        OWNER_LABEL: owner,
        TARGETS_LABEL: TARGET_SEPARATOR.join(sorted(set(targets))),
        VERSION_LABEL: REGISTRY_VERSION,
    }


def registry_txt_value(group: str, owner: str, targets: Iterable[str]) -> str:
    return serialize_labels(registry_labels(group, owner, targets))


def parse_labels(text: str) -> dict[str, str]:
    """external-dns NewLabelsFromStringPlain, with spaces tolerated: `k=v` tokens split on `,`.

    Tokens that are not exactly one `k=v` are skipped, as external-dns does. Raises
    FormatError without `heritage=external-dns` (the record is not a registry record).
    """
    labels: dict[str, str] = {}
    heritage = False
    for token in unquote_txt(text).split(LABEL_SEPARATOR):
        parts = token.split("=")
        if len(parts) != 2:
            continue
        key, value = parts[0].strip(), parts[1].strip()
        if key == "heritage":
            if value != HERITAGE:
                raise FormatError(f"heritage '{value}' is not {HERITAGE}")
            heritage = True
        elif key.startswith(HERITAGE + "/"):
            labels[key[len(HERITAGE) + 1 :]] = value
    if not heritage:
        raise FormatError(f"no heritage={HERITAGE}: not a registry record")
    return labels


@dataclass(frozen=True)
class RegistryEntry:
    """One registry TXT record: who (owner, group) publishes which targets for a host and type."""

    owner_hash: str
    type: str
    host: str
    labels: Mapping[str, str] = field(hash=False)
    group: str | None
    owner: str | None
    targets: tuple[str, ...]

    @classmethod
    def build(cls, *, owner: str, group: str, rtype: str, host: str, targets: Iterable[str]) -> RegistryEntry:
        labels = registry_labels(group, owner, targets)
        return cls(
            owner_hash=owner_hash(owner),
            type=rtype.upper(),
            host=host,
            labels=labels,
            group=group,
            owner=owner,
            targets=tuple(sorted(set(targets))),
        )

    @property
    def txt_name(self) -> str:
        """The record name as we write it (from the hash, so it works for a parsed entry too)."""
        host = WILDCARD_REPLACEMENT + self.host[1:] if self.host.startswith("*") else self.host
        return (
            f"{REGISTRY_PREFIX}{self.owner_hash}{AFFIX_SEPARATOR}{self.type.lower()}{AFFIX_SEPARATOR}{host}"
        )

    @property
    def txt_value(self) -> str:
        return serialize_labels(self.labels)

    @property
    def hash_matches_owner(self) -> bool:
        """False when the name's hash is not the owner label's: a hand-made or foreign record."""
        return self.owner is not None and owner_hash(self.owner) == self.owner_hash


def registry_record(zone: str, entry: RegistryEntry, ttl: int | None) -> RecordSet:
    """The registry TXT record set of one entry, as we publish it."""
    return RecordSet(zone, entry.txt_name, "TXT", ttl, (entry.txt_value,))


def parse_registry_txt(name: str, value: str) -> RegistryEntry:
    """Reads one registry TXT record (name and value) as Kuadrant's TXT registry does.

    Lenient: case and a trailing dot in the name, quotes and spaces in the value, labels in
    any order, targets in any order. The `wildcard` replacement is undone (Kuadrant's own
    ToEndpointName means to but discards the result: name_mapper_kuadrant.go). Raises
    FormatError for a name without the `kuadrant-<hash>-<type>-` shape or a value without
    external-dns heritage.
    """
    txt_name = name.strip().lower().rstrip(".")
    if not txt_name.startswith(REGISTRY_PREFIX):
        raise FormatError(f"'{name}' does not start with {REGISTRY_PREFIX}")
    parts = txt_name[len(REGISTRY_PREFIX) :].split(AFFIX_SEPARATOR, 2)
    if len(parts) != 3 or len(parts[0]) != OWNER_HASH_LENGTH or not parts[2]:
        raise FormatError(f"'{name}' is not {REGISTRY_PREFIX}<hash>-<type>-<host>")
    hash_, type_, host = parts
    if type_.upper() not in REGISTRY_TYPES:
        raise FormatError(f"'{name}': '{type_}' is not a registry record type")
    if host == WILDCARD_REPLACEMENT or host.startswith(WILDCARD_REPLACEMENT + "."):
        host = "*" + host[len(WILDCARD_REPLACEMENT) :]
    labels = parse_labels(value)
    raw_targets = labels.get(TARGETS_LABEL, "")
    targets = tuple(sorted({t.strip() for t in raw_targets.split(TARGET_SEPARATOR) if t.strip()}))
    return RegistryEntry(
        owner_hash=hash_,
        type=type_.upper(),
        host=host,
        labels=labels,
        group=labels.get(GROUP_LABEL) or None,
        owner=labels.get(OWNER_LABEL) or None,
        targets=targets,
    )


# --- TXT text ---------------------------------------------------------------------------


def unquote_txt(text: str) -> str:
    """The text of a TXT value given bare, quoted, or as several quoted strings (zone-file form).

    Quoted strings are concatenated, as DNS clients do with a record's character-strings;
    `\\"` and `\\\\` are unescaped. Text that does not start with a quote is returned stripped.
    """
    text = text.strip()
    if not text.startswith('"'):
        return text
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        if text[i] != '"':
            i += 1  # whitespace between strings
            continue
        i += 1
        while i < n and text[i] != '"':
            if text[i] == "\\" and i + 1 < n:
                i += 1
            out.append(text[i])
            i += 1
        i += 1  # closing quote
    return "".join(out)


# --- bookkeeping records among record sets -------------------------------------------------


def is_active_groups(rs: RecordSet) -> bool:
    return rs.type == "TXT" and rs.name == active_groups_txt_name(rs.zone)


def is_registry(rs: RecordSet) -> bool:
    """A registry TXT record (named like one; its value may still be unreadable)."""
    return rs.type == "TXT" and rs.name.startswith(REGISTRY_PREFIX) and not is_active_groups(rs)


def is_hostname(rs: RecordSet) -> bool:
    """A record set clients resolve (not the TXT bookkeeping)."""
    return rs.type in TARGET_TYPES and not rs.name.startswith(REGISTRY_PREFIX)


def read_active_groups(rs: RecordSet) -> tuple[str, ...]:
    """The groups one active-groups record set lists. FormatError (ValueCountError) if unreadable."""
    if len(rs.values) != 1:
        raise ValueCountError(rs)
    return parse_active_groups_txt(rs.values[0])


def active_groups_by_zone(
    records: Iterable[RecordSet],
) -> tuple[dict[str, tuple[str, ...] | None], list[tuple[RecordSet, FormatError]]]:
    """Per zone, the groups its active-groups TXT lists (None when unreadable), and why not."""
    sets: dict[str, tuple[str, ...] | None] = {}
    problems: list[tuple[RecordSet, FormatError]] = []
    for rs in records:
        if not is_active_groups(rs):
            continue
        try:
            sets[rs.zone] = read_active_groups(rs)
        except FormatError as exc:
            sets[rs.zone] = None
            problems.append((rs, exc))
    return sets, problems


def active_groups_of(records: Iterable[RecordSet]) -> tuple[str, ...]:
    """Every group any readable active-groups record lists, sorted and unique."""
    sets, _ = active_groups_by_zone(records)
    return tuple(sorted({g for groups in sets.values() if groups for g in groups}))


def registry_entries(records: Iterable[RecordSet]) -> Iterator[tuple[RecordSet, RegistryEntry | FormatError]]:
    """Each registry record set, read as Kuadrant's TXT registry does, or why it cannot be."""
    for rs in records:
        if not is_registry(rs):
            continue
        try:
            if len(rs.values) != 1:
                raise ValueCountError(rs)
            parsed: RegistryEntry | FormatError = parse_registry_txt(rs.name, rs.values[0])
        except FormatError as exc:
            parsed = exc
        yield rs, parsed
