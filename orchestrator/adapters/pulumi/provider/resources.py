"""The program's side of the provider: one Python class per resource type.

Each resource is served by the project's plugin (`pulumi-resource-orchestrator`, found
beside the Pulumi CLI), so its state holds only its own inputs and outputs. The alias from
the dynamic-provider type of the previous version keeps the logical names: an existing
stack moves to the new types without a replacement (docs/engine.md, "Upgrading").
"""

from __future__ import annotations

from typing import Any

import pulumi

from orchestrator.adapters.pulumi.provider import DYNAMIC_TYPE, PRIMARY_TYPE, RECORD_SET_TYPE


def _with_upgrade_alias(opts: pulumi.ResourceOptions | None) -> pulumi.ResourceOptions:
    alias = pulumi.ResourceOptions(aliases=[pulumi.Alias(type_=DYNAMIC_TYPE)])
    return pulumi.ResourceOptions.merge(opts, alias) if opts else alias


class RecordSet(pulumi.CustomResource):
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
        props = {
            "backend": backend,
            "zone": zone,
            "name": name,
            "type": type,
            "ttl": ttl,
            "values": list(values),
            "settings": dict(settings),
        }
        super().__init__(RECORD_SET_TYPE, resource_name, props, _with_upgrade_alias(opts))


class Primary(pulumi.CustomResource):
    """One side of a database pair and whether it is the primary (behaviour: ../database.py)."""

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
        props = {
            "databasePair": pair,
            "group": group,
            "primary": primary,
            "primaryGroup": primary_group,
            "promotionTokens": promotion_tokens,
            "settings": dict(settings),
            "demotionToken": None,
        }
        super().__init__(PRIMARY_TYPE, resource_name, props, _with_upgrade_alias(opts))
