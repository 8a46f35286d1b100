"""Move a stack between DIY backends (file <-> self-hosted PostgreSQL) with its history.

`pulumi stack export` / `pulumi stack import` move the deployment (Pulumi's own, validated
path; secrets stay encrypted by the stack's secrets provider, whose salt is in the stack
file). They do not move the update history, so the history objects are copied between the
two buckets as they are: both backends use the same keys (.pulumi/history/<project>/<stack>/),
the file backend as files, the PostgreSQL backend as rows of its `pulumi_state` table. The
switch journal records of the stack are copied too, so `history` still joins them.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from urllib.parse import parse_qsl, unquote, urlsplit

import yaml
from psycopg import sql
from psycopg.types.json import Json

from orchestrator.adapters.files.journal import Journal
from orchestrator.adapters.files.paths import state_dir
from orchestrator.adapters.pulumi.environment import engine_env, locate_engine
from orchestrator.adapters.state.backend import SCHEMES, connect, redacted
from orchestrator.adapters.state.pgjournal import PgJournal
from orchestrator.domain.errors import ConflictError, OrchestratorError, UsageError

FILE = "file"  # `--to file`: the project's default file backend (<root>/.pulumi-state)


class Bucket(Protocol):
    def read_prefix(self, prefix: str) -> dict[str, bytes]: ...

    def write(self, key: str, data: bytes) -> None: ...


@dataclass(frozen=True)
class FileBucket:
    base: Path

    def read_prefix(self, prefix: str) -> dict[str, bytes]:
        top = self.base / prefix
        if top.is_file():
            return {prefix: top.read_bytes()}
        if not top.is_dir():
            return {}
        # gocloud's fileblob keeps metadata in .attrs sidecars: not objects of the bucket.
        return {
            str(p.relative_to(self.base)): p.read_bytes()
            for p in sorted(top.rglob("*"))
            if p.is_file() and not p.name.endswith(".attrs")
        }

    def write(self, key: str, data: bytes) -> None:
        path = self.base / key
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)


@dataclass(frozen=True)
class PgBucket:
    """Pulumi's postgres bucket: rows (key, data = {"data": base64})."""

    url: str

    @property
    def table(self) -> str:
        return dict(parse_qsl(urlsplit(self.url).query)).get("table") or "pulumi_state"

    @property
    def prefix(self) -> str:
        """Pulumi keeps the URL's path (the database name) as a prefix of every key."""
        path = unquote(urlsplit(self.url).path).strip("/")
        return f"{path}/" if path else ""

    def read_prefix(self, prefix: str) -> dict[str, bytes]:
        with connect(self.url) as conn:
            rows = conn.execute(
                sql.SQL("SELECT key, data FROM {} WHERE key LIKE %s ORDER BY key").format(
                    sql.Identifier(self.table)
                ),
                ((self.prefix + prefix).replace("_", r"\_").replace("%", r"\%") + "%",),
            ).fetchall()
        return {key[len(self.prefix) :]: base64.b64decode(data["data"]) for key, data in rows}

    def write(self, key: str, data: bytes) -> None:
        with connect(self.url) as conn:
            conn.execute(
                sql.SQL(
                    "INSERT INTO {} (key, data) VALUES (%s, %s) "
                    "ON CONFLICT (key) DO UPDATE SET data = EXCLUDED.data, updated_at = now()"
                ).format(sql.Identifier(self.table)),
                (self.prefix + key, Json({"data": base64.b64encode(data).decode("ascii")})),
            )


def resolve(root: Path, url: str | None) -> str:
    """A backend URL: None means the one in use, `file` the project's default file backend."""
    if url is None:
        url = os.environ.get("PULUMI_BACKEND_URL") or FILE
    if url == FILE:
        return (root / ".pulumi-state").as_uri()
    if url.startswith("file://") or url.startswith(SCHEMES):
        return url
    raise UsageError(
        f"backend {redacted(url)} cannot take part in a move",
        "the orchestrator moves stacks between DIY backends it can read: file:// and postgres://",
        "pass `file`, a file:// URL or the postgres:// URL of `orchestrator dev backend-url`",
    )


def bucket_for(url: str) -> Bucket:
    if url.startswith("file://"):
        return FileBucket(Path(unquote(urlsplit(url).path)))
    return PgBucket(url)


def journal_of(root: Path, url: str) -> Journal:
    return Journal(state_dir(root) / "journal") if url.startswith("file://") else PgJournal(url)


def project_name(root: Path) -> str:
    return str(yaml.safe_load((root / "Pulumi.yaml").read_text())["name"])


@dataclass
class MoveReport:
    stack: str
    source: str
    target: str
    history_copied: int
    history_total: int
    journal_copied: int


def move_stack(
    root: Path, stack: str, target: str, source: str | None = None, *, replace: bool = False
) -> MoveReport:
    """Copy the stack's deployment, update history and journal records from source to target."""
    src, dst = resolve(root, source), resolve(root, target)
    if src == dst:
        raise UsageError(
            f"stack '{stack}' is already in {redacted(dst)}",
            "the source and the target backend are the same",
            "pass the other backend with --to (`file`, or the postgres:// URL)",
        )
    project = project_name(root)
    checkpoint = f".pulumi/stacks/{project}/{stack}.json"
    history = f".pulumi/history/{project}/{stack}/"
    src_bucket, dst_bucket = bucket_for(src), bucket_for(dst)
    if not src_bucket.read_prefix(checkpoint):
        raise UsageError(
            f"stack '{stack}' has no state in {redacted(src)}",
            f"there is no {checkpoint} in the source backend",
            "pass the backend that holds it with --from, or deploy it first",
        )
    if dst_bucket.read_prefix(checkpoint) and not replace:
        raise ConflictError(
            f"stack '{stack}' already exists in {redacted(dst)}",
            "moving would overwrite its deployment (its history would be kept and merged)",
            "pass --replace when that copy is older than the source (e.g. moving a stack back)",
        )
    if dst.startswith("file://"):
        Path(unquote(urlsplit(dst).path)).mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="orchestrator-move-") as tmp:
        exported = Path(tmp) / "deployment.json"
        _pulumi(root, src, "stack", "export", "--stack", stack, "--file", str(exported))
        if not dst_bucket.read_prefix(checkpoint):
            _pulumi(root, dst, "stack", "init", stack, "--no-select")
        _pulumi(root, dst, "stack", "import", "--stack", stack, "--file", str(exported))
    have = dst_bucket.read_prefix(history)
    objects = src_bucket.read_prefix(history)
    missing = {k: v for k, v in objects.items() if k not in have}
    for key, data in missing.items():
        dst_bucket.write(key, data)
    src_journal, dst_journal = journal_of(root, src), journal_of(root, dst)
    known = {r.id for r in dst_journal.list(stack)}
    copied = 0
    for record in src_journal.list(stack):
        if record.id not in known:
            dst_journal.save(record, touch=False)
            copied += 1
    total = len([k for k in {**have, **objects} if k.endswith((".history.json", ".history.json.gz"))])
    return MoveReport(
        stack=stack,
        source=redacted(src),
        target=redacted(dst),
        history_copied=len([k for k in missing if ".history." in k]),
        history_total=total,
        journal_copied=copied,
    )


def _pulumi(root: Path, backend: str, *args: str) -> str:
    engine = locate_engine()
    env = {**os.environ, **engine_env(root, engine, warn=False), "PULUMI_BACKEND_URL": backend}
    proc = subprocess.run(
        [str(engine.pulumi), *args, "--non-interactive"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if proc.returncode != 0:
        raise OrchestratorError(
            f"`pulumi {' '.join(args[:2])}` against {redacted(backend)} failed (exit code {proc.returncode})",
            (proc.stderr or proc.stdout).strip()[-1500:],
            "read the message above; nothing was removed from the source backend, so run again once fixed",
        )
    return proc.stdout


def report_json(report: MoveReport) -> str:
    return json.dumps(report.__dict__, indent=2, sort_keys=True)
