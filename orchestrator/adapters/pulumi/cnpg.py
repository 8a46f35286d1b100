"""A CloudNativePG pair's primary, moved as pulumi_kubernetes resources: the production path.

CNPG (>= 1.24) runs a pair as a "distributed topology": each `Cluster` carries
`spec.replica = {self, primary, source}` and is the primary exactly when `primary` names
itself. A controlled switchover is two edits (CNPG docs, replica_cluster.md):

1. demote: on the current primary, set `primary` to the other cluster. CNPG shuts it down,
   archives the last WAL and publishes `status.demotionToken`;
2. promote: on the other cluster, set `primary` to itself AND `promotionToken` to that token,
   in one edit. CNPG then waits until it has replayed up to the token's LSN: no data loss,
   and the old primary follows as a replica without a rebuild.

A promotion without the token is a failover: allowed only in mode "failover", where the old
primary is assumed unreachable and must be rebuilt when it returns.

Each side is one server-side-apply patch of the existing Cluster, named `db-<pair>-<group>`
whatever its role, so a switch back is an update of the same two resources, never a
create/delete. Nothing here talks to Kubernetes; tests/unit/test_cnpg.py runs it on Pulumi
mocks. docs/databases.md ("Production: CloudNativePG") explains the choices.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
from pulumi_kubernetes.apiextensions import CustomResourcePatch

from orchestrator.domain.databases import MODES, DatabaseCluster, DatabasePair

API_VERSION = "postgresql.cnpg.io/v1"
KIND = "Cluster"
# The type token CustomResourcePatch registers (f"kubernetes:{api_version}:{kind}Patch"),
# which the policy pack must match.
PATCH_TYPE = f"kubernetes:{API_VERSION}:{KIND}Patch"
PAIR_LABEL = "orchestrator/database-pair"
GROUP_LABEL = "orchestrator/group"

WAIT_FOR = "pulumi.com/waitFor"
# No value after the path: ready as soon as the field exists (pulumi-kubernetes >= 4.18).
# Not fooled by an old token: CNPG clears status.demotionToken while a cluster is primary.
WAIT_FOR_DEMOTION_TOKEN = "jsonpath={.status.demotionToken}"
PATCH_FORCE = "pulumi.com/patchForce"
PATCH_FIELD_MANAGER = "pulumi.com/patchFieldManager"
# One field manager for every patch (not pulumi-kubernetes' random one per resource): a
# re-created patch still owns what the last one applied, so a field it stops sending (the
# promotionToken of a primary being demoted) is removed by the API server. CNPG refuses a
# promotionToken on a cluster that is not the primary.
FIELD_MANAGER = "orchestrator"
# A demotion that never publishes its token fails the update (and so never promotes)
# instead of holding the lease forever.
DEMOTION_TIMEOUT = "10m"


class ClusterPatch(CustomResourcePatch):
    """A server-side-apply patch of a CNPG Cluster whose live `status` is readable.

    pulumi_kubernetes' Python CustomResourcePatch registers only apiVersion, kind, metadata
    and spec, and the SDK drops every output it has no property for
    (pulumi/pulumi-kubernetes#1836): a transformation adds `status` as an output-only
    property (None is never sent to the provider).
    """

    status: pulumi.Output[Any]

    def __init__(
        self,
        resource_name: str,
        *,
        metadata: Mapping[str, Any],
        spec: Mapping[str, Any],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        opts = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(transformations=[_with_status]))
        super().__init__(
            resource_name, api_version=API_VERSION, kind=KIND, metadata=metadata, spec=spec, opts=opts
        )


def _with_status(args: pulumi.ResourceTransformationArgs) -> pulumi.ResourceTransformationResult:
    return pulumi.ResourceTransformationResult({**args.props, "status": None}, args.opts)


def cnpg_primary_resources(
    pair: DatabasePair,
    primary: str,
    mode: str = "planned",
    *,
    providers: dict[str, k8s.Provider] | None = None,
) -> dict[str, pulumi.Resource]:
    """Declares the move of `pair`'s primary to the cluster of group `primary`.

    Returns the declared resources by logical name: the kube providers it uses (`k8s-<context>`)
    and one ClusterPatch per declared cluster (`db-<pair>-<group>`). `providers` is a cache
    keyed by context: pass one dict for all pairs of a program, since one context is one
    provider per stack (a second `k8s-<context>` would be a duplicate URN).

    planned: the other cluster is demoted, waits for its demotion token, and the token flows
      as an Output into the promotion, which therefore runs only after the demotion finished.
    failover: only the promotion is declared, without a token and without depending on the old
      primary (it is unreachable; a patch of it would fail or wait out its timeout).

    Re-declaring an unchanged move is a no-op (no diff, the token comes from the state). A
    first declaration whose "demoted" cluster was never demoted (e.g. bootstrapped as a
    replica) waits for a token CNPG never publishes: the update fails after DEMOTION_TIMEOUT
    and nothing is promoted.
    """
    promoted, demoted = _sides(pair, primary, mode)
    cache: dict[str, k8s.Provider] = {} if providers is None else providers
    out: dict[str, pulumi.Resource] = {}

    def options(cluster: DatabaseCluster, **kwargs: Any) -> pulumi.ResourceOptions:
        # retain_on_delete: deleting a patch would give up its fields, and a Cluster without
        # spec.replica is a standalone primary (split brain). A patch that leaves the program
        # (failover, a pair removed from config) must only leave the state, never edit the cluster.
        return pulumi.ResourceOptions(
            provider=_provider(cluster, cache, out), retain_on_delete=True, **kwargs
        )

    promote_replica: dict[str, Any] = {
        "self": _name(promoted),
        "primary": _name(promoted),
        "source": _name(demoted),
    }
    depends_on: list[pulumi.Resource] = []
    if mode == "planned":
        demote = ClusterPatch(
            _resource_name(pair, demoted),
            metadata=_metadata(pair, demoted, {WAIT_FOR: WAIT_FOR_DEMOTION_TOKEN}),
            spec={"replica": {"self": _name(demoted), "primary": _name(promoted), "source": _name(promoted)}},
            opts=options(
                demoted,
                custom_timeouts=pulumi.CustomTimeouts(create=DEMOTION_TIMEOUT, update=DEMOTION_TIMEOUT),
            ),
        )
        out[_resource_name(pair, demoted)] = demote
        label = demoted.label
        promote_replica["promotionToken"] = demote.status.apply(lambda status: _demotion_token(label, status))
        depends_on = [demote]  # already implied by the token; explicit for readers and the engine
    out[_resource_name(pair, promoted)] = ClusterPatch(
        _resource_name(pair, promoted),
        metadata=_metadata(pair, promoted, {}),
        spec={"replica": promote_replica},
        opts=options(promoted, depends_on=depends_on),
    )
    return out


def _sides(pair: DatabasePair, primary: str, mode: str) -> tuple[DatabaseCluster, DatabaseCluster]:
    """(cluster to promote, cluster to demote), or ValueError for what CNPG cannot switch."""
    if mode not in MODES:
        raise ValueError(f"database pair {pair.name}: unknown mode {mode!r} (use one of: {', '.join(MODES)})")
    others = [c for c in pair.clusters if c.kind != "cnpg"]
    if others:
        raise ValueError(
            f"database pair {pair.name}: cluster of group {others[0].group} is kind {others[0].kind}, "
            "not cnpg; only CloudNativePG clusters are switched here"
        )
    if primary not in pair.groups:
        raise ValueError(
            f"database pair {pair.name}: no cluster in group {primary!r} (groups: {', '.join(pair.groups)})"
        )
    if len(pair.clusters) != 2:
        # The promotion needs the token of the one cluster being demoted; with three, this
        # function could not tell which of the others was the primary.
        raise ValueError(
            f"database pair {pair.name}: a CNPG switchover needs exactly two clusters, "
            f"got {len(pair.clusters)}"
        )
    promoted = pair.cluster(primary)
    (demoted,) = (c for c in pair.clusters if c is not promoted)
    if _name(promoted) == _name(demoted):
        # spec.replica.primary names a cluster: with equal names both would be primary.
        raise ValueError(
            f"database pair {pair.name}: both clusters are named {_name(promoted)!r}; "
            "CNPG tells them apart by name, give each its own"
        )
    return promoted, demoted


def _name(cluster: DatabaseCluster) -> str:
    return str(cluster.settings["name"])


def _resource_name(pair: DatabasePair, cluster: DatabaseCluster) -> str:
    return f"db-{pair.name}-{cluster.group}"


def _metadata(pair: DatabasePair, cluster: DatabaseCluster, annotations: Mapping[str, str]) -> dict[str, Any]:
    return {
        "name": _name(cluster),
        "namespace": str(cluster.settings["namespace"]),
        # What the policy pack reads to find the pair and group of a Cluster.
        "labels": {PAIR_LABEL: pair.name, GROUP_LABEL: cluster.group},
        # patchForce: the orchestrator owns spec.replica; whoever set it before (Helm, kubectl,
        # GitOps) would otherwise make the apply fail on a field conflict in the middle of a switch.
        "annotations": {PATCH_FORCE: "true", PATCH_FIELD_MANAGER: FIELD_MANAGER, **annotations},
    }


def _provider(
    cluster: DatabaseCluster, cache: dict[str, k8s.Provider], out: dict[str, pulumi.Resource]
) -> k8s.Provider | None:
    """The provider of the cluster's kube context; None (the default provider) without one."""
    context = cluster.settings.get("context")
    if not context:
        return None
    if context not in cache:
        # Patch resources require server-side apply: on by default, but set here so that
        # PULUMI_K8S_ENABLE_SERVER_SIDE_APPLY=false cannot turn it off.
        cache[context] = k8s.Provider(f"k8s-{context}", context=context, enable_server_side_apply=True)
    out[f"k8s-{context}"] = cache[context]
    return cache[context]


def _demotion_token(label: str, status: Any) -> str:
    # Never promote with a missing token: CNPG would take that as a failover and the old
    # primary would need a rebuild. Failing here stops the program before the promotion.
    token = status.get("demotionToken") if isinstance(status, Mapping) else None
    if not isinstance(token, str) or not token:
        raise RuntimeError(
            f"CNPG cluster {label} was demoted but published no status.demotionToken; "
            "refusing to promote without it (that would be a failover)"
        )
    return token
