"""The orchestrator's preconditions as code: a Pulumi CrossGuard policy pack.

Pulumi runs it on every preview that names it: `pulumi preview --policy-pack policy` by hand
or in CI, and the orchestrator's dry-run, switch preflight and `orchestrator preview`/`up`.
Every policy is a stack validation: it sees each resource of the stack as it will be after
the update. docs/policies.md explains each policy, why it exists, its config and how to
override it.

Pure on purpose: no network, no files besides config.json (the thresholds) beside this
file. What the stack cannot show - the record sets before the update, the health of the
group being activated - the orchestrator measures just before the preview and passes in as
policy config (orchestrator/services/policies.py). A missing measurement is a violation, never a
pass. The checks are plain functions of (stack view, config) so that unit tests call them
directly; the PolicyPack itself starts only when this file runs as the pack.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from orchestrator.domain.kuadrant import (
    REGISTRY_PREFIX,
    FormatError,
    active_groups_txt_name,
    parse_active_groups_txt,
    parse_registry_txt,
)
from orchestrator.domain.names import canonical_value, normalise_name

PACK_NAME = "failover-preconditions"
CONFIG_FILE = Path(__file__).resolve().parent / "config.json"
HOSTNAME_TYPES = ("A", "AAAA", "CNAME")
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


@dataclass(frozen=True)
class RecordSet:
    """One DNS record set of the stack (a resource with zone, name, type and values)."""

    zone: str
    name: str
    type: str
    values: tuple[str, ...]
    ttl: int | None = None
    urn: str | None = None

    @property
    def key(self) -> str:
        return f"{self.zone}/{self.name}/{self.type}"

    @property
    def is_active_groups(self) -> bool:
        return self.type == "TXT" and self.name == active_groups_txt_name(self.zone)

    @property
    def is_registry(self) -> bool:
        return self.type == "TXT" and self.name.startswith(REGISTRY_PREFIX) and not self.is_active_groups

    @property
    def is_hostname(self) -> bool:
        """A record set clients resolve (not the TXT bookkeeping)."""
        return self.type in HOSTNAME_TYPES and not self.name.startswith(REGISTRY_PREFIX)


def record_set(
    zone: Any, name: Any, rtype: Any, values: Any, ttl: Any = None, urn: str | None = None
) -> RecordSet:
    """A RecordSet in canonical form (the orchestrator's spelling of names and values)."""
    rtype = str(rtype).upper()
    if isinstance(values, str):
        values = [values]
    canon = sorted({canonical_value(rtype, str(v)) for v in (values or []) if str(v).strip()})
    return RecordSet(
        zone=normalise_name(str(zone)),
        name=normalise_name(str(name)),
        type=rtype,
        values=tuple(canon),
        ttl=int(ttl) if ttl is not None else None,
        urn=urn,
    )


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
    sets: dict[str, tuple[str, ...] | None] = {}
    problems: list[Finding] = []
    for rec in records:
        if not rec.is_active_groups:
            continue
        if len(rec.values) != 1:
            sets[rec.zone] = None
            problems.append(
                Finding(
                    f"{rec.name} has {len(rec.values)} values; it must have exactly one "
                    "(`version=1;groups=<a>&&<b>`)",
                    rec.urn,
                )
            )
            continue
        try:
            sets[rec.zone] = parse_active_groups_txt(rec.values[0])
        except FormatError as exc:
            sets[rec.zone] = None
            problems.append(Finding(f"{rec.name} is unreadable: {exc}", rec.urn))
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
        return f"{self.record.zone}/{self.host}/{self.type}"


def registry(records: Iterable[RecordSet]) -> tuple[list[Entry], list[Finding]]:
    entries: list[Entry] = []
    problems: list[Finding] = []
    for rec in records:
        if not rec.is_registry:
            continue
        if len(rec.values) != 1:
            problems.append(
                Finding(f"registry record {rec.name} has {len(rec.values)} values, not one", rec.urn)
            )
            continue
        try:
            parsed = parse_registry_txt(rec.name, rec.values[0])
        except FormatError as exc:
            problems.append(Finding(f"registry record {rec.name} is unreadable: {exc}", rec.urn))
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


def _values(values: Iterable[str]) -> str:
    return ", ".join(values) or "nothing"


def _listed(items: list[str], limit: int = 10) -> str:
    shown = "; ".join(items[:limit])
    return shown + (f"; and {len(items) - limit} more" if len(items) > limit else "")


# --- the policies ---------------------------------------------------------------------------


def at_least_one_active_group(view: StackView, config: Mapping[str, Any]) -> list[Finding]:
    """Every zone's kuadrant-active-groups TXT lists at least one group."""
    sets, out = active_sets(view.records)
    by_zone = {r.zone: r for r in view.records if r.is_active_groups}
    for zone, groups in sorted(sets.items()):
        if groups == ():
            out.append(
                Finding(
                    f"{active_groups_txt_name(zone)} would list no group: the zone's controllers would "
                    "consider every group inactive; keep at least one group active",
                    by_zone[zone].urn,
                )
            )
    for zone in sorted({r.zone for r in view.records if r.is_hostname} - set(sets)):
        out.append(
            Finding(
                f"zone {zone} publishes hostnames but would have no {active_groups_txt_name(zone)} record: "
                "no group would be active there"
            )
        )
    return out


def no_empty_hostname(view: StackView, config: Mapping[str, Any]) -> list[Finding]:
    """No published hostname is left with zero targets."""
    out = [
        Finding(f"{r.name} {r.type} would have no targets", r.urn)
        for r in view.records
        if r.is_hostname and not r.values
    ]
    before = config.get("before")
    if before is None:
        out.append(
            Finding(
                "the record sets before this update were not given (config `before`), so a hostname "
                "that the update deletes cannot be seen; " + HOW_TO_MEASURE
            )
        )
        return out
    intended = config.get("topologyHostnames")
    still_in_topology = None if intended is None else {normalise_name(str(h)) for h in intended}
    served_after = {r.name for r in view.records if r.is_hostname and r.values}
    seen = {r.name for r in view.records if r.is_hostname and not r.values}  # reported above
    for old in baseline_records(before):
        if not old.is_hostname or not old.values or old.name in served_after or old.name in seen:
            continue
        if still_in_topology is not None and old.name not in still_in_topology:
            continue  # retired from the topology on purpose: a reviewed change (blast-radius counts it)
        seen.add(old.name)
        out.append(
            Finding(
                f"{old.name} is published now ({old.type} {_values(old.values)}) and would be left with no "
                "targets: no group that stays or becomes active publishes it"
            )
        )
    return out


def registry_consistent(view: StackView, config: Mapping[str, Any]) -> list[Finding]:
    """Every registry entry's group and targets match the record set it describes."""
    sets, _ = active_sets(view.records)
    entries, out = registry(view.records)
    by_key = {r.key: r for r in view.records}
    claimed: dict[str, dict[str, str]] = defaultdict(dict)
    for e in entries:
        name, urn = e.record.name, e.record.urn
        if not e.hash_matches_owner:
            out.append(Finding(f"{name}: the hash in its name is not the hash of its owner '{e.owner}'", urn))
        zone_groups = sets.get(e.record.zone)
        if not e.group:
            out.append(Finding(f"{name} names no group", urn))
        elif zone_groups is not None and e.group not in zone_groups:
            out.append(
                Finding(
                    f"{name} names group '{e.group}', which would not be active in {e.record.zone} "
                    f"({', '.join(zone_groups) or 'no group'}): an entry must name the group that owns "
                    "its targets now, never a stale one",
                    urn,
                )
            )
        described = by_key.get(e.described)
        if described is None:
            out.append(Finding(f"{name} describes {e.host} {e.type}, which would not be published", urn))
        elif missing := sorted(set(e.targets) - set(described.values)):
            out.append(
                Finding(
                    f"{name} says group '{e.group}' publishes {_values(missing)} for {e.host} {e.type}, but "
                    f"the record set would serve {_values(described.values)}",
                    urn,
                )
            )
        for target in e.targets:
            other = claimed[e.described].setdefault(target, name)
            if other != name:
                out.append(
                    Finding(f"{target} of {e.host} {e.type} is claimed by both {other} and {name}", urn)
                )
    for rec in view.records:
        if rec.is_hostname and rec.values:
            unowned = sorted(set(rec.values) - set(claimed.get(rec.key, {})))
            if unowned:
                out.append(
                    Finding(
                        f"{rec.name} {rec.type} would serve {_values(unowned)}, which no registry entry "
                        "owns: the zone's controllers would not know which group publishes them",
                        rec.urn,
                    )
                )
    return out


def missing_measurement(what: str) -> list[Finding]:
    return [Finding(f"no {what}: a missing measurement is a violation, never a pass; " + HOW_TO_MEASURE)]


def _measured_at(text: Any) -> datetime | None:
    try:
        moment = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _check_ok(check: Mapping[str, Any]) -> bool:
    status = check.get("status")
    return isinstance(status, int | float) and 200 <= int(status) < 300


def target_group_healthy(
    view: StackView, config: Mapping[str, Any], now: datetime | None = None
) -> list[Finding]:
    """The group being activated has at least N healthy endpoints, as measured just before."""
    after = active_after(view.records)
    before = config.get("activeBefore")
    activating = sorted(after - {str(g) for g in before}) if before is not None else sorted(after)
    if not activating:
        return []
    why_all = (
        ""
        if before is not None
        else " (the active groups before the update were not given, so every active group counts)"
    )
    measurement = config.get("measurement")
    if not isinstance(measurement, Mapping):
        return missing_measurement(f"health measurement of {', '.join(activating)}{why_all}")
    out: list[Finding] = []
    measured_at = _measured_at(measurement.get("measuredAt"))
    max_age = float(config.get("maxMeasurementAgeSeconds", 300))
    now = now or datetime.now(UTC)
    if measured_at is None:
        return [
            Finding(
                f"the health measurement has no readable time (measuredAt={measurement.get('measuredAt')!r})"
            )
        ]
    if (now - measured_at).total_seconds() > max_age:
        return [
            Finding(
                f"the health measurement is from {measured_at.isoformat()}, older than {max_age:g}s: "
                "measure again just before the preview"
            )
        ]
    need = int(config.get("minHealthyEndpoints", 1))
    published: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for e in registry(view.records)[0]:
        if e.group:
            published[e.group][e.host].update(e.targets)
    groups = measurement.get("groups") or {}
    for group in activating:
        measured = groups.get(group)
        if not isinstance(measured, Mapping):
            out.append(Finding(f"group {group} is being activated but was not measured{why_all}"))
            continue
        checks = {
            (normalise_name(str(c.get("hostname", ""))), str(c.get("target", ""))): c
            for c in measured.get("checks") or []
            if isinstance(c, Mapping)
        }
        healthy, sick = [], []
        for host, targets in sorted(published.get(group, {}).items()):
            problems = []
            for target in sorted(targets):
                check = checks.get((host, target))
                if check is None:
                    problems.append(f"{target} not measured (no health URL)")
                elif not _check_ok(check):
                    status = check.get("status")
                    if isinstance(status, float) and status.is_integer():
                        status = int(status)  # JSON numbers arrive as floats
                    answer = check.get("error") or f"answered {status}"
                    problems.append(f"{target} {check.get('url', '')} {answer}".replace("  ", " "))
            if problems:
                sick.append(f"{host}: {', '.join(problems)}")
            else:
                healthy.append(host)
        total = len(published.get(group, {}))
        if len(healthy) < need:
            detail = f": {_listed(sick, 5)}" if sick else ""
            out.append(
                Finding(
                    f"group {group} is being activated with {len(healthy)} healthy endpoint(s) of {total}; "
                    f"at least {need} required{detail}"
                )
            )
    return out


def blast_radius(view: StackView, config: Mapping[str, Any]) -> list[Finding]:
    """At most P % of a zone's hostname record sets change in one update, beyond group moves.

    A change counts when the record set is deleted or its targets change in a way that
    moving targets between groups does not explain: targets leaving with a deactivated group
    and arriving with an activated one (by the registry before and after) are the switch
    itself and do not count. Creates, TTL-only changes and the TXT bookkeeping never count.
    """
    before = config.get("before")
    if before is None:
        return [
            Finding(
                "the record sets before this update were not given (config `before`), so the share "
                "it changes cannot be measured; " + HOW_TO_MEASURE
            )
        ]
    percent = float(config.get("maxChangedPercent", 20))
    floor_allowed = int(config.get("alwaysAllowedChanges", 1))
    old = baseline_records(before)
    was_sets, _ = active_sets(old)
    now_sets, _ = active_sets(view.records)
    old_owner, new_owner = owners(old), owners(view.records)
    new_by_key = {r.key: r for r in view.records}
    out = []
    for zone in sorted({r.zone for r in old if r.is_hostname}):
        existing = [r for r in old if r.zone == zone and r.is_hostname]
        was, now = set(was_sets.get(zone) or ()), set(now_sets.get(zone) or ())
        deactivated, activated = was - now, now - was
        changed = []
        for rec in existing:
            cur = new_by_key.get(rec.key)
            new_values = set(cur.values) if cur else set()
            if set(rec.values) == new_values:
                continue
            o_own, n_own = old_owner.get(rec.key, {}), new_owner.get(rec.key, {})
            stays_old = {t for t in rec.values if o_own.get(t) not in deactivated}
            stays_new = {t for t in new_values if n_own.get(t) not in activated}
            if stays_old != stays_new:
                after = _values(sorted(new_values)) if cur else "deleted"
                changed.append(f"{rec.name} {rec.type} {_values(rec.values)} -> {after}")
        limit = max(floor_allowed, math.floor(percent * len(existing) / 100))
        if len(changed) > limit:
            share = 100 * len(changed) / len(existing)
            out.append(
                Finding(
                    f"zone {zone}: this update changes or deletes {len(changed)} of its {len(existing)} "
                    f"hostname record sets ({share:.0f}%) beyond moving targets between groups; at most "
                    f"{limit} may ({percent:g}%, never fewer than {floor_allowed}) without an override: "
                    + _listed(changed)
                )
            )
    return out


def single_primary(view: StackView, config: Mapping[str, Any]) -> list[Finding]:
    """Each database pair has exactly one primary after the update, in an active group."""
    if not view.databases:
        return []
    active = active_after(view.records)
    pairs: dict[str, list[DatabaseCluster]] = defaultdict(list)
    for db in view.databases:
        pairs[db.pair].append(db)
    out = []
    for pair, clusters in sorted(pairs.items()):
        primaries = [c for c in clusters if c.primary]
        if len(primaries) != 1:
            where = ", ".join(sorted(c.group for c in primaries)) or "none"
            out.append(
                Finding(
                    f"database pair {pair} would have {len(primaries)} primaries (groups: {where}); "
                    "exactly one is required"
                )
            )
        elif primaries[0].group not in active:
            out.append(
                Finding(
                    f"database pair {pair}: its primary would be in group {primaries[0].group}, which is not "
                    f"active ({', '.join(sorted(active)) or 'no group'}): writes would go where no "
                    "traffic is",
                    primaries[0].urn,
                )
            )
    return out


def replica_caught_up(
    view: StackView, config: Mapping[str, Any], now: datetime | None = None
) -> list[Finding]:
    """A standby becomes the primary only when it has what the old primary committed (lag below
    the thresholds, WAL receiver streaming), as measured just before the preview."""
    if str(config.get("mode", "planned")) == "failover":
        return []  # the operator accepted the loss of what was not shipped; the dry-run warns
    promoted = sorted((db for db in view.databases if db.primary), key=lambda d: d.pair)
    if not promoted:
        return []
    replication = config.get("replication")
    if not isinstance(replication, Mapping):
        return missing_measurement(
            f"replication measurement of database pair(s) {', '.join(d.pair for d in promoted)}"
        )
    measured_at = _measured_at(replication.get("measuredAt"))
    max_age = float(config.get("maxMeasurementAgeSeconds", 300))
    if measured_at is None or ((now or datetime.now(UTC)) - measured_at).total_seconds() > max_age:
        return [Finding(f"the replication measurement is missing its time or older than {max_age:g}s")]
    max_bytes = int(config.get("maxLagBytes", 16 * 1024 * 1024))
    max_seconds = float(config.get("maxLagSeconds", 30))
    pairs = replication.get("pairs") or {}
    out: list[Finding] = []
    for db in promoted:
        reading = pairs.get(db.pair)
        if not isinstance(reading, Mapping):
            out.append(Finding(f"database pair {db.pair} was not measured", db.urn))
            continue
        live = [str(g) for g in reading.get("primaries") or []]
        if live == [db.group]:
            continue  # the primary stays where it is
        c = (reading.get("clusters") or {}).get(db.group) or {}
        where = f"database pair {db.pair}: the standby in {db.group}"
        if c.get("role") == "unmeasured":
            out.append(Finding(f"{where} cannot be measured from here ({c.get('error')})", db.urn))
        elif c.get("role") == "fenced":
            out.append(Finding(f"{where} is fenced by an earlier failover; rebuild it as a standby", db.urn))
        elif not c.get("reachable"):
            out.append(Finding(f"{where} does not answer ({c.get('error')})", db.urn))
        elif not live:
            out.append(
                Finding(
                    f"database pair {db.pair} has no live primary: a controlled switchover needs the old "
                    "primary to hand over its final position; if it is lost, use --failover",
                    db.urn,
                )
            )
        elif not c.get("receiver_up"):
            out.append(
                Finding(
                    f"{where} has its WAL receiver down: its lag cannot be known (it reads 0 when the "
                    "receiver is down)",
                    db.urn,
                )
            )
        elif c.get("lag_bytes") is None:
            out.append(Finding(f"{where}: replication lag unknown", db.urn))
        elif int(c["lag_bytes"]) > max_bytes or float(c.get("lag_seconds") or 0) > max_seconds:
            paused = ", replay paused" if c.get("replay_paused") else ""
            out.append(
                Finding(
                    f"{where} lags {int(c['lag_bytes'])} bytes / {float(c.get('lag_seconds') or 0):.1f}s "
                    f"behind {', '.join(live)} (max {max_bytes} bytes, {max_seconds:g}s){paused}",
                    db.urn,
                )
            )
    return out


def ttl_ceiling(view: StackView, config: Mapping[str, Any]) -> list[Finding]:
    """Published failover records (hostname record sets) have a TTL of at most T seconds."""
    ceiling = int(config.get("maxTtlSeconds", 60))
    return [
        Finding(
            f"{r.name} {r.type} has TTL {r.ttl}s, above {ceiling}s: resolvers keep answering with the old "
            "group for up to the TTL after a switch",
            r.urn,
        )
        for r in view.records
        if r.is_hostname and r.ttl is not None and r.ttl > ceiling
    ]


# --- the pack ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class PolicySpec:
    name: str
    description: str
    check: Callable[[StackView, Mapping[str, Any]], list[Finding]]
    default_level: str = "mandatory"
    schema: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    remediation: str = ""


BEFORE_SCHEMA = {"type": "array", "description": "record sets in the state before the update"}
POLICIES: tuple[PolicySpec, ...] = (
    PolicySpec(
        "at-least-one-active-group",
        "The active-groups TXT of every zone lists at least one group.",
        at_least_one_active_group,
        remediation="keep at least one group active (switch to another group instead of removing the last)",
    ),
    PolicySpec(
        "no-empty-hostname",
        "No published hostname is left with zero targets.",
        no_empty_hostname,
        schema={"before": BEFORE_SCHEMA, "topologyHostnames": {"type": "array"}},
        remediation="let a group that stays or becomes active publish it, or retire it from the topology",
    ),
    PolicySpec(
        "registry-consistent",
        "Every registry entry's group and targets match the record set it describes.",
        registry_consistent,
        remediation="deploy the stack's own records (`orchestrator up`); never edit registry records by hand",
    ),
    PolicySpec(
        "target-group-healthy",
        "The group being activated has at least N healthy endpoints.",
        target_group_healthy,
        schema={
            "minHealthyEndpoints": {"type": "integer", "minimum": 0},
            "maxMeasurementAgeSeconds": {"type": "number", "minimum": 0},
            "activeBefore": {"type": "array"},
            "measurement": {"type": "object"},
        },
        remediation="fix the group's endpoints (their health URLs must answer 2xx), then run again",
    ),
    PolicySpec(
        "blast-radius",
        "One update changes at most P % of a zone's hostname record sets, beyond moving groups.",
        blast_radius,
        schema={
            "maxChangedPercent": {"type": "number", "minimum": 0, "maximum": 100},
            "alwaysAllowedChanges": {"type": "integer", "minimum": 0},
            "before": BEFORE_SCHEMA,
        },
        remediation="split the change into smaller updates, or override it with a reason (docs/policies.md)",
    ),
    PolicySpec(
        "single-primary",
        "Each database pair has exactly one primary after the update, in an active group.",
        single_primary,
        remediation="give each pair one primary in an active group (docs/databases.md)",
    ),
    PolicySpec(
        "replica-caught-up",
        "A standby is promoted only when its replication lag is below the thresholds.",
        replica_caught_up,
        schema={
            "maxLagBytes": {"type": "integer", "minimum": 0},
            "maxLagSeconds": {"type": "number", "minimum": 0},
            "maxMeasurementAgeSeconds": {"type": "number", "minimum": 0},
            "replication": {"type": "object"},
            "mode": {"type": "string"},
        },
        remediation="let the standby catch up (resume replay, fix its WAL receiver), then run again; "
        "if the primary is lost use --failover",
    ),
    PolicySpec(
        "ttl-ceiling",
        "Published failover records have a TTL of at most T seconds.",
        ttl_ceiling,
        default_level="advisory",
        schema={"maxTtlSeconds": {"type": "integer", "minimum": 1}},
        remediation="lower `ttl` in the topology (docs/topology.md)",
    ),
)
POLICY_NAMES: tuple[str, ...] = tuple(p.name for p in POLICIES)


def load_thresholds(path: Path = CONFIG_FILE) -> dict[str, dict[str, Any]]:
    """config.json beside this file: per policy, its enforcement level and thresholds."""
    doc = json.loads(path.read_text())
    return {k: (v if isinstance(v, dict) else {"enforcementLevel": v}) for k, v in doc.items()}


def _validator(spec: PolicySpec) -> Callable[[Any, Callable[..., None]], None]:
    def validate(args: Any, report_violation: Callable[..., None]) -> None:
        from pulumi_policy.proxy import UnknownValueError

        config = plain(args.get_config() or {})
        try:
            view = view_of(args.resources)
        except UnknownValueError as exc:
            # pulumi-policy would turn this into an advisory note: a policy that cannot see
            # must not pass, so it is a violation at the policy's own level.
            report_violation(f"cannot check this update: {exc.message}")
            return
        for finding in spec.check(view, config):
            report_violation(finding.message, finding.urn)

    return validate


def build_policies(thresholds: Mapping[str, Mapping[str, Any]]) -> list[Any]:
    from pulumi_policy import EnforcementLevel, PolicyConfigSchema, StackValidationPolicy

    out = []
    for spec in POLICIES:
        given = thresholds.get(spec.name, {})
        # Thresholds from config.json become the schema defaults, so that a preview without
        # --policy-pack-config uses them too; a config file given to Pulumi overrides them.
        props = {k: dict(v, **({"default": given[k]} if k in given else {})) for k, v in spec.schema.items()}
        out.append(
            StackValidationPolicy(
                name=spec.name,
                description=spec.description,
                validate=_validator(spec),
                enforcement_level=EnforcementLevel(given.get("enforcementLevel", spec.default_level)),
                config_schema=PolicyConfigSchema(properties=props) if props else None,
                remediation_steps=spec.remediation or None,
                url="docs/policies.md#" + spec.name,
            )
        )
    return out


def main() -> None:
    from pulumi_policy import EnforcementLevel, PolicyPack

    # No initial_config: pulumi-policy 1.21 sends a config without an enforcement level as
    # "advisory", which would silently weaken a mandatory policy. Levels live on the policies.
    PolicyPack(
        name=PACK_NAME,
        policies=build_policies(load_thresholds()),
        enforcement_level=EnforcementLevel.MANDATORY,
        description="Preconditions of the active-group failover orchestrator (docs/policies.md)",
    )


if __name__ == "__main__":
    main()
