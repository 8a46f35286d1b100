"""Wall time of a switch per size, split per step, against octoDNS and the one-PATCH floor.

For each size N (hostnames, each with a health URL as real topologies have), on one local
PowerDNS zone and the three local lease servers:

1. deploy group-a (one update, timed but not part of any ratio);
2. the dry-run: `orchestrator switch --to group-b --dry-run` as a whole process;
3. the switch: `orchestrator switch --to group-b --yes` as a whole process (the review
   preview, lease, preflight, flip, cleanup, verify), its steps as it reports them, and the
   peak memory of its whole process tree (sampled from /proc);
4. the raw `pulumi up` of the change back to group-a (the active set flipped in the config,
   one update with the switch's engine settings: no refresh, no per-step checkpoint), the
   engine alone;
5. octoDNS (`octodns-sync --doit`, a whole process) syncing the zone from group-a's content
   to exactly what the switch produced (N A record sets to group-b's targets, the registry
   TXTs swapped to group-b's owner, the active-groups TXT flipped), checked afterwards;
6. the floor: one PowerDNS PATCH carrying the whole change back.

    .venv/bin/python bench/bench_switch.py [--sizes 100,1000] [--groups 2] [--json]

`--groups 50`: fifty groups, every hostname served by one group of each half, the switch
moving the active set from the first 25 groups to the other 25.

The targets are local workload HTTP servers (devenv), so the health policy and the verify
step run for real.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import requests
import yaml
from natsort import natsort_keygen

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import local_powerdns  # noqa: E402

from orchestrator.adapters.files.paths import stack_config_file  # noqa: E402
from orchestrator.adapters.pulumi.configfile import planned_config  # noqa: E402
from orchestrator.adapters.pulumi.stack import ProjectStack  # noqa: E402
from orchestrator.devenv.credentials import load_secrets  # noqa: E402
from orchestrator.devenv.ports import pick_common_tcp_port  # noqa: E402
from orchestrator.devenv.spec import workloads_for  # noqa: E402
from orchestrator.domain.switch.steps import STEPS  # noqa: E402
from tests.e2e.project import ORCHESTRATOR, TempProject  # noqa: E402

ZONE = "bench.example.test"
# The targets: a few local workload HTTP servers per group (their /healthz answers 200); the
# hostnames take them in turn, so every A record set still changes in a switch.
ADDRESSES = {
    "group-a": [f"127.0.130.{i}" for i in range(1, 5)],
    "group-b": [f"127.0.140.{i}" for i in range(1, 5)],
}


STEP_LINE = re.compile(r"^\s+(?P<step>[a-z-]+)\s+(?P<secs>\d+\.\d+)s$")
OCTODNS_SYNC = Path(sys.executable).with_name("octodns-sync")


def groups_for(count: int) -> dict[str, list[str]]:
    """The groups and their workload addresses. Two: group-a and group-b (ADDRESSES); more
    (`--groups`, even): g00.. with one address each, the first half active before the switch."""
    if count == 2:
        return ADDRESSES
    return {f"g{k:02d}": [f"127.0.{150 + k // 100}.{1 + k % 100}"] for k in range(count)}


def halves(groups: dict[str, list[str]]) -> tuple[list[str], list[str]]:
    """(active before the switch, active after it)."""
    names = list(groups)
    return names[: len(names) // 2], names[len(names) // 2 :]


def topology(
    hosts: int, port: int, health: bool = True, groups: dict[str, list[str]] = ADDRESSES
) -> dict[str, Any]:
    """Every hostname is served by one group of each half (so every A record set changes in a
    switch): with two groups, by both; each group's hostnames take its addresses in turn."""
    check = {"health": {"port": port, "path": "/healthz"}} if health else {}
    before, after = halves(groups)
    endpoints: dict[str, dict[str, Any]] = {g: {} for g in groups}
    for i in range(hosts):
        for half in (before, after):
            g = half[i % len(half)]
            addrs = groups[g]
            endpoints[g][f"h{i}.{ZONE}"] = {"a": [addrs[i % len(addrs)]], **check}
    return {
        "ttl": 30,
        "zones": [{"name": ZONE, "provider": "powerdns", "settings": {"server": "dev"}}],
        "groups": {g: {"endpoints": endpoints[g]} for g in groups},
    }


PAGE = os.sysconf("SC_PAGE_SIZE")


class PeakMemory:
    """Peak memory of a process and all its descendants, sampled every 50 ms, two ways:
    - RSS: each process's resident pages summed, so a page that several processes share (the
      Python interpreter, gRPC's library) counts once per process;
    - PSS (proportional set size, /proc/<pid>/smaps_rollup): a shared page counts once over
      the tree, split between the processes that share it: what the tree takes from the
      machine's memory."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.rss = 0
        self.pss = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            rss, pss = self.sample()
            self.rss, self.pss = max(self.rss, rss), max(self.pss, pss)

    def sample(self) -> tuple[int, int]:
        """(RSS, PSS) summed over the tree, walked through /proc/<pid>/task/<tid>/children:
        only the tree's own processes are read, so the sampler takes little of the CPU it
        measures."""
        rss = pss = 0
        frontier, seen = [self.pid], set()
        while frontier:
            pid = frontier.pop()
            if pid in seen:
                continue
            seen.add(pid)
            try:
                own_rss = int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE
                rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
                pss_line = next(ln for ln in rollup.splitlines() if ln.startswith("Pss:"))
                own_pss = int(pss_line.split()[1]) * 1024
                for task in Path(f"/proc/{pid}/task").iterdir():
                    frontier.extend(int(c) for c in (task / "children").read_text().split())
            except (OSError, ValueError, StopIteration):
                continue  # exited between two reads
            rss, pss = rss + own_rss, pss + own_pss
        return rss, pss


def timed_process(args: list[str], env: dict[str, str], cwd: Path) -> tuple[float, PeakMemory, str]:
    """(seconds, peak memory of the process tree, stdout); raises when it fails."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(args, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    with PeakMemory(proc.pid) as mem:
        out, err = proc.communicate(timeout=3600)
    took = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} exited {proc.returncode}\n{out[-3000:]}\n{err[-3000:]}")
    return took, mem, out


class PowerDns:
    def __init__(self, state_dir: Path) -> None:
        record = json.loads((state_dir / "env.json").read_text())
        port = record["servers"]["powerdns"]["api_port"]
        self.host, self.port = "127.0.0.1", port
        self.key = load_secrets(state_dir)["powerdns_api_key"]
        self.url = f"http://127.0.0.1:{port}/api/v1/servers/localhost/zones/{ZONE}."

    def rrsets(self) -> dict[tuple[str, str], dict[str, Any]]:
        data = requests.get(self.url, headers={"X-API-Key": self.key}, timeout=30).json()
        # `\;` and `;` in a quoted TXT string are the same bytes on the wire (octoDNS writes the former).
        return {
            (r["name"], r["type"]): {
                "ttl": r["ttl"],
                "records": sorted(x["content"].replace("\\;", ";") for x in r["records"]),
            }
            for r in data["rrsets"]
            if r["type"] != "SOA"
        }

    def patch_to(self, want: dict[tuple[str, str], dict[str, Any]]) -> float:
        """One PATCH from what is served now to `want`; its seconds."""
        have = self.rrsets()
        rrsets = [
            {
                "name": name,
                "type": rtype,
                "ttl": v["ttl"],
                "changetype": "REPLACE",
                "records": [{"content": c, "disabled": False} for c in v["records"]],
            }
            for (name, rtype), v in want.items()
            if have.get((name, rtype)) != v
        ] + [{"name": n, "type": t, "changetype": "DELETE"} for (n, t) in have if (n, t) not in want]
        t0 = time.perf_counter()
        resp = requests.patch(self.url, headers={"X-API-Key": self.key}, json={"rrsets": rrsets}, timeout=300)
        took = time.perf_counter() - t0
        resp.raise_for_status()
        return took


def octodns_config(tmp: Path, pdns: PowerDns, want: dict[tuple[str, str], dict[str, Any]]) -> Path:
    """octoDNS's YAML source holding `want`, and its config targeting the same PowerDNS."""
    records: dict[str, list[dict[str, Any]]] = {}
    for (name, rtype), v in sorted(want.items()):
        label = name[: -len(ZONE) - 2] if name != f"{ZONE}." else ""
        values = v["records"]
        if rtype == "TXT":  # PowerDNS shows quoted chunks; octoDNS wants the text, `;` escaped
            values = ["".join(re.findall(r'"((?:[^"\\]|\\.)*)"', c)).replace(";", "\\;") for c in values]
        records.setdefault(label, []).append({"ttl": v["ttl"], "type": rtype, "values": values})
    zones = tmp / "octodns-zones"
    zones.mkdir(exist_ok=True)
    ordered = {k: records[k] for k in sorted(records, key=natsort_keygen())}  # octoDNS checks the order
    (zones / f"{ZONE}.yaml").write_text(yaml.safe_dump(ordered, sort_keys=False))
    config = {
        "providers": {
            "yaml": {"class": "octodns.provider.yaml.YamlProvider", "directory": str(zones)},
            "powerdns": {
                "class": "octodns_powerdns.PowerDnsProvider",
                "host": pdns.host,
                "port": pdns.port,
                "api_key": "env/BENCH_PDNS_KEY",
                "scheme": "http",
            },
        },
        "zones": {f"{ZONE}.": {"sources": ["yaml"], "targets": ["powerdns"]}},
    }
    path = tmp / "octodns.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def one_size(
    n: int, tmp: Path, state_dir: Path, pdns: PowerDns, port: int, health: bool, groups: dict[str, list[str]]
) -> dict[str, Any]:
    before_set, after_set = halves(groups)
    proj = TempProject.create(tmp / f"n{n}", state_dir, stack=f"bench{n}")
    proj.write_stack(
        topology(n, port, health, groups), before_set, lease={"kind": "dns-quorum", "servers": "dev"}
    )
    env = proj.env()
    os.environ.update({k: env[k] for k in ("PULUMI_CONFIG_PASSPHRASE", "ORCHESTRATOR_ROOT")})
    stack = ProjectStack(proj.root, proj.stack)
    t0 = time.perf_counter()
    # The benchmark's own setup, not what it measures: written once, not per resource.
    stack.up(skip_checkpoints=True)
    deploy = time.perf_counter() - t0
    before = pdns.rrsets()
    # Without health URLs the health policy has nothing to measure: overridden, audited.
    override = [] if health else ["--override-policy", "target-group-healthy", "--reason", "benchmark"]
    to = [arg for g in after_set for arg in ("--to", g)]
    base = [str(ORCHESTRATOR), "switch", "--stack", proj.stack, *to, *override]
    dry, _, _ = timed_process([*base, "--dry-run", "--format", "json"], env, proj.root)
    total, peak, out = timed_process([*base, "--yes"], env, proj.root)
    steps = {m["step"]: float(m["secs"]) for m in map(STEP_LINE.match, out.splitlines()) if m}
    after = pdns.rrsets()
    changed = sum(1 for k in set(before) | set(after) if before.get(k) != after.get(k))
    # The engine alone: the same change back, one `pulumi up` with the switch's engine settings
    # (no refresh, no per-step checkpoint; docs/engine.md).
    with planned_config(stack_config_file(proj.root, proj.stack), tuple(before_set)) as cfg:
        t0 = time.perf_counter()
        stack.up(config_file=cfg, refresh=False, skip_checkpoints=True)
        raw = time.perf_counter() - t0
    assert pdns.rrsets() == before, "the raw up must restore group-a's zone"
    # octoDNS: group-a's zone -> exactly what the switch produced.
    config = octodns_config(tmp / f"n{n}", pdns, after)
    octo, _, _ = timed_process(
        [str(OCTODNS_SYNC), "--config-file", str(config), "--doit", "--force"],
        {**env, "BENCH_PDNS_KEY": pdns.key},
        tmp,
    )
    synced = pdns.rrsets()
    diff = {
        k: (synced.get(k), after.get(k)) for k in set(synced) | set(after) if synced.get(k) != after.get(k)
    }
    assert not diff, f"octoDNS must produce the switch's zone: {list(diff.items())[:3]}"
    patch = pdns.patch_to(before)  # the floor: the whole change in one PATCH
    assert pdns.rrsets() == before
    return {
        "hostnames": n,
        "groups": len(groups),
        "health_urls": health,
        "record_set_changes": changed,
        "deploy_s": round(deploy, 2),
        "dry_run_s": round(dry, 2),
        "switch_s": round(total, 2),
        "steps_s": {s: steps[s] for s in STEPS if s in steps},
        "peak_rss_mb": round(peak.rss / 2**20),
        "peak_pss_mb": round(peak.pss / 2**20),
        "raw_pulumi_up_s": round(raw, 2),
        "octodns_s": round(octo, 2),
        "one_patch_s": round(patch, 3),
        "switch_vs_octodns": round(total / octo, 1),
        "switch_vs_patch": round(total / patch),
        "raw_up_vs_octodns": round(raw / octo, 1),
        "switch_per_hostname_ms": round(1000 * total / n, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="100,1000")
    ap.add_argument("--json", action="store_true", help="one JSON line per size")
    ap.add_argument(
        "--no-health",
        action="store_true",
        help="hostnames without health URLs (the language host cannot pass the config of ~900+ "
        "hostnames with health URLs until issue 12 item 6 lands)",
    )
    ap.add_argument(
        "--groups",
        type=int,
        default=2,
        help="groups in the topology (even; the switch moves from the first half to the second)",
    )
    args = ap.parse_args()
    if args.groups < 2 or args.groups % 2 or args.groups > 200:
        ap.error(f"--groups {args.groups}: give an even number from 2 to 200")
    sizes = [int(s) for s in args.sizes.split(",")]
    groups = groups_for(args.groups)
    port = pick_common_tcp_port([a for addrs in groups.values() for a in addrs])
    with local_powerdns(ZONE, workloads=workloads_for(groups, port)) as (tmp, env):
        pdns = PowerDns(env.state_dir)
        if not args.json:
            cols = (
                "hosts",
                "changes",
                "dry-run",
                "switch",
                "flip-dns",
                "raw up",
                "octoDNS",
                "PATCH",
                "ratio",
                "peak RSS",
                "peak PSS",
            )
            print(" ".join(f"{c:>9}" for c in cols), flush=True)
        for n in sizes:
            r = one_size(n, tmp, env.state_dir, pdns, port, health=not args.no_health, groups=groups)
            if args.json:
                print(json.dumps(r, sort_keys=True), flush=True)
                continue
            row = (
                n,
                r["record_set_changes"],
                f"{r['dry_run_s']:.2f}s",
                f"{r['switch_s']:.2f}s",
                f"{r['steps_s'].get('flip-dns', 0):.2f}s",
                f"{r['raw_pulumi_up_s']:.2f}s",
                f"{r['octodns_s']:.2f}s",
                f"{r['one_patch_s']:.3f}s",
                f"{r['switch_vs_octodns']}x",
                f"{r['peak_rss_mb']}MB",
                f"{r['peak_pss_mb']}MB",
            )
            print(" ".join(f"{c:>9}" for c in row), flush=True)


if __name__ == "__main__":
    main()
