"""The local PostgreSQL pair: one instance per group, streaming replication between them.

Layout under <state>/postgres/<group>/: `data/` (the cluster, owned by the `postgres` user
when we run as root: PostgreSQL refuses to run as root), `upstream` (the group it streams
from while it is a standby) and `demotion-token` (written by a controlled demotion).
Everything the orchestrator sets lives in data/orchestrator.conf, rendered before each start
(ports change between runs). A fenced instance (data/orchestrator.fenced, written by a
failover) keeps its standby.signal and gets no upstream: it can never accept writes again
until it is rebuilt as a standby (`orchestrator dev rebuild-standby <group>`).
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from orchestrator.adapters.postgres.pg import Endpoint
from orchestrator.devenv import process
from orchestrator.devenv.ports import LOOPBACK
from orchestrator.domain.errors import EnvironmentProblem

ROLE_PREFIX = "postgres-"
DB_USER = "postgres"  # the OS user that runs the servers when we are root
SUPERUSER = "postgres"
PASSWORD_FILE = "postgres-password"
FENCE_FILE = "orchestrator.fenced"
CONF_FILE = "orchestrator.conf"
STOP_TIMEOUT = 30.0

SETTINGS = {
    "listen_addresses": LOOPBACK,
    "unix_socket_directories": "",
    "wal_level": "replica",
    "max_wal_senders": 10,
    "wal_keep_size": "1GB",  # a standby that falls behind catches up without an archive
    "wal_log_hints": "on",  # pg_rewind of a former primary
    "hot_standby": "on",
    "recovery_target_timeline": "latest",  # follow a promoted peer onto its new timeline
    "shared_buffers": "32MB",
    "max_connections": 50,
    "fsync": "on",
    "log_line_prefix": "%m [%p] ",
}


def role_key(group: str) -> str:
    return f"{ROLE_PREFIX}{group}"


def group_of(role: str) -> str | None:
    return role[len(ROLE_PREFIX) :] if role.startswith(ROLE_PREFIX) else None


def recorded(servers: dict[str, Any]) -> list[str]:
    return sorted(k for k in servers if k.startswith(ROLE_PREFIX))


def instance_dir(state_dir: Path, group: str) -> Path:
    return state_dir / "postgres" / group


def data_dir(state_dir: Path, group: str) -> Path:
    return instance_dir(state_dir, group) / "data"


def token_file(state_dir: Path, group: str) -> Path:
    return instance_dir(state_dir, group) / "demotion-token"


def upstream_file(state_dir: Path, group: str) -> Path:
    return instance_dir(state_dir, group) / "upstream"


def fence_file(state_dir: Path, group: str) -> Path:
    return data_dir(state_dir, group) / FENCE_FILE


def is_standby(state_dir: Path, group: str) -> bool:
    return (data_dir(state_dir, group) / "standby.signal").exists()


def is_fenced(state_dir: Path, group: str) -> bool:
    return fence_file(state_dir, group).exists()


def role_of(state_dir: Path, group: str) -> str:
    """primary, standby or fenced, as the data directory says."""
    if is_fenced(state_dir, group):
        return "fenced"
    return "standby" if is_standby(state_dir, group) else "primary"


def upstream(state_dir: Path, group: str) -> str | None:
    try:
        return upstream_file(state_dir, group).read_text().strip() or None
    except FileNotFoundError:
        return None


def endpoint(port: int, password: str) -> Endpoint:
    return Endpoint(LOOPBACK, int(port), SUPERUSER, password)


# --- running as the postgres user -----------------------------------------------------------


def _as_db_user(cmd: Sequence[str]) -> list[str]:
    if os.geteuid() != 0:
        return list(cmd)
    return ["setpriv", f"--reuid={DB_USER}", f"--regid={DB_USER}", "--init-groups", *cmd]


def _owned(path: Path) -> None:
    """Give path (and what is below it) to the server's user when we are root."""
    if os.geteuid() != 0:
        return
    user = pwd.getpwnam(DB_USER)
    for p in [path, *path.rglob("*")] if path.is_dir() else [path]:
        os.lchown(p, user.pw_uid, user.pw_gid)


def _traversable(path: Path) -> None:
    """As root, the postgres user must reach the data directory: add o+x where it is missing
    on our own ancestors (pytest's and mkdtemp's directories are 0700)."""
    if os.geteuid() != 0:
        return
    for p in [path, *path.parents]:
        st = p.stat()
        if st.st_uid == 0 and not st.st_mode & 0o001:
            os.chmod(p, st.st_mode | 0o001)


def run(cmd: Sequence[str], what: str, *, env: dict[str, str] | None = None, timeout: float = 120) -> str:
    proc = subprocess.run(
        _as_db_user(cmd), capture_output=True, text=True, env=env, timeout=timeout, check=False
    )
    if proc.returncode != 0:
        raise EnvironmentProblem(
            f"{what} failed (exit code {proc.returncode})",
            (proc.stderr or proc.stdout).strip()[-1500:],
            "read the message above; `orchestrator dev down --purge` then `dev up` starts the pair afresh",
        )
    return proc.stdout


def server_command(program: str, state_dir: Path, group: str) -> list[str]:
    return _as_db_user([program, "-D", str(data_dir(state_dir, group))])


# --- creating the pair ------------------------------------------------------------------------


def init_primary(bindir: Path, state_dir: Path, group: str, password: str) -> None:
    """initdb with checksums and password authentication on loopback only."""
    inst = instance_dir(state_dir, group)
    inst.mkdir(parents=True, exist_ok=True)
    _traversable(inst)
    pwfile = inst / ".initdb-password"
    pwfile.write_text(password + "\n")
    os.chmod(pwfile, 0o600)
    _owned(inst)
    try:
        run(
            [
                str(bindir / "initdb"),
                "-D",
                str(data_dir(state_dir, group)),
                "-U",
                SUPERUSER,
                f"--pwfile={pwfile}",
                "--auth=scram-sha-256",
                "--data-checksums",
                "--encoding=UTF8",
                "--locale=C",
            ],
            f"initdb of the {group} PostgreSQL instance",
        )
    finally:
        pwfile.unlink(missing_ok=True)
    data = data_dir(state_dir, group)
    with (data / "postgresql.conf").open("a") as conf:
        conf.write(f"\ninclude_if_exists = '{CONF_FILE}'\n")
    (data / "pg_hba.conf").write_text(
        "# orchestrator dev: password authentication on loopback only\n"
        "host all all 127.0.0.1/32 scram-sha-256\n"
        "host replication all 127.0.0.1/32 scram-sha-256\n"
    )
    _owned(inst)


def clone_standby(
    bindir: Path, state_dir: Path, group: str, upstream_group: str, port: int, password: str
) -> None:
    """A new standby of `upstream_group` from a base backup (the pair's second instance)."""
    inst = instance_dir(state_dir, group)
    if data_dir(state_dir, group).exists():
        shutil.rmtree(data_dir(state_dir, group))
    inst.mkdir(parents=True, exist_ok=True)
    _traversable(inst)
    _owned(inst)
    run(
        [
            str(bindir / "pg_basebackup"),
            "-h",
            LOOPBACK,
            "-p",
            str(port),
            "-U",
            SUPERUSER,
            "-D",
            str(data_dir(state_dir, group)),
            "-X",
            "stream",
            "-c",
            "fast",
            "--no-password",
        ],
        f"base backup of {upstream_group} for the {group} PostgreSQL standby",
        env=dict(os.environ, PGPASSWORD=password),
    )
    become_standby(state_dir, group, upstream_group)


def become_standby(state_dir: Path, group: str, upstream_group: str | None) -> None:
    """Mark a stopped instance as a standby of upstream_group (None: of nobody, fenced)."""
    data = data_dir(state_dir, group)
    (data / "standby.signal").touch()
    f = upstream_file(state_dir, group)
    if upstream_group:
        (data / FENCE_FILE).unlink(missing_ok=True)  # rebuilt: no longer fenced
        f.write_text(upstream_group + "\n")
    else:
        f.unlink(missing_ok=True)
    _owned(instance_dir(state_dir, group))


def fence(state_dir: Path, group: str, reason: str) -> None:
    """Never writable again until rebuilt: standby.signal with no upstream, and a marker saying why."""
    become_standby(state_dir, group, None)
    (data_dir(state_dir, group) / FENCE_FILE).write_text(reason.strip() + "\n")
    _owned(instance_dir(state_dir, group))


def render_config(state_dir: Path, group: str, port: int, upstream_port: int | None, password: str) -> None:
    lines = [f"# written by orchestrator dev before each start; edits are lost\nport = {port}"]
    lines += [f"{k} = '{v}'" if isinstance(v, str) else f"{k} = {v}" for k, v in SETTINGS.items()]
    lines.append(f"cluster_name = '{group}'")
    if upstream_port is not None and not is_fenced(state_dir, group):
        conninfo = (
            f"host={LOOPBACK} port={upstream_port} user={SUPERUSER} password={password} "
            f"application_name={group}"
        )
        lines.append(f"primary_conninfo = '{conninfo}'")
    path = data_dir(state_dir, group) / CONF_FILE
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write("\n".join(lines) + "\n")
    _owned(path)


def stop_fast(pid: int | None, timeout: float = STOP_TIMEOUT) -> bool:
    """Fast shutdown (SIGINT to the postmaster): clients are disconnected, a primary writes its
    shutdown checkpoint and hands all WAL to its standbys before it exits."""
    if not pid or process.has_exited(pid):
        return True
    try:
        os.kill(pid, signal.SIGINT)
    except ProcessLookupError:
        return True
    # has_exited: a postmaster started by another process stays a zombie until that one reaps it.
    return process.wait_until(lambda: process.has_exited(pid), timeout, interval=0.05)


def checkpoint_of(bindir: Path, state_dir: Path, group: str) -> tuple[str, int, str]:
    """(latest checkpoint LSN, its timeline, system identifier) of a stopped instance."""
    out = run([str(bindir / "pg_controldata"), "-D", str(data_dir(state_dir, group))], "pg_controldata")
    fields = dict(line.split(":", 1) for line in out.splitlines() if ":" in line)
    state = fields.get("Database cluster state", "").strip()
    if state not in ("shut down", "shut down in recovery"):
        raise EnvironmentProblem(
            f"the {group} PostgreSQL instance did not shut down cleanly (state: {state})",
            "a demotion token is only valid after a clean shutdown",
            "start it again and retry, or use --failover if it is lost",
        )
    return (
        fields["Latest checkpoint location"].strip(),
        int(fields["Latest checkpoint's TimeLineID"].strip()),
        fields["Database system identifier"].strip(),
    )


def rewind(bindir: Path, state_dir: Path, group: str, source_port: int, password: str) -> bool:
    """pg_rewind a stopped former primary onto the new primary; False when it cannot."""
    cmd = [
        str(bindir / "pg_rewind"),
        "-D",
        str(data_dir(state_dir, group)),
        f"--source-server=host={LOOPBACK} port={source_port} user={SUPERUSER} dbname=postgres",
    ]
    proc = subprocess.run(
        _as_db_user(cmd),
        capture_output=True,
        text=True,
        env=dict(os.environ, PGPASSWORD=password),
        timeout=300,
        check=False,
    )
    return proc.returncode == 0
