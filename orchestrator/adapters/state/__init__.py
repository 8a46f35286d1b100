"""The team's shared store: switch journal and audit events next to Pulumi's state.

When PULUMI_BACKEND_URL is a postgres:// URL (the self-hosted backend, docs/team.md), the
journal and the audit log live in the same database as the state, so that any checkout on
any machine resumes, rolls back and reads the history of a switch. With the file backend
they stay the files in .orchestrator/ (orchestrator.adapters.files).
"""

from __future__ import annotations

from pathlib import Path

from orchestrator.adapters.files.audit import AuditLog, default_audit_log
from orchestrator.adapters.files.journal import Journal
from orchestrator.adapters.files.paths import state_dir
from orchestrator.adapters.state.backend import shared_backend_url
from orchestrator.adapters.state.pgaudit import PgAuditLog
from orchestrator.adapters.state.pgjournal import PgJournal


def journal_for(root: Path) -> Journal:
    """The journal of the backend in use: the database's with postgres://, else the files."""
    if url := shared_backend_url():
        return PgJournal(url)
    return Journal(state_dir(root) / "journal")


def audit_for(root: Path) -> AuditLog:
    """The audit log of the backend in use: the database's with postgres://, else the file."""
    if url := shared_backend_url():
        return PgAuditLog(url)
    return AuditLog(default_audit_log(root))


__all__ = ["PgAuditLog", "PgJournal", "audit_for", "journal_for", "shared_backend_url"]
