"""What both benchmarks share: a throwaway local environment with one PowerDNS zone."""

from __future__ import annotations

import os
import signal
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from orchestrator.devenv import DevEnv, DevSpec  # noqa: E402
from orchestrator.devenv.spec import Workload  # noqa: E402


@contextmanager
def local_powerdns(
    zone: str, postgres_groups: tuple[str, ...] = (), workloads: list[Workload] | None = None
) -> Iterator[tuple[Path, DevEnv]]:
    """(temporary directory, running DevEnv serving `zone` on PowerDNS, plus the PostgreSQL pair
    of `postgres_groups` and the workload HTTP servers when given); stopped afterwards."""
    os.environ.setdefault("PULUMI_CONFIG_PASSPHRASE", "bench-passphrase")
    # `timeout` and Ctrl-C alike must stop the servers: make SIGTERM unwind like an exception.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    with tempfile.TemporaryDirectory(prefix="orchestrator-bench-") as tmp:
        dev_dir = Path(tmp) / "dev"
        env = DevEnv(dev_dir)
        env.up(
            DevSpec(
                powerdns_zones=[zone],
                bind_zones=[],
                workloads=list(workloads or []),
                postgres_groups=list(postgres_groups),
            )
        )
        os.environ["ORCHESTRATOR_DEV_DIR"] = str(dev_dir)
        try:
            yield Path(tmp), env
        finally:
            env.down()
