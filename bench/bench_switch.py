"""Wall time of a switch at 100 and 1,000 hostnames, split per step.

Next to it: the raw `pulumi up` of the same change (the active set flipped in the
config, one update, no lease/preflight/verify), the engine's own floor.
Runs against the local PowerDNS and the three local lease servers. Prints a table.

    .venv/bin/python bench/bench_switch.py [--sizes 100,1000]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import local_powerdns  # noqa: E402

from orchestrator.adapters.files.paths import stack_config_file  # noqa: E402
from orchestrator.adapters.pulumi.configfile import planned_config  # noqa: E402
from orchestrator.adapters.pulumi.stack import ProjectStack  # noqa: E402
from orchestrator.domain.switch.steps import STEPS  # noqa: E402
from orchestrator.interfaces.switch_wiring import switch_service  # noqa: E402
from tests.e2e.project import TempProject  # noqa: E402

ZONE = "bench.example.test"
OVERRIDES = {"target-group-healthy": "benchmark topology: no workloads behind the targets"}


def topology(hosts: int) -> dict:
    def group(n: int) -> dict:
        return {
            "endpoints": {f"h{i}.{ZONE}": {"a": [f"10.{n}.{i // 250}.{i % 250 + 1}"]} for i in range(hosts)}
        }

    return {
        "ttl": 30,
        "zones": [{"name": ZONE, "provider": "powerdns", "settings": {"server": "dev"}}],
        "groups": {"group-a": group(1), "group-b": group(2)},
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="100,1000")
    sizes = [int(s) for s in ap.parse_args().sizes.split(",")]
    with local_powerdns(ZONE) as (tmp, env):
        dev_dir = env.state_dir
        cols = [s for s in STEPS if s not in ("lower-ttl", "demote-primary", "promote-primary")]
        print(
            f"{'hosts':>6} "
            + " ".join(f"{c:>16}" for c in cols)
            + f" {'switch total':>13} {'raw pulumi up':>14}"
        )
        for n in sizes:
            proj = TempProject.create(Path(tmp) / f"n{n}", dev_dir, stack=f"bench{n}")
            os.environ["ORCHESTRATOR_ROOT"] = str(proj.root)
            proj.write_stack(topology(n), ["group-a"], lease={"kind": "dns-quorum", "servers": "dev"})
            stack = ProjectStack(proj.root, proj.stack)
            stack.up()
            t0 = time.perf_counter()
            runner = SwitchRunner(proj.root, proj.stack, lambda _m: None)
            # The benchmark's targets are unroutable addresses with no health URL: the
            # health policy is overridden (audited, as an operator would) so the rest runs.
            runner.policy_overrides = OVERRIDES
            reviewed = dry_run(
                proj.root, proj.stack, kind="switch", to_groups=("group-b",), overrides=OVERRIDES
            )
            outcome = runner.execute(reviewed, reviewed_fingerprint=reviewed.plan.fingerprint)
            total = time.perf_counter() - t0
            # The same change back, as one raw `pulumi up` with the flipped config.
            with planned_config(stack_config_file(proj.root, proj.stack), ("group-a",)) as cfg:
                t0 = time.perf_counter()
                stack.up(config_file=cfg)
                raw = time.perf_counter() - t0
            d = outcome.durations
            print(
                f"{n:>6} "
                + " ".join(f"{d.get(c, 0.0):>15.2f}s" for c in cols)
                + f" {total:>12.2f}s {raw:>13.2f}s",
                flush=True,
            )


if __name__ == "__main__":
    main()
