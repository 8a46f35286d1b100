"""Pulumi dynamic provider: one side of a database pair and whether it is the primary.

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
from typing import TYPE_CHECKING, Any

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, ReadResult, Resource, ResourceProvider, UpdateResult

if TYPE_CHECKING:
    from orchestrator.ports.local_environment import PrimaryActuator

MODE_ENV = "ORCHESTRATOR_DATABASE_MODE"
RESOURCE_PREFIX = "db-"


def resource_name(pair: str, group: str) -> str:
    return f"{RESOURCE_PREFIX}{pair}-{group}"


def _mode() -> str:
    return os.environ.get(MODE_ENV, "planned")


def _pair(props: dict[str, Any]) -> PrimaryActuator:
    # Imported here, in the plugin process: the dynamic provider is pickled by value.
    from orchestrator.adapters.local import local_environment

    return local_environment().primary_actuator(str(props["databasePair"]))


def _fenced() -> None:
    from orchestrator.adapters.lease import check_fence_from_env

    check_fence_from_env()


def converge(props: dict[str, Any]) -> dict[str, Any]:
    """converge(), with the whole explanation (what, why, fix) in the engine's error message."""
    from orchestrator.domain.errors import OrchestratorError

    try:
        return _converge(props)
    except OrchestratorError as exc:
        raise RuntimeError(exc.render()) from exc


def _converge(props: dict[str, Any]) -> dict[str, Any]:
    """Make the live role what `primary` says; returns the outputs (token: "" unless demoted now)."""
    pair, group = _pair(props), str(props["group"])
    outs = dict(props, demotionToken="")
    failover = _mode() == "failover"
    if props["primary"]:
        if not pair.is_primary(group):
            _fenced()
            if failover:
                pair.failover_promote(group)
            else:
                pair.promote(group, [str(t) for t in props.get("promotionTokens") or [] if t])
        return outs
    _fenced()
    if failover:
        pair.fence(group, str(props["primaryGroup"]))
    else:
        outs["demotionToken"] = pair.demote(group, str(props["primaryGroup"]))
    return outs


class DatabasePrimaryProvider(ResourceProvider):
    def create(self, props: dict[str, Any]) -> CreateResult:
        outs = converge(props)
        return CreateResult(id_=f"{props['databasePair']}/{props['group']}", outs=outs)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        replaces = [k for k in ("databasePair", "group") if olds.get(k) != news.get(k)]
        changes = [k for k in ("primary", "primaryGroup", "settings") if olds.get(k) != news.get(k)]
        return DiffResult(changes=bool(changes or replaces), replaces=replaces)

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        outs = converge(news)
        if not outs.get("demotionToken"):
            outs["demotionToken"] = olds.get("demotionToken", "")
        return UpdateResult(outs=outs)

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        live = _pair(props).is_primary(str(props["group"])) if props else None
        if live is None:  # unreachable: keep what the state says (a failover must still plan)
            return ReadResult(id_=id_, outs=props)
        return ReadResult(id_=id_, outs=dict(props, primary=live))

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        """Leaving the topology stops managing the pair; the databases stay as they are."""


class DatabasePrimary(Resource):
    demotionToken: pulumi.Output[str]  # noqa: N815 (the output's name)

    def __init__(
        self,
        resource_name: str,
        *,
        pair: str,
        group: str,
        primary: bool,
        primary_group: str,
        promotion_tokens: list[Any],
        settings: dict[str, Any],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(
            DatabasePrimaryProvider(),
            resource_name,
            {
                "databasePair": pair,
                "group": group,
                "primary": primary,
                "primaryGroup": primary_group,
                "promotionTokens": promotion_tokens,
                "settings": dict(settings),
                "demotionToken": None,
            },
            opts,
        )
