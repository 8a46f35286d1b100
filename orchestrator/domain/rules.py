"""The safety rules the switch plan and the policy pack both enforce, written once.

The switch's own blockers (orchestrator.domain.switch.plan) and the CrossGuard policies of
the same names (orchestrator.domain.policies) call these functions; each side words its
findings for its reader, but what counts as a violation is decided here. Overriding a
policy (`--override-policy NAME`) overrides the plan's blockers of the same rule too.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable

from orchestrator.domain.kuadrant import is_hostname
from orchestrator.domain.records import RecordSet

AT_LEAST_ONE_ACTIVE_GROUP = "at-least-one-active-group"
NO_EMPTY_HOSTNAME = "no-empty-hostname"


def leaves_no_active_group(groups: Iterable[str]) -> bool:
    """at-least-one-active-group: an active set without any group is refused."""
    return not any(groups)


def hostnames_left_empty(
    before: Iterable[RecordSet],
    after: Iterable[RecordSet],
    still_published: Collection[str] | None = None,
) -> list[RecordSet]:
    """no-empty-hostname: hostname record sets served before whose name nothing serves after.

    A name counts as served after when any hostname record set of that name has values
    (absent or empty is not served). A hostname not in `still_published` (retired from the
    topology on purpose: a reviewed change) does not count. One record set per name.
    """
    served_after = {r.name for r in after if is_hostname(r) and r.values}
    out: list[RecordSet] = []
    seen: set[str] = set()
    for old in before:
        if not is_hostname(old) or not old.values or old.name in served_after or old.name in seen:
            continue
        if still_published is not None and old.name not in still_published:
            continue
        seen.add(old.name)
        out.append(old)
    return out
