"""What the policies see: the stack after the update as record sets and database clusters.

Pure: built from the resources Pulumi hands a stack validation (duck-typed: `props`,
`name`, `urn`, `resource_type`) and from the policy config. A record set here is the
domain's one RecordSet; the bookkeeping records are read by orchestrator.domain.kuadrant.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from orchestrator.domain.kuadrant import (
    ValueCountError,
    active_groups_by_zone,
    registry_entries,
)
from orchestrator.domain.names import canonical_value, normalise_name
from orchestrator.domain.records import RecordSet, record_key

STACK_TYPE = "pulumi:pulumi:Stack"
# CloudNativePG clusters (the database issue): pair and group come from these labels.
CNPG_CLUSTER_TYPE = "kubernetes:postgresql.cnpg.io/v1:Cluster"
# The orchestrator's own CNPG resources patch existing Clusters (orchestrator/adapters/pulumi/cnpg.py).
CNPG_TYPES = (CNPG_CLUSTER_TYPE, CNPG_CLUSTER_TYPE + "Patch")
PAIR_LABEL = "orchestrator/database-pair"
GROUP_LABEL = "orchestrator/group"
HOW_TO_MEASURE = (
    "the orchestrator passes it on every run; by hand, generate it with "
    "`.venv/bin/python -m orchestrator.services.policies --stack <stack> --out cfg.json` and add "
    "`--policy-pack-config cfg.json` (docs/policies.md)"
)


# --- what the policies see ------------------------------------------------------------------


def record_set(
    zone: Any, name: Any, rtype: Any, values: Any, ttl: Any = None, urn: str | None = None
) -> RecordSet:
    """A RecordSet from resource props or config (blank values dropped, canonical form)."""
    if isinstance(values, str):
        values = [values]
    given = tuple(str(v) for v in (values or []) if str(v).strip())
    return RecordSet(str(zone), str(name), str(rtype), None if ttl is None else int(ttl), given, urn)


@dataclass(frozen=True)
class DatabaseCluster:
    """One side of a database pair: which group it belongs to and whether it is the primary."""

    pair: str
    group: str
    primary: bool
    urn: str | None = None


@dataclass(frozen=True)
class StackView:
    records: tuple[RecordSet, ...]
    databases: tuple[DatabaseCluster, ...] = ()


@dataclass(frozen=True)
class Finding:
    message: str
    urn: str | None = None


def plain(value: Any) -> Any:
    """Policy props (proxies that raise on unknown values) as plain dicts and lists."""
    if isinstance(value, Mapping):
        return {str(k): plain(value[k]) for k in value}
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        return [plain(v) for v in value]
    return value


def cnpg_is_primary(replica: Mapping[str, Any] | None) -> bool:
    """CloudNativePG: a cluster without replica config, or with `enabled: false`, or whose
    `primary` names itself (`self`, distributed topology) is the primary."""
    if not replica:
        return True
    if "enabled" in replica:
        return replica["enabled"] is False
    if replica.get("primary") and replica.get("self"):
        return replica["primary"] == replica["self"]
    return False


def database_of(rtype: str, props: Mapping[str, Any], urn: str | None) -> DatabaseCluster | None:
    """A database cluster from either contract: props `databasePair`, `group`, `primary`
    (the project's orchestrator:database:Primary), or a CNPG Cluster with the pair and group labels."""
    if all(k in props for k in ("databasePair", "group", "primary")):
        primary = props["primary"]
        return DatabaseCluster(
            pair=str(props["databasePair"]),
            group=str(props["group"]),
            primary=primary is True or str(primary).lower() == "true",
            urn=urn,
        )
    if rtype in CNPG_TYPES:
        labels = plain((props.get("metadata") or {}).get("labels") or {})
        if PAIR_LABEL in labels and GROUP_LABEL in labels:
            # Field by field: a promotion token is unknown during a preview, and only these count.
            raw = (props.get("spec") or {}).get("replica") or {}
            replica = {k: plain(raw[k]) for k in ("enabled", "self", "primary") if k in raw}
            return DatabaseCluster(
                str(labels[PAIR_LABEL]), str(labels[GROUP_LABEL]), cnpg_is_primary(replica), urn
            )
    return None


def declared_record_sets(resources: Iterable[Any]) -> set[str] | None:
    """The record-set resources the program declares in this run: its `recordSets` export.

    Needed because a preview with --refresh (the orchestrator's) still hands the policies
    the resources that the update is about to delete. The stack's outputs are the new ones.
    None when the program does not export it (then every resource counts).
    """
    for res in resources:
        if res.resource_type == STACK_TYPE and "recordSets" in res.props:
            return {str(name) for name in plain(res.props["recordSets"]) or []}
    return None


def view_of(resources: Iterable[Any]) -> StackView:
    """The stack as the policies check it. Raises UnknownValueError for an unknown value."""
    resources = list(resources)
    declared = declared_record_sets(resources)
    records: list[RecordSet] = []
    databases: list[DatabaseCluster] = []
    for res in resources:
        props = res.props
        if declared is not None and res.name not in declared and "values" in props:
            continue  # being deleted by this update
        if all(k in props for k in ("zone", "name", "type", "values")):
            ttl = props.get("ttl")
            records.append(
                record_set(props["zone"], props["name"], props["type"], plain(props["values"]), ttl, res.urn)
            )
        elif (db := database_of(res.resource_type, props, res.urn)) is not None:
            databases.append(db)
    return StackView(tuple(sorted(records, key=lambda r: r.key)), tuple(databases))


def baseline_records(before: Any) -> list[RecordSet]:
    """The `before` config: the record sets in the stack's state before the update."""
    out = []
    for item in before or []:
        if isinstance(item, Mapping) and all(k in item for k in ("zone", "name", "type")):
            out.append(
                record_set(item["zone"], item["name"], item["type"], item.get("values"), item.get("ttl"))
            )
    return sorted(out, key=lambda r: r.key)


# --- shared readings of the bookkeeping records ---------------------------------------------


def active_sets(records: Iterable[RecordSet]) -> tuple[dict[str, tuple[str, ...] | None], list[Finding]]:
    """Per zone, the groups its active-groups TXT lists (None when unreadable), and problems."""
    sets, unreadable = active_groups_by_zone(records)
    problems = [
        Finding(
            f"{rec.name} has {exc.count} values; it must have exactly one (`version=1;groups=<a>&&<b>`)"
            if isinstance(exc, ValueCountError)
            else f"{rec.name} is unreadable: {exc}",
            rec.urn,
        )
        for rec, exc in unreadable
    ]
    return sets, problems


def active_after(records: Iterable[RecordSet]) -> set[str]:
    sets, _ = active_sets(records)
    return {g for groups in sets.values() if groups for g in groups}


@dataclass(frozen=True)
class Entry:
    """A registry TXT record read as Kuadrant does, targets in canonical form."""

    record: RecordSet
    group: str | None
    owner: str | None
    host: str
    type: str
    targets: tuple[str, ...]
    hash_matches_owner: bool

    @property
    def described(self) -> str:
        return record_key(self.record.zone, self.host, self.type)


def registry(records: Iterable[RecordSet]) -> tuple[list[Entry], list[Finding]]:
    entries: list[Entry] = []
    problems: list[Finding] = []
    for rec, parsed in registry_entries(records):
        if isinstance(parsed, ValueCountError):
            problems.append(
                Finding(f"registry record {rec.name} has {parsed.count} values, not one", rec.urn)
            )
            continue
        if isinstance(parsed, Exception):
            problems.append(Finding(f"registry record {rec.name} is unreadable: {parsed}", rec.urn))
            continue
        entries.append(
            Entry(
                record=rec,
                group=parsed.group,
                owner=parsed.owner,
                host=normalise_name(parsed.host),
                type=parsed.type,
                targets=tuple(sorted({canonical_value(parsed.type, t) for t in parsed.targets})),
                hash_matches_owner=parsed.hash_matches_owner,
            )
        )
    return entries, problems


def owners(records: Iterable[RecordSet]) -> dict[str, dict[str, str]]:
    """Record-set key -> target -> the group that owns it, according to the registry."""
    out: dict[str, dict[str, str]] = defaultdict(dict)
    for entry in registry(records)[0]:
        for target in entry.targets:
            out[entry.described].setdefault(target, entry.group or "")
    return out


def listed_values(values: Iterable[str]) -> str:
    return ", ".join(values) or "nothing"


def listed(items: list[str], limit: int = 10) -> str:
    shown = "; ".join(items[:limit])
    return shown + (f"; and {len(items) - limit} more" if len(items) > limit else "")
