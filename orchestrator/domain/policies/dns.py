"""The DNS policies: active groups, no empty hostname, registry consistency, blast radius, TTL.

Each is a plain function of (stack view, config) returning findings; docs/policies.md
explains each. The rules the switch plan shares with them are in orchestrator.domain.rules.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping
from typing import Any

from orchestrator.domain.kuadrant import active_groups_txt_name, is_active_groups, is_hostname
from orchestrator.domain.names import normalise_name
from orchestrator.domain.policies.view import (
    HOW_TO_MEASURE,
    Finding,
    StackView,
    active_sets,
    baseline_records,
    listed,
    listed_values,
    owners,
    registry,
)
from orchestrator.domain.rules import hostnames_left_empty, leaves_no_active_group


def at_least_one_active_group(view: StackView, config: Mapping[str, Any]) -> list[Finding]:
    """Every zone's kuadrant-active-groups TXT lists at least one group."""
    sets, out = active_sets(view.records)
    by_zone = {r.zone: r for r in view.records if is_active_groups(r)}
    for zone, groups in sorted(sets.items()):
        if groups is not None and leaves_no_active_group(groups):
            out.append(
                Finding(
                    f"{active_groups_txt_name(zone)} would list no group: the zone's controllers would "
                    "consider every group inactive; keep at least one group active",
                    by_zone[zone].urn,
                )
            )
    for zone in sorted({r.zone for r in view.records if is_hostname(r)} - set(sets)):
        out.append(
            Finding(
                f"zone {zone} publishes hostnames but would have no {active_groups_txt_name(zone)} record: "
                "no group would be active there"
            )
        )
    return out


def no_empty_hostname(view: StackView, config: Mapping[str, Any]) -> list[Finding]:
    """No published hostname is left with zero targets (orchestrator.domain.rules)."""
    empty = [r for r in view.records if is_hostname(r) and not r.values]
    out = [Finding(f"{r.name} {r.type} would have no targets", r.urn) for r in empty]
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
    reported = {r.name for r in empty}
    for old in hostnames_left_empty(baseline_records(before), view.records, still_in_topology):
        if old.name in reported:
            continue
        out.append(
            Finding(
                f"{old.name} is published now ({old.type} {listed_values(old.values)}) and would be left "
                "with no targets: no group that stays or becomes active publishes it"
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
                    f"{name} says group '{e.group}' publishes {listed_values(missing)} for {e.host} "
                    f"{e.type}, but the record set would serve {listed_values(described.values)}",
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
        if is_hostname(rec) and rec.values:
            unowned = sorted(set(rec.values) - set(claimed.get(rec.key, {})))
            if unowned:
                out.append(
                    Finding(
                        f"{rec.name} {rec.type} would serve {listed_values(unowned)}, which no registry "
                        "entry owns: the zone's controllers would not know which group publishes them",
                        rec.urn,
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
    for zone in sorted({r.zone for r in old if is_hostname(r)}):
        existing = [r for r in old if r.zone == zone and is_hostname(r)]
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
                after = listed_values(sorted(new_values)) if cur else "deleted"
                changed.append(f"{rec.name} {rec.type} {listed_values(rec.values)} -> {after}")
        limit = max(floor_allowed, math.floor(percent * len(existing) / 100))
        if len(changed) > limit:
            share = 100 * len(changed) / len(existing)
            out.append(
                Finding(
                    f"zone {zone}: this update changes or deletes {len(changed)} of its {len(existing)} "
                    f"hostname record sets ({share:.0f}%) beyond moving targets between groups; at most "
                    f"{limit} may ({percent:g}%, never fewer than {floor_allowed}) without an override: "
                    + listed(changed)
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
        if is_hostname(r) and r.ttl is not None and r.ttl > ceiling
    ]
