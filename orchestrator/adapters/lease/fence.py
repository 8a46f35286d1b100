"""Fencing across processes: the switch hands its lease to the writers that Pulumi starts.

The writes of a switch happen in another process (the Pulumi dynamic-provider plugin), so
the switch puts the lease configuration and its (holder, epoch) into the environment
(ORCHESTRATOR_FENCE, JSON, no secrets) and each writer calls check_fence_from_env() right
before it writes: it rebuilds the lease from the configuration and runs check(), which asks
the lease servers whether that holder still holds that epoch. A switch whose lease expired
or was taken over therefore stops before its next write (invariant 4).

One check vouches for the writes of this process that start within FENCE_REUSE seconds of
it, and demands that the lease hold for FENCE_MARGIN + FENCE_REUSE more: so, as with a
check per write, no write starts in the lease's last FENCE_MARGIN seconds. Why: the
provider writes in batches, hundreds per second in a large switch, and a quorum check
(three DNS queries) per batch cost more than the writes (about 23 ms each, 11 s of a
300-hostname flip). A lease is only taken over after it expires, or on the same host once
its holder's process is dead (docs/lease.md); a record overwritten by hand is seen by the
writes that start FENCE_REUSE later.

Without ORCHESTRATOR_FENCE (a plain `orchestrator up`, no lease) the check does nothing.
"""

from __future__ import annotations

import json
import math
import os
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from orchestrator.adapters.lease.base import Lease, LeaseLost, LeaseRecord, LeaseUnavailable
from orchestrator.adapters.lease.factory import (
    SERVER_KEYS,
    TOP_KEYS,
    dev_state_dir,
    is_dev,
    lease_from_config,
)
from orchestrator.domain.errors import UsageError

FENCE_ENV = "ORCHESTRATOR_FENCE"
FENCE_VERSION = 1
# A write must not start in the lease's last seconds: it could finish after another switch
# took over. The keeper renews every 10 s for 30 s, so a held lease has about 20 s left.
FENCE_MARGIN = 2.0
# How long one successful check vouches for the writes that start after it (see above).
FENCE_REUSE = 1.0

# Per fence (the environment value): the lease built from it and until when (monotonic
# clock) the last check vouches. The lock makes concurrent writers share one check.
_checked: dict[str, tuple[Lease, float]] = {}
_checking = threading.Lock()


def fence_env(lease_cfg: Mapping[str, Any], record: LeaseRecord) -> dict[str, str]:
    """The environment variables a writer process needs to check the fence (no secrets).

    Only known, non-secret settings are copied; a `dev` lease gets its state directory made
    explicit, so that a writer started elsewhere finds the same local environment.
    """
    cfg = {k: v for k, v in lease_cfg.items() if k in TOP_KEYS}
    if isinstance(cfg.get("servers"), list):
        cfg["servers"] = [{k: v for k, v in s.items() if k in SERVER_KEYS} for s in cfg["servers"]]
    if is_dev(cfg):
        cfg["stateDir"] = str(dev_state_dir(cfg).resolve())
    payload = {"version": FENCE_VERSION, "lease": cfg, "holder": record.holder, "epoch": record.epoch}
    return {FENCE_ENV: json.dumps(payload, sort_keys=True, separators=(",", ":"))}


def check_fence_from_env(
    environ: Mapping[str, str] | None = None, clock: Callable[[], float] = time.monotonic
) -> None:
    """Before a write: LeaseLost (write refused) unless the fence's lease is still held."""
    raw = (os.environ if environ is None else environ).get(FENCE_ENV)
    if not raw:
        return
    with _checking:
        lease, until = _checked.get(raw, (None, 0.0))
        started = clock()
        if started < until:
            return  # a check made less than FENCE_REUSE ago vouches for this write
        cfg, holder, epoch = _parse(raw)
        lease = lease or lease_from_config(cfg)
        _check(lease, holder, epoch)  # raises: the expired entry goes on vouching for nothing
        _checked[raw] = (lease, started + FENCE_REUSE)


def _check(lease: Lease, holder: str, epoch: int) -> None:
    record = LeaseRecord(holder=holder, epoch=epoch, expires_at=math.inf, acquired_at=0.0)
    try:
        lease.check(record, margin=FENCE_MARGIN + FENCE_REUSE)
    except LeaseLost as exc:
        raise LeaseLost(
            f"write refused: the lease of {holder} (epoch {epoch}) is gone",
            exc.why,
            "this switch no longer holds the lease, so it must not change the zones: let it stop, "
            "find who holds the lease now (named above), then resume or roll back this switch "
            "when the lease is free",
            current=exc.current,
        ) from exc
    except LeaseUnavailable as exc:
        raise LeaseUnavailable(
            f"write refused: the lease of {holder} (epoch {epoch}) cannot be checked",
            f"{exc.what}; {exc.why}" if exc.why else exc.what,
            exc.fix,
            failed=exc.failed,
        ) from exc


def _parse(raw: str) -> tuple[dict[str, Any], str, int]:
    try:
        payload = json.loads(raw)
        cfg, holder, epoch = payload["lease"], payload["holder"], payload["epoch"]
        if not isinstance(cfg, dict) or not isinstance(holder, str) or not isinstance(epoch, int):
            raise TypeError("lease must be an object, holder a string, epoch an integer")
    except (ValueError, KeyError, TypeError) as exc:
        raise UsageError(
            f"write refused: {FENCE_ENV} is not a valid fence",
            f"{type(exc).__name__}: {exc}",
            f"{FENCE_ENV} is set by the switch (fence_env); do not set it by hand",
        ) from exc
    return cfg, holder, epoch
