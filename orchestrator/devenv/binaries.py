"""The server programs the local environment runs, and the Debian packages that provide them."""

from __future__ import annotations

import glob
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from orchestrator.domain.errors import EnvironmentProblem

SBIN_DIRS = ("/usr/sbin", "/usr/bin", "/sbin", "/bin")


@dataclass(frozen=True)
class Program:
    name: str
    package: str
    purpose: str


PDNS = Program("pdns_server", "pdns-server", "PowerDNS Authoritative")
NAMED = Program("named", "bind9", "BIND 9")
TSIG_KEYGEN = Program("tsig-keygen", "bind9-utils", "the TSIG key generator of BIND 9")
UNBOUND = Program("unbound", "unbound", "the Unbound resolver")
ALL = (PDNS, NAMED, TSIG_KEYGEN, UNBOUND)

SQLITE_SCHEMAS = (
    Path("/usr/share/pdns-backend-sqlite3/schema/schema.sqlite3.sql"),
    Path("/usr/share/doc/pdns-backend-sqlite3/schema.sqlite3.sql"),
)
SQLITE_BACKEND_GLOB = "/usr/lib/*/pdns/libgsqlite3backend.so"


def _missing(packages: list[str], what: str) -> EnvironmentProblem:
    listed = " ".join(packages)
    return EnvironmentProblem(
        f"{what} is not installed (Debian package {listed})",
        "the local environment runs real PowerDNS, BIND 9 and Unbound servers from Debian packages",
        f"run `make setup` (or as root: apt-get install -y {listed}), then run again",
    )


def find(program: Program, search: str | None = None) -> str:
    """Absolute path of program: PATH first, then the sbin directories that PATH often lacks."""
    path = search if search is not None else os.environ.get("PATH", "")
    found = shutil.which(program.name, path=os.pathsep.join([path, *SBIN_DIRS]) if search is None else path)
    if not found:
        raise _missing([program.package], f"{program.purpose} (`{program.name}`)")
    return found


def require_all(search: str | None = None) -> dict[str, str]:
    """Paths of every program, or one error that names every missing package."""
    paths: dict[str, str] = {}
    missing: list[Program] = []
    for program in ALL:
        try:
            paths[program.name] = find(program, search)
        except EnvironmentProblem:
            missing.append(program)
    if missing:
        names = ", ".join(f"`{p.name}`" for p in missing)
        raise _missing(sorted({p.package for p in missing}), names)
    return paths


def sqlite_schema() -> Path:
    """The gsqlite3 schema that ships with pdns-backend-sqlite3 (also proves the backend is there)."""
    schema = next((p for p in SQLITE_SCHEMAS if p.exists()), None)
    if schema is None or not glob.glob(SQLITE_BACKEND_GLOB):
        raise _missing(["pdns-backend-sqlite3"], "the SQLite backend of PowerDNS")
    return schema


POSTGRES_GLOB = "/usr/lib/postgresql/*/bin"


def postgres_bindir() -> Path:
    """The newest Debian PostgreSQL server's bin directory (initdb, postgres, pg_rewind, ...)."""
    found = sorted(
        (Path(p) for p in glob.glob(POSTGRES_GLOB) if (Path(p) / "postgres").exists()),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
    )
    if not found:
        raise _missing(["postgresql"], "the PostgreSQL server (`postgres`, `initdb`)")
    return found[-1]
