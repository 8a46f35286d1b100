"""Moves a stack deployed by the previous version (dynamic providers) to the typed resources.

The previous version kept every record set and database side as a Pulumi dynamic resource
(`pulumi-python:dynamic:Resource`) with its pickled provider in the state. Refreshing such a
resource needs that pickled code's module (`orchestrator.providers.dynamic`), which no
longer exists, and every `up` refreshes first. So the state is rewritten once, offline:
each such resource gets its new type and URN (same logical name, same id), the project's
default provider, and loses the pickled provider; references (dependencies, parents) follow.
Nothing is written to a DNS server; the next `up` finds every record set as it is
(docs/engine.md, "Upgrading a stack").

    python -m orchestrator.adapters.pulumi.provider.upgrade [--stack local]
"""

from __future__ import annotations

import argparse
import copy
import sys
import uuid
from typing import Any

from pulumi import automation as auto

from orchestrator.adapters.files.paths import project_root
from orchestrator.adapters.pulumi.provider import DYNAMIC_TYPE, PACKAGE, PRIMARY_TYPE, RECORD_SET_TYPE
from orchestrator.adapters.pulumi.provider.values import DYNAMIC_KEYS
from orchestrator.adapters.pulumi.stack import ProjectStack
from orchestrator.domain.errors import ConflictError, OrchestratorError

PROVIDER_TYPE = f"pulumi:providers:{PACKAGE}"
DYNAMIC_PROVIDER_TYPE = "pulumi:providers:pulumi-python"


def _new_type(res: dict[str, Any]) -> str | None:
    if res.get("type") != DYNAMIC_TYPE:
        return None
    inputs = res.get("inputs") or {}
    if {"databasePair", "group", "primary"} <= inputs.keys():
        return PRIMARY_TYPE
    if {"zone", "name", "type", "values"} <= inputs.keys():
        return RECORD_SET_TYPE
    return None  # another program's dynamic resource: not ours to move


def _retype(urn: str, old: str, new: str) -> str:
    head, sep, name = urn.rpartition("::")
    assert head.endswith(old), urn
    return head[: -len(old)] + new + sep + name


def upgrade_deployment(deployment: dict[str, Any]) -> tuple[dict[str, Any], int]:
    """(the rewritten deployment, how many resources moved); the input is not modified."""
    doc = copy.deepcopy(deployment)
    if doc.get("pending_operations"):
        raise ConflictError(
            "the stack has interrupted operations, so its state cannot be upgraded yet",
            "an update was killed in the middle; its pending operations must be settled first",
            "finish it with the previous version (`orchestrator switch --resume` or `orchestrator up`), "
            "then upgrade",
        )
    resources: list[dict[str, Any]] = doc.get("resources") or []
    moved: dict[str, str] = {}
    for res in resources:
        new_type = _new_type(res)
        if new_type is not None:
            moved[res["urn"]] = _retype(res["urn"], DYNAMIC_TYPE, new_type)
    if not moved:
        return doc, 0

    provider_ref = ""
    for res in resources:
        if res.get("type") == PROVIDER_TYPE and res["urn"].endswith("::default"):
            provider_ref = f"{res['urn']}::{res['id']}"
    new_resources: list[dict[str, Any]] = []
    for res in resources:
        if res["urn"] in moved and not provider_ref:
            # The project's default provider, registered before its first resource.
            stack_prefix = res["urn"].split("::", 2)
            urn = f"{stack_prefix[0]}::{stack_prefix[1]}::{PROVIDER_TYPE}::default"
            provider = {"urn": urn, "custom": True, "id": str(uuid.uuid4()), "type": PROVIDER_TYPE}
            provider.update(inputs={}, outputs={})
            new_resources.append(provider)
            provider_ref = f"{urn}::{provider['id']}"
        if res["urn"] in moved:
            res["type"] = _new_type(res)
            res["urn"] = moved[res["urn"]]
            res["provider"] = provider_ref
            for key in ("inputs", "outputs", "propertyDependencies"):
                for dynamic in DYNAMIC_KEYS:
                    (res.get(key) or {}).pop(dynamic, None)
        new_resources.append(res)

    def follow(urn: str) -> str:
        return moved.get(urn, urn)

    for res in new_resources:
        if "parent" in res:
            res["parent"] = follow(res["parent"])
        res["dependencies"] = [follow(u) for u in res.get("dependencies") or []]
        for key, urns in (res.get("propertyDependencies") or {}).items():
            res["propertyDependencies"][key] = [follow(u) for u in urns]
        if "deletedWith" in res:
            res["deletedWith"] = follow(res["deletedWith"])
    # The dynamic-provider plugin's default provider goes when nothing uses it any more.
    used = {str(r.get("provider", "")).rsplit("::", 1)[0] for r in new_resources}
    doc["resources"] = [
        r for r in new_resources if r.get("type") != DYNAMIC_PROVIDER_TYPE or r["urn"] in used
    ]
    return doc, len(moved)


def upgrade_stack(stack: auto.Stack) -> int:
    """Exports, rewrites and imports a stack; how many resources moved."""
    exported = stack.export_stack()
    doc, count = upgrade_deployment(exported.deployment or {})
    if count:
        stack.import_stack(auto.Deployment(version=exported.version, deployment=doc))
    return count


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stack", "-s", default="local")
    args = parser.parse_args(argv)
    try:
        count = upgrade_stack(ProjectStack(project_root(), args.stack).stack())
    except OrchestratorError as exc:
        print(exc.render(), file=sys.stderr)
        return exc.exit_code
    if count:
        print(f"stack '{args.stack}': {count} resources moved to the {PACKAGE} provider; no DNS change")
    else:
        print(f"stack '{args.stack}': nothing to upgrade")
    return 0


if __name__ == "__main__":
    sys.exit(main())
