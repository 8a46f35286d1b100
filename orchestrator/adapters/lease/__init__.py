"""The lease (witness) that makes a switch exclusive, with a fencing epoch (docs/lease.md).

    lease = lease_from_config({"kind": "dns-quorum", "servers": "dev"})
    record = lease.acquire("alice@host:4242/switch-1a2b")      # LeaseCollision if held
    with LeaseKeeper(lease, record) as keeper:                  # renews every 10 s
        env = fence_env(cfg, keeper.record)                     # for the Pulumi plugin
        keeper.assert_held()                                    # before each step
    lease.release(keeper.record)

Writers in other processes call check_fence_from_env() before each write.
"""

from orchestrator.adapters.lease.base import (
    DEFAULT_TTL,
    Lease,
    LeaseCollision,
    LeaseLost,
    LeaseRecord,
    LeaseUnavailable,
    majority,
)
from orchestrator.adapters.lease.codec import decode, encode
from orchestrator.adapters.lease.dnslease import DEFAULT_NAME, DnsLease
from orchestrator.adapters.lease.factory import lease_from_config
from orchestrator.adapters.lease.fence import FENCE_ENV, FENCE_MARGIN, check_fence_from_env, fence_env
from orchestrator.adapters.lease.keeper import DEFAULT_INTERVAL, LeaseKeeper
from orchestrator.adapters.lease.quorum import QuorumLease

__all__ = [
    "DEFAULT_INTERVAL",
    "DEFAULT_NAME",
    "DEFAULT_TTL",
    "FENCE_ENV",
    "FENCE_MARGIN",
    "DnsLease",
    "Lease",
    "LeaseCollision",
    "LeaseKeeper",
    "LeaseLost",
    "LeaseRecord",
    "LeaseUnavailable",
    "QuorumLease",
    "check_fence_from_env",
    "decode",
    "encode",
    "fence_env",
    "lease_from_config",
    "majority",
]
