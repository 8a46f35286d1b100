"""The database Primary resource's behaviour: one side of a database pair and whether it is
the primary. Served by the project's provider plugin (provider/server.py) as
`orchestrator:database:Primary`; declared by the program with provider.resources.Primary.

Inputs: `databasePair`, `group`, `primary` (the contract the policy pack reads),
`primaryGroup` (whom a demoted side follows), `promotionTokens` (the peers' demotion tokens,
wired from their outputs so that a promotion is ordered after the demotion it needs) and
`settings` (where the cluster is; `server: dev` for the local pair). Output `demotionToken`:
the token of this side's latest controlled demotion.

Only `primary` is a change: a new token alone changes nothing. Reading (refresh) reports
the live role, so a primary moved behind the stack's back shows up as drift. The switch
runs the demote and promote steps as targeted updates, and says whether this is a
failover in ORCHESTRATOR_DATABASE_MODE.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from orchestrator.adapters.lease import check_fence_from_env
from orchestrator.adapters.local import local_environment
from orchestrator.domain.errors import OrchestratorError
from orchestrator.ports.local_environment import PrimaryActuator

MODE_ENV = "ORCHESTRATOR_DATABASE_MODE"
RESOURCE_PREFIX = "db-"


def resource_name(pair: str, group: str) -> str:
    return f"{RESOURCE_PREFIX}{pair}-{group}"


def _mode(environ: Mapping[str, str] | None) -> str:
    return (os.environ if environ is None else environ).get(MODE_ENV, "planned")


def _pair(props: dict[str, Any]) -> PrimaryActuator:
    return local_environment().primary_actuator(str(props["databasePair"]))


def converge(props: dict[str, Any], environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """converge(), with the whole explanation (what, why, fix) in the engine's error message.
    `environ`: the engine run's environment (the lease fence, the mode); None: this process's."""
    try:
        return _converge(props, environ)
    except OrchestratorError as exc:
        raise RuntimeError(exc.render()) from exc


def _converge(props: dict[str, Any], environ: Mapping[str, str] | None) -> dict[str, Any]:
    """Make the live role what `primary` says; returns the outputs (token: "" unless demoted now)."""
    pair, group = _pair(props), str(props["group"])
    outs = dict(props, demotionToken="")
    failover = _mode(environ) == "failover"
    if props["primary"]:
        if not pair.is_primary(group):
            check_fence_from_env(environ)
            if failover:
                pair.failover_promote(group)
            else:
                pair.promote(group, [str(t) for t in props.get("promotionTokens") or [] if t])
        return outs
    check_fence_from_env(environ)
    if failover:
        pair.fence(group, str(props["primaryGroup"]))
    else:
        outs["demotionToken"] = pair.demote(group, str(props["primaryGroup"]))
    return outs


def plan_diff(olds: dict[str, Any], news: dict[str, Any]) -> tuple[list[str], list[str]]:
    """(changed keys, keys that force a replacement): only `primary` moves a database."""
    replaces = [k for k in ("databasePair", "group") if olds.get(k) != news.get(k)]
    changes = [k for k in ("primary", "primaryGroup", "settings") if olds.get(k) != news.get(k)]
    return changes + replaces, replaces


def update(
    olds: dict[str, Any], news: dict[str, Any], environ: Mapping[str, str] | None = None
) -> dict[str, Any]:
    outs = converge(news, environ)
    if not outs.get("demotionToken"):
        outs["demotionToken"] = olds.get("demotionToken", "")
    return outs


def read(props: dict[str, Any]) -> dict[str, Any]:
    """The live role; an unreachable pair keeps what the state says (a failover must still plan)."""
    live = _pair(props).is_primary(str(props["group"])) if props else None
    if live is None:
        return props
    return dict(props, primary=live)


def record_id(props: dict[str, Any]) -> str:
    return f"{props['databasePair']}/{props['group']}"
