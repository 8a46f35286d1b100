"""The local environment: real PowerDNS, BIND 9 and Unbound servers, three BIND lease servers and
HTTP workloads on loopback.

`orchestrator dev up | down | status` drives it; other code reads where things run with
`DevEnv(state_dir).status()` and the generated credentials with `load_secrets(state_dir)`.
"""

from orchestrator.devenv.credentials import load_secrets
from orchestrator.devenv.env import DevEnv, default_state_dir
from orchestrator.devenv.spec import DevSpec, Workload, spec_for_demo, spec_from_topology
from orchestrator.devenv.status import find_server, find_servers

__all__ = [
    "DevEnv",
    "DevSpec",
    "Workload",
    "default_state_dir",
    "find_server",
    "find_servers",
    "load_secrets",
    "spec_for_demo",
    "spec_from_topology",
]
