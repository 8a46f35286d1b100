"""The local database pair's switchover: demote with a token, promote past it, fence on failover.

This is the contract CloudNativePG implements for real clusters (cnpg.py), done with the
dev environment's PostgreSQL instances:

- demote: fast shutdown of the primary (clients are cut, the shutdown checkpoint is written
  and every WAL byte is handed to the standbys before it exits), read that checkpoint's LSN
  as the token, restart the instance as a standby of the group being promoted;
- promote: wait until the standby has replayed past the token, then pg_promote(); the old
  primary follows the new timeline (recovery_target_timeline=latest), no rewind needed;
- failover (--failover, old primary lost): fence the old primary (standby.signal, no upstream,
  a marker) so that it never accepts writes again until rebuilt, and promote without a token.

Each operation is idempotent: a resumed switch runs it again and it finds the work done.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from orchestrator.adapters.postgres import pg
from orchestrator.adapters.postgres.token import DemotionToken, TokenError, newest
from orchestrator.devenv import postgres
from orchestrator.devenv.binaries import postgres_bindir
from orchestrator.devenv.env import DevEnv
from orchestrator.domain.errors import ConflictError, EnvironmentProblem

CATCH_UP_TIMEOUT = 120.0


@dataclass
class LocalPair:
    pair: str
    env: DevEnv
    catch_up_timeout: float = CATCH_UP_TIMEOUT
    sleep: Callable[[float], None] = time.sleep

    @property
    def state_dir(self) -> Path:
        return self.env.state_dir

    def endpoint(self, group: str) -> pg.Endpoint:
        return self.env.postgres_endpoint(group)

    def is_primary(self, group: str) -> bool | None:
        """Live: writable primary (True), standby (False), unreachable (None)."""
        try:
            return not pg.role(self.endpoint(group)).in_recovery
        except pg.Unreachable:
            return None

    # -- controlled switchover ----------------------------------------------------------------

    def demote(self, group: str, new_primary: str) -> str:
        """Stop writes on `group`, return its final position as a token; it rejoins as a standby."""
        saved = postgres.token_file(self.state_dir, group)
        try:
            role = pg.role(self.endpoint(group))
        except pg.Unreachable as exc:
            raise EnvironmentProblem(
                f"database pair {self.pair}: the primary in {group} does not answer ({exc})",
                "a controlled switchover needs the old primary to hand over its final WAL position",
                f"start it (`orchestrator dev up`) and resume, or if it is lost: "
                f"`orchestrator switch --to {new_primary} --failover`",
            ) from exc
        if not role.in_recovery:
            self._check_promotable(new_primary)
        if role.in_recovery:  # already demoted (a resumed switch), or never was the primary
            if postgres.upstream(self.state_dir, group) != new_primary and not postgres.is_fenced(
                self.state_dir, group
            ):
                self._follow(group, new_primary)
            return saved.read_text().strip() if saved.exists() else ""
        self.env.stop_postgres(group)  # fast shutdown: the standbys receive everything first
        lsn, timeline, system = postgres.checkpoint_of(postgres_bindir(), self.state_dir, group)
        token = DemotionToken(group, lsn, timeline, system).encode()
        saved.write_text(token + "\n")
        postgres.become_standby(self.state_dir, group, new_primary)
        self.env.start_postgres(group)
        return token

    def _check_promotable(self, group: str) -> None:
        """Before the primary steps down: the standby that takes over must be able to. Otherwise
        the pair would be left with no primary at all."""
        if postgres.is_fenced(self.state_dir, group):
            raise ConflictError(
                f"database pair {self.pair}: {group} is fenced (a failover left it behind); the primary "
                "was not demoted",
                "a fenced instance is never promoted",
                f"rebuild it as a standby: `orchestrator dev rebuild-standby {group}`, then switch again",
            )
        try:
            pg.role(self.endpoint(group))
        except pg.Unreachable as exc:
            raise EnvironmentProblem(
                f"database pair {self.pair}: the standby in {group} does not answer ({exc}); the primary "
                "was not demoted",
                "demoting now would leave the pair without a primary",
                "start it (`orchestrator dev up`), then `orchestrator switch --resume`",
            ) from exc

    def promote(self, group: str, tokens: list[str]) -> None:
        """Promote `group` once it has replayed past the newest demotion token of its peers."""
        if postgres.is_fenced(self.state_dir, group):
            raise ConflictError(
                f"database pair {self.pair}: {group} is fenced (a failover left it behind)",
                "a fenced instance may have writes the new primary never received; it is never promoted",
                f"rebuild it as a standby: `orchestrator dev rebuild-standby {group}`, then switch again",
            )
        ep = self.endpoint(group)
        role = pg.role(ep)
        if not role.in_recovery:
            return  # already the primary
        try:
            token = newest(tokens, role.system_identifier)
        except TokenError as exc:
            raise ConflictError(
                f"database pair {self.pair}: the promotion token of {group} is unreadable",
                str(exc),
                "resume the switch (the demote step hands over a new token)",
            ) from exc
        if token is None:
            raise ConflictError(
                f"database pair {self.pair}: no demotion token to promote {group} with",
                "promoting a standby without the old primary's final position is a failover: "
                "writes it had not shipped would be lost",
                "demote the old primary first (a planned switch does), or use --failover if it is lost",
            )
        self._wait_replayed(group, ep, token)
        pg.promote(ep)
        postgres.upstream_file(self.state_dir, group).unlink(missing_ok=True)

    def _wait_replayed(self, group: str, ep: pg.Endpoint, token: DemotionToken) -> None:
        deadline = time.monotonic() + self.catch_up_timeout
        while True:
            state = pg.standby_state(ep)
            if (state.replay_lsn or 0) > token.position:
                return
            if time.monotonic() >= deadline:
                behind = token.position - (state.replay_lsn or 0)
                raise EnvironmentProblem(
                    f"database pair {self.pair}: {group} has not replayed past the demotion token "
                    f"within {self.catch_up_timeout:.0f}s ({behind} bytes behind"
                    f"{', replay paused' if state.replay_paused else ''}"
                    f"{', WAL receiver down' if not state.receiver_up else ''})",
                    f"promoting now would lose writes {token.group} committed before it stepped down",
                    "resume replay (`SELECT pg_wal_replay_resume()`) or fix replication, then "
                    "`orchestrator switch --resume`",
                )
            self.sleep(0.1)

    def _follow(self, group: str, upstream: str) -> None:
        """Point a standby at another upstream (restart: primary_conninfo needs one in PG 15)."""
        self.env.stop_postgres(group)
        postgres.become_standby(self.state_dir, group, upstream)
        self.env.start_postgres(group)

    # -- failover -------------------------------------------------------------------------------

    def fence(self, group: str, new_primary: str) -> None:
        """The old primary must never accept writes again: stop it if it runs, fence its data."""
        if postgres.is_fenced(self.state_dir, group) or (
            postgres.is_standby(self.state_dir, group)
            and postgres.upstream(self.state_dir, group) == new_primary
        ):
            return
        was_running = self.env.postgres_running(group)
        self.env.stop_postgres(group)
        postgres.fence(
            self.state_dir,
            group,
            f"fenced by a failover to {new_primary} at {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}; "
            f"rebuild with `orchestrator dev rebuild-standby {group}`",
        )
        if was_running:
            self.env.start_postgres(group)  # read-only: a standby of nobody

    def failover_promote(self, group: str) -> None:
        ep = self.endpoint(group)
        if pg.role(ep).in_recovery:
            pg.promote(ep)
        postgres.upstream_file(self.state_dir, group).unlink(missing_ok=True)
