"""A throwaway copy of this Pulumi project with its own stack file and state backend.

End-to-end tests deploy into the dev environment of the `dev_env` fixture without
touching the repository's stacks/ or .pulumi-state/.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
ORCHESTRATOR = str(Path(sys.executable).parent / "orchestrator")


# The demo topology's hostnames, each with the local server role authoritative for its zone.
HOSTS = {
    "www.app.example.test": "powerdns",
    "shop.app.example.test": "powerdns",
    "api.svc.example.test": "bind",
}
# The lease every switching test takes: a majority of the dev environment's lease servers.
LEASE = {"kind": "dns-quorum", "servers": "dev"}


def demo_topology(group_a: list[str], group_b: list[str], port: int, ttl: int = 30) -> dict[str, Any]:
    """The demo's shape (two zones: PowerDNS and BIND) with the fixture's workload addresses."""
    health = {"port": port, "path": "/healthz"}
    return {
        "ttl": ttl,
        "zones": [
            {"name": "app.example.test", "provider": "powerdns", "settings": {"server": "dev"}},
            {"name": "svc.example.test", "provider": "rfc2136", "settings": {"server": "dev"}},
        ],
        "groups": {
            "group-a": {
                "endpoints": {
                    "www.app.example.test": {"a": list(group_a), "health": health},
                    "shop.app.example.test": {"a": [group_a[0]], "health": health},
                    "api.svc.example.test": {"a": [group_a[-1]], "health": health},
                }
            },
            "group-b": {
                "endpoints": {
                    "www.app.example.test": {"a": list(group_b), "health": health},
                    "shop.app.example.test": {"a": [group_b[0]], "health": health},
                    "api.svc.example.test": {"a": [group_b[-1]], "health": health},
                }
            },
        },
    }


@dataclass
class TempProject:
    root: Path
    dev_dir: Path
    stack: str = "e2e"

    @classmethod
    def create(cls, base: Path, dev_dir: Path, stack: str = "e2e") -> TempProject:
        root = base / "project"
        root.mkdir(parents=True)
        shutil.copy(REPO / "Pulumi.yaml", root / "Pulumi.yaml")
        shutil.copytree(REPO / "programs", root / "programs", ignore=shutil.ignore_patterns("__pycache__"))
        (root / "stacks").mkdir()
        # The venv lives in the repository: point the runtime option at it.
        doc = yaml.safe_load((root / "Pulumi.yaml").read_text())
        doc["runtime"]["options"]["virtualenv"] = str(REPO / ".venv")
        (root / "Pulumi.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
        return cls(root=root, dev_dir=dev_dir, stack=stack)

    @property
    def stack_file(self) -> Path:
        return self.root / "stacks" / f"Pulumi.{self.stack}.yaml"

    def write_stack(
        self, topology: dict[str, Any], active: list[str], lease: dict[str, Any] | None = None
    ) -> None:
        doc: dict[str, Any] = {
            "config": {"orchestrator:activeGroups": list(active), "orchestrator:topology": topology}
        }
        if lease is not None:
            doc["config"]["orchestrator:lease"] = lease
        self.stack_file.write_text(yaml.safe_dump(doc, sort_keys=False))

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("POWERDNS_", "TSIG_", "PULUMI_"))}
        env.update(
            ORCHESTRATOR_ROOT=str(self.root),
            ORCHESTRATOR_DEV_DIR=str(self.dev_dir),
            PULUMI_CONFIG_PASSPHRASE="e2e-test-passphrase",
        )
        env.update(extra)
        return env

    def run(self, *args: str, check: bool = True, **env: str) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [ORCHESTRATOR, *args],
            cwd=self.root,
            env=self.env(**env),
            capture_output=True,
            text=True,
            timeout=600,
        )
        if check and proc.returncode != 0:
            raise AssertionError(
                f"orchestrator {' '.join(args)} exited {proc.returncode}\n"
                f"--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}"
            )
        return proc

    def start(self, *args: str, **env: str) -> subprocess.Popen[str]:
        """`orchestrator ARGS` in the background, in its own session (a test may kill its group)."""
        return subprocess.Popen(
            [ORCHESTRATOR, *args],
            cwd=self.root,
            env=self.env(**env),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )

    def state_files(self) -> dict[str, bytes]:
        """Every file of the state backend, for asserting that nothing changed."""
        state = self.root / ".pulumi-state"
        return {
            str(p.relative_to(state)): p.read_bytes()
            for p in sorted(state.rglob("*"))
            if p.is_file() and ".bak" not in p.parts[-1] and "history" not in p.parts
        }

    def destroy(self) -> None:
        """Remove everything this project deployed (so tests sharing the servers start clean)."""
        from orchestrator.adapters.pulumi.stack import ProjectStack

        saved = dict(os.environ)
        os.environ.update(self.env())
        try:
            ProjectStack(self.root, self.stack).destroy()
        finally:
            os.environ.clear()
            os.environ.update(saved)

    def locks(self) -> list[Path]:
        return [p for p in (self.root / ".pulumi-state").rglob("locks/**/*.json")]
