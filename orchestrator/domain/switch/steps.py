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

# Seconds, for the local environment; see the module docstring. A step's expected duration is
# its fixed part plus, for the steps that run the engine over the whole stack, a part per
# record-set change of the plan (expected_seconds).
EXPECTED_SECONDS: dict[str, float] = {
    # Measured on the demo (3 hostnames, one PostgreSQL pair; docs/switch.md), 2 cores.
    ACQUIRE_LEASE: 0.1,
    PREFLIGHT: 1.5,  # one preview with the policy pack
    LOWER_TTL: 0.0,
    DEMOTE_PRIMARY: 1.2,  # a targeted update: refresh of its targets, shutdown + restart
    PROMOTE_PRIMARY: 1.2,  # a targeted update: replay wait + pg_promote
    FLIP_DNS: 1.0,  # one update: creates and updates, then deletes
    CLEANUP_INACTIVE: 0.0,  # the flip's update did the deletes; an update only on a resume
    VERIFY: 0.5,  # plus up to TTL + 5 s while caching vantages (Unbound) expire
    RELEASE_LEASE: 0.1,
}
# Seconds per record-set change, from bench/bench_switch.py on 2 cores (1,000 and 5,000
# hostnames: 3,001 and 15,001 changes): the preview and the update handle the stack one
# resource at a time, and verify asks the servers about each name.
PER_CHANGE_SECONDS: dict[str, float] = {
    PREFLIGHT: 0.0024,
    FLIP_DNS: 0.0025,
    VERIFY: 0.0004,
}


def expected_seconds(step: str, changes: int) -> float:
    """What the dry-run promises for `step` in a plan of `changes` record-set changes: a
    constant would be off by a factor of four at 1,000 hostnames."""
    return round(EXPECTED_SECONDS[step] + PER_CHANGE_SECONDS.get(step, 0.0) * max(changes, 0), 1)


# Steps that do nothing until their feature lands, and say why in the report.
SKIPPED_WHY: dict[str, str] = {
    LOWER_TTL: "optional: the published TTL is already the failover TTL",
    DEMOTE_PRIMARY: "no database pairs in the topology",  # with pairs: see plan.planned_steps
    PROMOTE_PRIMARY: "no database pairs in the topology",
}
