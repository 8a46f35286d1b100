"""The `dev_env` fixture: one real local environment for the whole test session.

It runs in a temporary state directory and serves the demo zones, but its workloads live
on their own loopback addresses and a free port, so that tests never clash with a demo
environment started by `orchestrator dev up` on the same machine.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from orchestrator.devenv import DevEnv, DevSpec, load_secrets, spec_for_demo
from orchestrator.devenv.ports import pick_common_tcp_port
from orchestrator.devenv.process import processes_mentioning
from orchestrator.devenv.spec import workloads_for

GROUP_A = ["127.0.110.1", "127.0.110.2"]
GROUP_B = ["127.0.120.1", "127.0.120.2"]


@dataclass
class DevEnvHandle:
    env: DevEnv
    state_dir: Path
    spec: DevSpec
    status: dict[str, Any]  # DevEnv.status() right after up (ports, URLs, pids)
    secrets: dict[str, str]  # load_secrets(state_dir)
    group_a: list[str]
    group_b: list[str]
    workload_port: int


def fixture_spec(port: int) -> DevSpec:
    """The demo's zones, with the fixture's workload addresses and port."""
    demo = spec_for_demo()
    return DevSpec(
        powerdns_zones=list(demo.powerdns_zones),
        bind_zones=list(demo.bind_zones),
        workloads=workloads_for({"group-a": GROUP_A, "group-b": GROUP_B}, port),
        postgres_groups=list(demo.postgres_groups),
    )


@pytest.fixture(scope="session")
def dev_env() -> Iterator[DevEnvHandle]:
    # Not under pytest's basetemp: every pytest session that starts on the machine resets
    # /tmp/pytest-of-<user> to 0700, which cuts the PostgreSQL servers (run as `postgres`
    # when we are root) off from their data directories in another session still running.
    state_dir = Path(tempfile.mkdtemp(prefix="orchestrator-e2e-dev-"))
    port = pick_common_tcp_port([*GROUP_A, *GROUP_B])
    spec = fixture_spec(port)
    env = DevEnv(state_dir)
    try:
        status = env.up(spec)
        yield DevEnvHandle(
            env=env,
            state_dir=state_dir,
            spec=spec,
            status=status,
            secrets=load_secrets(state_dir),
            group_a=list(GROUP_A),
            group_b=list(GROUP_B),
            workload_port=port,
        )
    finally:
        env.down()
        left = processes_mentioning(f"{state_dir}/")
        if not left:
            shutil.rmtree(state_dir, ignore_errors=True)
        assert not left, f"processes of the test environment survived `down`: {left}"
