"""What the orchestrator asks a PostgreSQL server, through psycopg. No decisions here.

Every call opens its own short connection with a connect timeout: an unreachable server
is an answer (`Unreachable`), never a hang.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported where used: a run that never connects skips its ~9 MB
    import psycopg

CONNECT_TIMEOUT = 3


class Unreachable(Exception):
    """The server did not accept a connection."""


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int
    user: str
    password: str
    dbname: str = "postgres"

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}"

    def conninfo(self, application_name: str = "orchestrator") -> str:
        import psycopg

        return psycopg.conninfo.make_conninfo(
            host=self.host,
            port=self.port,
            user=self.user,
            password=self.password,
            dbname=self.dbname,
            connect_timeout=CONNECT_TIMEOUT,
            application_name=application_name,
        )


@contextmanager
def connect(ep: Endpoint) -> Iterator[psycopg.Connection]:
    import psycopg

    try:
        conn = psycopg.connect(ep.conninfo(), autocommit=True)
    except psycopg.OperationalError as exc:
        raise Unreachable(f"{ep.where}: {str(exc).strip().splitlines()[-1]}") from exc
    try:
        yield conn
    finally:
        conn.close()


def lsn_int(text: str | None) -> int | None:
    """'16/B374D848' as a byte position (PostgreSQL's pg_lsn)."""
    if not text:
        return None
    hi, lo = str(text).split("/")
    return (int(hi, 16) << 32) | int(lo, 16)


def lsn_text(value: int) -> str:
    return f"{value >> 32:X}/{value & 0xFFFFFFFF:X}"


@dataclass(frozen=True)
class Role:
    in_recovery: bool
    read_only: bool  # default_transaction_read_only: writes refused even off recovery
    timeline: int
    system_identifier: str

    @property
    def writable(self) -> bool:
        return not self.in_recovery and not self.read_only


def role(ep: Endpoint) -> Role:
    with connect(ep) as conn:
        row = conn.execute(
            "SELECT pg_is_in_recovery(), current_setting('default_transaction_read_only') = 'on',"
            " (SELECT timeline_id FROM pg_control_checkpoint()),"
            " (SELECT system_identifier::text FROM pg_control_system())"
        ).fetchone()
    assert row is not None
    return Role(bool(row[0]), bool(row[1]), int(row[2]), str(row[3]))


def accepts_writes(ep: Endpoint) -> tuple[bool, str]:
    """A real write that leaves nothing behind: a temporary table in a rolled-back transaction."""
    import psycopg

    try:
        with connect(ep) as conn, conn.transaction(force_rollback=True):
            conn.execute("CREATE TEMP TABLE orchestrator_write_probe (x int)")
    except Unreachable as exc:
        return False, f"unreachable ({exc})"
    except psycopg.Error as exc:
        return False, str(exc).strip().splitlines()[0]
    return True, "accepts writes"


def current_lsn(ep: Endpoint) -> int:
    with connect(ep) as conn:
        row = conn.execute("SELECT pg_current_wal_lsn()::text").fetchone()
    assert row is not None
    return lsn_int(row[0]) or 0


@dataclass(frozen=True)
class StandbyState:
    """A standby's replication, read on the standby itself."""

    receive_lsn: int | None
    replay_lsn: int | None
    receiver_status: str | None  # 'streaming' when the WAL receiver is connected
    sender: str | None  # host:port the receiver streams from
    replay_paused: bool
    last_replay_age_s: float | None  # seconds since the last replayed transaction's commit

    @property
    def receiver_up(self) -> bool:
        return self.receiver_status == "streaming"


def standby_state(ep: Endpoint) -> StandbyState:
    with connect(ep) as conn:
        row = conn.execute(
            "SELECT pg_last_wal_receive_lsn()::text, pg_last_wal_replay_lsn()::text,"
            " (SELECT status FROM pg_stat_wal_receiver),"
            " (SELECT sender_host || ':' || sender_port FROM pg_stat_wal_receiver),"
            " pg_is_wal_replay_paused(),"
            " extract(epoch FROM now() - pg_last_xact_replay_timestamp())::float8"
        ).fetchone()
    assert row is not None
    return StandbyState(lsn_int(row[0]), lsn_int(row[1]), row[2], row[3], bool(row[4]), row[5])


def promote(ep: Endpoint, wait_seconds: int = 60) -> None:
    with connect(ep) as conn:
        row = conn.execute("SELECT pg_promote(true, %s)", (wait_seconds,)).fetchone()
    if not row or not row[0]:
        raise RuntimeError(f"{ep.where} did not finish promotion within {wait_seconds}s")
