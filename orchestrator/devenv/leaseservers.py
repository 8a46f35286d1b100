"""The lease servers of the local environment: N independent BIND 9 instances, one zone each.

The lease (orchestrator.adapters.lease) needs servers that fail independently, so that a quorum
test can stop one of them: each lease server is its own `named` process with its own
directory, port, zone file and journal, serving `lease.orchestrator.test` and accepting
updates signed with the environment's TSIG key. They are recorded in env.json under
`lease-<index>` (index from 0) and appear in status() with role `lease`.
"""

from __future__ import annotations

from pathlib import Path

ROLE = "lease"
LEASE_ZONE = "lease.orchestrator.test"
MAX_LEASE_SERVERS = 7


def key(index: int) -> str:
    """The name of lease server `index` in env.json, logs and messages."""
    return f"{ROLE}-{index}"


def index_of(name: str) -> int | None:
    """The index of a `lease-<n>` record key, or None for any other key."""
    prefix = f"{ROLE}-"
    if name.startswith(prefix) and name[len(prefix) :].isdigit():
        return int(name[len(prefix) :])
    return None


def recorded(servers: dict[str, object]) -> list[str]:
    """The lease server keys in a record's servers, in index order."""
    return sorted((k for k in servers if index_of(k) is not None), key=lambda k: index_of(k) or 0)


def work_dir(state_dir: Path, index: int) -> Path:
    return state_dir / key(index)


def conf_file(state_dir: Path, index: int) -> Path:
    return work_dir(state_dir, index) / "named.conf"


def stray_marker(state_dir: Path) -> str:
    """A string that the command line of every lease server of this environment contains."""
    return f"{state_dir / ROLE}-"
