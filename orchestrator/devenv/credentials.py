"""Secrets of the local environment: generated once, kept in <state>/secrets (mode 0600).

They never appear in status output; code that needs them calls load_secrets().
"""

from __future__ import annotations

import os
import re
import secrets
import subprocess
from pathlib import Path

from orchestrator.domain.errors import EnvironmentProblem

TSIG_KEY_NAME = "orchestrator-dev"
TSIG_ALGORITHM = "hmac-sha256"
API_KEY_FILE = "powerdns-api-key"
TSIG_KEY_FILE = "tsig.key"
POSTGRES_PASSWORD_FILE = "postgres-password"

_KEY_RE = re.compile(
    r'key\s+"(?P<name>[^"]+)"\s*\{\s*algorithm\s+(?P<algorithm>[\w-]+)\s*;\s*secret\s+"(?P<secret>[^"]+)"\s*;',
    re.S,
)


def secrets_dir(state_dir: Path) -> Path:
    return state_dir / "secrets"


def tsig_key_file(state_dir: Path) -> Path:
    return secrets_dir(state_dir) / TSIG_KEY_FILE


def write_private(path: Path, text: str) -> None:
    """Write path readable by its owner only (never briefly world-readable)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)
    os.replace(tmp, path)


def parse_tsig_key(text: str) -> tuple[str, str, str]:
    """(name, algorithm, secret) of a BIND key statement as tsig-keygen writes it."""
    match = _KEY_RE.search(text)
    if not match:
        raise ValueError('no `key "name" { algorithm ...; secret "..."; };` statement found')
    return match["name"], match["algorithm"], match["secret"]


def ensure_secrets(state_dir: Path, tsig_keygen: str) -> None:
    """Generate the PowerDNS API key and the TSIG key unless they exist already."""
    secrets_dir(state_dir).mkdir(parents=True, exist_ok=True)
    os.chmod(secrets_dir(state_dir), 0o700)
    api_key = secrets_dir(state_dir) / API_KEY_FILE
    if not api_key.exists():
        write_private(api_key, secrets.token_urlsafe(32) + "\n")
    pg_password = secrets_dir(state_dir) / POSTGRES_PASSWORD_FILE
    if not pg_password.exists():
        write_private(pg_password, secrets.token_hex(24) + "\n")
    key_file = tsig_key_file(state_dir)
    if not key_file.exists():
        proc = subprocess.run(
            [tsig_keygen, "-a", TSIG_ALGORITHM, TSIG_KEY_NAME], capture_output=True, text=True, check=False
        )
        if proc.returncode != 0:
            raise EnvironmentProblem(
                "could not generate the TSIG key of the local environment",
                f"tsig-keygen exited {proc.returncode}: {proc.stderr.strip()}",
                "check that bind9-utils is installed and works (`tsig-keygen -a hmac-sha256 test`)",
            )
        parse_tsig_key(proc.stdout)
        write_private(key_file, proc.stdout)


def load_secrets(state_dir: Path) -> dict[str, str]:
    """The credentials that clients of the local environment need."""
    try:
        api_key = (secrets_dir(state_dir) / API_KEY_FILE).read_text().strip()
        name, algorithm, secret = parse_tsig_key(tsig_key_file(state_dir).read_text())
    except (OSError, ValueError) as exc:
        raise EnvironmentProblem(
            f"the local environment's secrets in {secrets_dir(state_dir)} are missing or unreadable",
            str(exc),
            "run `orchestrator dev up` (it generates them), then run again",
        ) from exc
    pg_password = secrets_dir(state_dir) / POSTGRES_PASSWORD_FILE
    return {
        "postgres_password": pg_password.read_text().strip() if pg_password.exists() else "",
        "powerdns_api_key": api_key,
        "tsig_key_name": name,
        "tsig_algorithm": algorithm,
        "tsig_secret": secret,
    }
