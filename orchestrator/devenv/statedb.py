"""The team's state database: its own PostgreSQL instance on loopback (not the switched pair).

It holds what a team shares: Pulumi's state (the postgres:// DIY backend, pulumi/pulumi#19581)
and the orchestrator's switch journal and audit events (orchestrator.adapters.state). The
instance reuses the pair's launcher functions (orchestrator.devenv.postgres) with its own
data directory, <state>/postgres/_state, so that `dev down` finds it like the pair's.

Credentials: a superuser password (only `dev up` uses it, to create the role and the
database) and the password of the `orchestrator` role, which clients read from a pgpass
file (PGPASSFILE): the password never appears in a URL, on a command line or in output.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from urllib.parse import quote

from orchestrator.adapters.postgres import pg
from orchestrator.devenv import credentials, postgres
from orchestrator.devenv.ports import LOOPBACK

ROLE = "state-db"
GROUP = "_state"  # the instance's directory under <state>/postgres/ (never a topology group)
DATABASE = "orchestrator_state"
USER = "orchestrator"
SUPERUSER_PASSWORD_FILE = "state-db-superuser-password"
PASSWORD_FILE = "state-db-password"
PGPASS_FILE = "state-db.pgpass"


def pgpass_file(state_dir: Path) -> Path:
    return credentials.secrets_dir(state_dir) / PGPASS_FILE


def ensure_secrets(state_dir: Path) -> tuple[str, str]:
    """(superuser password, orchestrator role password), generated once; writes the pgpass file."""
    out = []
    for name in (SUPERUSER_PASSWORD_FILE, PASSWORD_FILE):
        path = credentials.secrets_dir(state_dir) / name
        if not path.exists():
            credentials.write_private(path, secrets.token_hex(24) + "\n")
        out.append(path.read_text().strip())
    superuser, password = out
    # Any port: the instance may get another one on the next start.
    credentials.write_private(pgpass_file(state_dir), f"{LOOPBACK}:*:{DATABASE}:{USER}:{password}\n")
    return superuser, password


def superuser_endpoint(port: int, superuser_password: str) -> pg.Endpoint:
    return pg.Endpoint(LOOPBACK, int(port), postgres.SUPERUSER, superuser_password)


def ensure_database(port: int, superuser_password: str, password: str) -> None:
    """The `orchestrator` role (login, password) owning the `orchestrator_state` database."""
    from psycopg import sql  # here, not at import: most runs never connect

    with pg.connect(superuser_endpoint(port, superuser_password)) as conn:
        exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (USER,)).fetchone()
        verb = "ALTER" if exists else "CREATE"
        conn.execute(
            sql.SQL(verb + " ROLE {} LOGIN PASSWORD {}").format(sql.Identifier(USER), sql.Literal(password))
        )
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)).fetchone():
            conn.execute(
                sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(DATABASE), sql.Identifier(USER))
            )


def backend_url(port: int) -> str:
    """The PULUMI_BACKEND_URL of the state database: no password (it comes from PGPASSFILE)."""
    return f"postgres://{quote(USER)}@{LOOPBACK}:{int(port)}/{DATABASE}?sslmode=disable"
