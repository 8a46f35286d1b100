"""One truth for the active set across checkouts (shared backend only).

A switch rewrites the active set in the checkout's stacks/Pulumi.<stack>.yaml. Another
checkout that has not pulled that change would, on its next `up`, silently move traffic
back. With the shared store every checkout can see the last switch: a checkout whose stack
file disagrees with it is refused until it pulls (or resumes the switch, which adopts it).
The file backend has one checkout and no such check.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from orchestrator.adapters.files import audit as ev
from orchestrator.adapters.files.audit import AuditLog
from orchestrator.adapters.files.journal import Journal, SwitchRecord
from orchestrator.adapters.files.paths import project_root, stack_config_file
from orchestrator.adapters.pulumi.configfile import write_active_groups
from orchestrator.adapters.pulumi.stackconfig import ACTIVE_KEY, read_stack_file
from orchestrator.adapters.state.backend import shared_backend_url
from orchestrator.adapters.state.pgjournal import PgJournal
from orchestrator.domain.errors import ConflictError

FLIP_STEP = "flip-dns"  # after it, the stack file of the checkout that ran it says to_groups


def flipped(record: SwitchRecord) -> bool:
    """The record's active set is live: its flip completed (and it was not abandoned)."""
    return record.status != "abandoned" and any(
        s.name == FLIP_STEP and s.status == "completed" for s in record.steps
    )


def recorded_active(records: Sequence[SwitchRecord]) -> SwitchRecord | None:
    """The newest record (records newest first) whose active set went live: the truth."""
    return next((r for r in records if flipped(r)), None)


def stale_checkout_error(stack: str, file_groups: Sequence[str], last: SwitchRecord) -> ConflictError:
    want = ", ".join(last.to_groups) or "(none)"
    have = ", ".join(file_groups) or "(none)"
    return ConflictError(
        f"stacks/Pulumi.{stack}.yaml says the active groups are {have}, but switch {last.id} "
        f"({last.kind}, run by {last.holder or 'an unknown holder'}, {last.created_at}) made them {want}",
        "this checkout has not pulled that change: deploying from it would silently undo that switch",
        f"pull the change (git pull) so that stacks/Pulumi.{stack}.yaml says {want}, then run again; "
        f"to change the active set, do it explicitly afterwards with `orchestrator switch --to <group>`",
    )


def require_current(stack: str, root: Path | None = None, journal: Journal | None = None) -> None:
    """Refuse when the checkout's active set is not the one the last switch recorded (shared store)."""
    url = shared_backend_url()
    if url is None and journal is None:
        return
    root = root or project_root()
    journal = journal or PgJournal(str(url))
    last = recorded_active(journal.list(stack))
    if last is None:
        return
    file_groups = read_stack_file(root, stack).get("config", {}).get(ACTIVE_KEY) or []
    if sorted(file_groups) != sorted(last.to_groups):
        raise stale_checkout_error(stack, file_groups, last)


def adopt_recorded(root: Path, stack: str, record: SwitchRecord, audit: AuditLog) -> bool:
    """A resume from another checkout: once the flip is done, this checkout's stack file must say
    what the switch made live, or the remaining steps (a whole-stack `up`) would undo it."""
    if not flipped(record):
        return False
    if not write_active_groups(stack_config_file(root, stack), tuple(record.to_groups)):
        return False
    audit.append(
        ev.ACTIVE_GROUPS_CHANGED,
        switch_id=record.id,
        from_groups=list(record.from_groups),
        to_groups=list(record.to_groups),
        adopted_by_resume=True,
    )
    return True
