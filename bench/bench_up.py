"""Wall time of `up` for 10, 100 and 1,000 record sets on the local PowerDNS.

Next to each figure: one direct PowerDNS API call making the same change (a single
PATCH with every record set), the floor that any tool talking to PowerDNS pays.
Prints a table; asserts nothing (speed targets live here, not in tests).

    .venv/bin/python bench/bench_up.py [--sizes 10,100,1000]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import local_powerdns  # noqa: E402

from orchestrator.adapters.dns.powerdns import PowerDNSClient  # noqa: E402
from orchestrator.adapters.pulumi.stack import ProjectStack  # noqa: E402
from orchestrator.devenv import find_server, load_secrets  # noqa: E402
from orchestrator.domain.desired import desired_state  # noqa: E402
from orchestrator.domain.topology import load_topology  # noqa: E402
from orchestrator.domain.values import fqdn, to_zone_text  # noqa: E402
from tests.e2e.project import TempProject  # noqa: E402

ZONE = "bench.example.test"


def topology(hosts: int, generation: int) -> dict:
    """`hosts` hostnames in one group; `generation` changes every target (a full switch)."""

    def target(i: int) -> str:
        return f"10.{generation}.{i // 250}.{i % 250 + 1}"

    return {
        "ttl": 30,
        "zones": [{"name": ZONE, "provider": "powerdns", "settings": {"server": "dev"}}],
        "groups": {
            "group-a": {"endpoints": {f"h{i}.{ZONE}": {"a": [target(i)]} for i in range(hosts)}},
        },
    }


def record_sets(topo: dict) -> list:
    return desired_state(load_topology(topo, active=["group-a"]), ("group-a",)).all()


def direct_patch(client: PowerDNSClient, sets: list) -> float:
    rrsets = [
        {
            "name": fqdn(rs.name),
            "type": rs.type,
            "ttl": rs.ttl,
            "changetype": "REPLACE",
            "records": [{"content": to_zone_text(rs.type, v), "disabled": False} for v in rs.values],
        }
        for rs in sets
    ]
    start = time.perf_counter()
    resp = client._request("PATCH", f"/zones/{fqdn(ZONE)}", json={"rrsets": rrsets})  # noqa: SLF001
    elapsed = time.perf_counter() - start
    assert resp.status_code < 300, resp.text
    return elapsed


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="10,100,1000")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    with local_powerdns(ZONE) as (tmp, env):
        dev_dir = env.state_dir
        server = find_server(env.status(), "powerdns")
        client = PowerDNSClient(server["api_url"], load_secrets(dev_dir)["powerdns_api_key"])
        print(f"{'record sets':>11} {'up: create':>11} {'up: modify':>11} {'no-op up':>9} {'API floor':>10}")
        for n in sizes:
            proj = TempProject.create(Path(tmp) / f"n{n}", dev_dir, stack=f"bench{n}")
            os.environ["ORCHESTRATOR_ROOT"] = str(proj.root)
            # n hostnames -> n A record sets + n registry TXT + 1 active-groups TXT
            hosts = max(1, (n - 1) // 2)
            proj.write_stack(topology(hosts, 1), ["group-a"])
            stack = ProjectStack(proj.root, proj.stack)
            t0 = time.perf_counter()
            stack.up()
            create = time.perf_counter() - t0
            t0 = time.perf_counter()
            stack.up()
            noop = time.perf_counter() - t0
            proj.write_stack(topology(hosts, 2), ["group-a"])
            t0 = time.perf_counter()
            stack.up()
            modify = time.perf_counter() - t0
            sets = record_sets(topology(hosts, 3))
            floor = direct_patch(client, sets)
            print(
                f"{len(sets):>11} {create:>10.2f}s {modify:>10.2f}s {noop:>8.2f}s {floor:>9.3f}s",
                flush=True,
            )


if __name__ == "__main__":
    main()
