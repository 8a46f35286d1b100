"""Pulumi dynamic providers: one DNS record set (zone, name, type) per resource.

The same provider serves PowerDNS (HTTP API) and RFC 2136 servers (BIND): the
`backend` input picks the client. Secrets never enter the inputs (see connections.py),
so state holds no credentials and a change of the local environment's ports is not a
change of the resource.
"""

from __future__ import annotations

from typing import Any

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, ReadResult, Resource, ResourceProvider, UpdateResult

from orchestrator.adapters.dns.registry import client_for
from orchestrator.domain.values import canonical

# Inputs whose change is a change of the record set's content.
CONTENT_KEYS = ("ttl", "values")
# Inputs that identify the record set: a change means another record set.
IDENTITY_KEYS = ("backend", "zone", "name", "type")


def record_id(props: dict[str, Any]) -> str:
    return f"{props['zone']}/{props['name']}/{props['type']}"


def plan_diff(olds: dict[str, Any], news: dict[str, Any]) -> tuple[list[str], list[str]]:
    """(changed keys, keys that force a replacement) — pure, unit-tested."""
    changes: list[str] = []
    for key in CONTENT_KEYS:
        old, new = olds.get(key), news.get(key)
        if key == "values" and olds.get("type") == news.get("type"):
            old = canonical(olds["type"], list(old or []))
            new = canonical(news["type"], list(new or []))
        if old != new:
            changes.append(key)
    replaces = [k for k in IDENTITY_KEYS if olds.get(k) != news.get(k)]
    if olds.get("settings") != news.get("settings"):
        changes.append("settings")  # where to reach the server: no DNS change by itself
    return changes + replaces, replaces


def _fenced() -> None:
    """Invariant 4: a writer whose lease is gone stops before it writes.

    A switch passes its lease (holder, epoch) to this process in ORCHESTRATOR_FENCE; the
    live lease is checked right before every write. Without it (plain `orchestrator up`)
    there is nothing to check.
    """
    from orchestrator.adapters.lease import check_fence_from_env

    check_fence_from_env()


class RecordSetProvider(ResourceProvider):
    def _client(self, props: dict[str, Any]):
        return client_for(props["backend"], props["zone"], props.get("settings") or {})

    def create(self, props: dict[str, Any]) -> CreateResult:
        client = self._client(props)
        _fenced()
        client.replace_rrset(props["zone"], props["name"], props["type"], int(props["ttl"]), props["values"])
        outs = dict(props, values=canonical(props["type"], props["values"]))
        return CreateResult(id_=record_id(props), outs=outs)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        changes, replaces = plan_diff(olds, news)
        return DiffResult(
            changes=bool(changes),
            replaces=replaces,
            stables=[k for k in IDENTITY_KEYS if k not in replaces],
            # The same (zone, name, type) must never be created before the old one is
            # deleted: the delete would remove the new content.
            delete_before_replace=True,
        )

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        changes, _ = plan_diff(olds, news)
        if set(changes) & set(CONTENT_KEYS):
            client = self._client(news)
            _fenced()
            client.replace_rrset(news["zone"], news["name"], news["type"], int(news["ttl"]), news["values"])
        return UpdateResult(outs=dict(news, values=canonical(news["type"], news["values"])))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        live = self._client(props).get_rrset(props["zone"], props["name"], props["type"])
        if live is None:
            return ReadResult(id_=None, outs={})
        ttl, values = live
        return ReadResult(id_=id_, outs=dict(props, ttl=ttl, values=values))

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        client = self._client(props)
        _fenced()
        client.delete_rrset(props["zone"], props["name"], props["type"])


class DnsRecordSet(Resource):
    """A record set on a PowerDNS or RFC 2136 server, replaced atomically on change."""

    values: pulumi.Output[list[str]]
    ttl: pulumi.Output[int]

    def __init__(
        self,
        resource_name: str,
        *,
        backend: str,
        zone: str,
        name: str,
        type: str,  # noqa: A002 (the DNS term)
        ttl: int,
        values: list[str],
        settings: dict[str, Any],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(
            RecordSetProvider(),
            resource_name,
            {
                "backend": backend,
                "zone": zone,
                "name": name,
                "type": type,
                "ttl": ttl,
                "values": list(values),
                "settings": dict(settings),
            },
            opts,
        )
