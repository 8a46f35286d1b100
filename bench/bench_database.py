"""Time of the demote-primary and promote-primary steps on the local PostgreSQL pair.

Switches group-a -> group-b -> group-a ... (ROUNDS times) with a small DNS topology and the
`orders` pair, and prints each switch's database steps next to its total. Before each
switch the primary gets --rows new rows, so the demotion has WAL to hand over. Each step is
one targeted Pulumi update (program run, refresh, then the provider's work: fast shutdown,
checkpoint and restart as a standby; replay wait and pg_promote).

    .venv/bin/python bench/bench_database.py [--rounds 4] [--rows 20000]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import local_powerdns  # noqa: E402

from orchestrator.adapters.postgres import pg
from orchestrator.adapters.pulumi.stack import ProjectStack  # noqa: E402
from orchestrator.devenv.pair import LocalPair  # noqa: E402
from orchestrator.interfaces.switch_wiring import switch_service  # noqa: E402
from tests.e2e.project import TempProject  # noqa: E402

ZONE = "bench.example.test"
OVERRIDES = {"target-group-healthy": "benchmark topology: no workloads behind the targets"}
GROUPS = ("group-a", "group-b")


def topology(hosts: int = 10) -> dict:
    def group(n: int) -> dict:
        return {"endpoints": {f"h{i}.{ZONE}": {"a": [f"10.{n}.0.{i + 1}"]} for i in range(hosts)}}

    local = {"kind": "postgres", "server": "dev"}
    return {
        "ttl": 30,
        "zones": [{"name": ZONE, "provider": "powerdns", "settings": {"server": "dev"}}],
        "groups": {"group-a": group(1), "group-b": group(2)},
        "databases": [{"name": "orders", "clusters": {"group-a": local, "group-b": local}}],
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--rows", type=int, default=20000, help="rows written before each switch (WAL to ship)")
    args = ap.parse_args()
    with local_powerdns(ZONE, GROUPS) as (tmp, env):
        proj = TempProject.create(Path(tmp) / "db", env.state_dir, stack="benchdb")
        os.environ["ORCHESTRATOR_ROOT"] = str(proj.root)
        proj.write_stack(topology(), ["group-a"], lease={"kind": "dns-quorum", "servers": "dev"})
        ProjectStack(proj.root, proj.stack).up()
        with pg.connect(env.postgres_endpoint("group-a")) as conn:
            conn.execute("CREATE TABLE bench (id bigserial PRIMARY KEY, payload text)")
        pair = LocalPair("orders", env)
        print(f"{'switch':>18} {'demote-primary':>15} {'promote-primary':>16} {'switch total':>13}")
        demote, promote = [], []
        current = "group-a"
        for _ in range(args.rounds):
            target = GROUPS[1] if current == GROUPS[0] else GROUPS[0]
            with pg.connect(env.postgres_endpoint(current)) as conn:
                conn.execute(
                    "INSERT INTO bench (payload) SELECT repeat('x', 100) FROM generate_series(1, %s)",
                    (args.rows,),
                )
            service = switch_service(proj.root, proj.stack, lambda _m: None, OVERRIDES)
            t0 = time.perf_counter()
            reviewed = service.deps.engine.plan(kind="switch", to_groups=(target,), mode="planned")
            outcome = service.execute(reviewed, reviewed_fingerprint=reviewed.plan.fingerprint)
            total = time.perf_counter() - t0
            d = outcome.durations
            demote.append(d["demote-primary"])
            promote.append(d["promote-primary"])
            assert pair.is_primary(target), f"{target} must be the primary after the switch"
            print(
                f"{current + ' -> ' + target:>18} {d['demote-primary']:>14.2f}s "
                f"{d['promote-primary']:>15.2f}s {total:>12.2f}s",
                flush=True,
            )
            if os.environ.get("BENCH_VERBOSE"):
                print("   ", {k: round(v, 2) for k, v in d.items()}, flush=True)
            current = target
        print(
            f"{'median':>18} {statistics.median(demote):>14.2f}s {statistics.median(promote):>15.2f}s",
            flush=True,
        )


if __name__ == "__main__":
    main()
