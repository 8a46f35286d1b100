"""The policy pack (policy/) in the orchestrator's runs: measure, configure, read the verdict.

One module per job: pack.py (where the pack and its thresholds are), overrides.py,
baseline.py (the state before), measurement.py (health), config.py (what the pack gets),
verdict.py (what the engine reported), run.py (one run, and its audit), __main__.py (by hand).

Pulumi runs the pack on the preview; the pack itself is pure and sees only the stack after
the update. What it cannot see, the orchestrator measures just before the preview and passes
in as policy config (a temporary `--policy-pack-config` file, the thresholds of
policy/config.json plus):

- `before`: the record sets in the stack's state now (for blast-radius and no-empty-hostname),
  and `activeBefore`, the groups they publish as active (for target-group-healthy);
- `measurement`: one HTTP GET of each health URL of every group being activated;
- `topologyHostnames`: the hostnames the topology still publishes (a hostname retired from
  the topology on purpose is not "left with no targets").

The engine reports violations as `policy_event`s; mandatory ones become blockers, advisory
ones warnings. The break-glass `--override-policy NAME --reason TEXT` lowers exactly that
policy to advisory for one run; the switch writes the audit event `policy.overridden`.
docs/policies.md has the whole story.

Run as `python -m orchestrator.services.policies --stack <stack> [--out FILE]` to write the config for
a preview by hand: `pulumi preview -s <stack> --policy-pack policy --policy-pack-config FILE`.
"""

from orchestrator.domain.policies import (
    AT_LEAST_ONE_ACTIVE_GROUP,
    BASELINE_POLICIES,
    BLAST_RADIUS,
    NO_EMPTY_HOSTNAME,
    POLICY_NAMES,
    REGISTRY_CONSISTENT,
    REPLICA_CAUGHT_UP,
    SINGLE_PRIMARY,
    TARGET_GROUP_HEALTHY,
    TTL_CEILING,
)
from orchestrator.services.policies.baseline import Baseline, baseline_from_deployment, baseline_from_state
from orchestrator.services.policies.config import build_config
from orchestrator.services.policies.measurement import (
    HEALTH_TIMEOUT,
    HealthCheck,
    Measurement,
    measure_health,
)
from orchestrator.services.policies.overrides import check_override
from orchestrator.services.policies.pack import pack_dir, thresholds
from orchestrator.services.policies.run import PolicyRun, audit_overrides, policy_run
from orchestrator.services.policies.verdict import (
    ADVISORY,
    MANDATORY,
    Verdict,
    Violation,
    verdict,
    violations_from_events,
)

__all__ = [
    "ADVISORY",
    "AT_LEAST_ONE_ACTIVE_GROUP",
    "BASELINE_POLICIES",
    "BLAST_RADIUS",
    "HEALTH_TIMEOUT",
    "MANDATORY",
    "NO_EMPTY_HOSTNAME",
    "POLICY_NAMES",
    "REGISTRY_CONSISTENT",
    "REPLICA_CAUGHT_UP",
    "SINGLE_PRIMARY",
    "TARGET_GROUP_HEALTHY",
    "TTL_CEILING",
    "Baseline",
    "HealthCheck",
    "Measurement",
    "PolicyRun",
    "Verdict",
    "Violation",
    "audit_overrides",
    "baseline_from_deployment",
    "baseline_from_state",
    "build_config",
    "check_override",
    "measure_health",
    "pack_dir",
    "policy_run",
    "thresholds",
    "verdict",
    "violations_from_events",
]
