"""The steps of a switch, in order, with stable names and expected durations.

Expected durations are what the dry-run promises an operator before they confirm;
bench/bench_switch.py measures the real ones. Local figures: the engine's own overhead
(program run + refresh) dominates; cloud DNS adds API latency to flip and cleanup.
"""

from __future__ import annotations

ACQUIRE_LEASE = "acquire-lease"
PREFLIGHT = "preflight"
LOWER_TTL = "lower-ttl"
DEMOTE_PRIMARY = "demote-primary"
PROMOTE_PRIMARY = "promote-primary"
FLIP_DNS = "flip-dns"
CLEANUP_INACTIVE = "cleanup-inactive"
VERIFY = "verify"
RELEASE_LEASE = "release-lease"

STEPS: tuple[str, ...] = (
    ACQUIRE_LEASE,
    PREFLIGHT,
    LOWER_TTL,
    DEMOTE_PRIMARY,
    PROMOTE_PRIMARY,
    FLIP_DNS,
    CLEANUP_INACTIVE,
    VERIFY,
    RELEASE_LEASE,
)

# Seconds, for the local environment; see the module docstring.
EXPECTED_SECONDS: dict[str, float] = {
    # Measured on the demo (3 hostnames, one PostgreSQL pair; docs/switch.md), 2 cores.
    ACQUIRE_LEASE: 0.1,
    PREFLIGHT: 2.0,  # one preview with the policy pack
    LOWER_TTL: 0.0,
    DEMOTE_PRIMARY: 2.0,  # a targeted update: refresh of its targets, shutdown + restart
    PROMOTE_PRIMARY: 2.0,  # a targeted update: replay wait + pg_promote
    FLIP_DNS: 2.0,  # one update: refresh, creates and updates, then deletes
    CLEANUP_INACTIVE: 0.0,  # the flip's update did the deletes; an update only on a resume
    VERIFY: 1.0,  # plus up to TTL + 5 s while caching vantages (Unbound) expire
    RELEASE_LEASE: 0.1,
}

# Steps that do nothing until their feature lands, and say why in the report.
SKIPPED_WHY: dict[str, str] = {
    LOWER_TTL: "optional: the published TTL is already the failover TTL",
    DEMOTE_PRIMARY: "no database pairs in the topology",  # with pairs: see plan.planned_steps
    PROMOTE_PRIMARY: "no database pairs in the topology",
}
