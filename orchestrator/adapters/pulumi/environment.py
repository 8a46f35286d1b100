"""The settings every Pulumi run gets, and where the pinned CLI lives.

One place decides the backend, the secrets passphrase, update checks and plugin
acquisition, so that the orchestrator, the tests and `orchestrator engine env` (for
running `pulumi` by hand) behave the same.
"""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import subprocess
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

from orchestrator.domain.errors import EnvironmentProblem

# Documented in docs/engine.md. Local state only: production sets its own passphrase
# (or a KMS secrets provider) through the environment.
DEFAULT_LOCAL_PASSPHRASE = "orchestrator-local-dev-passphrase"


class PassphraseWarning(UserWarning):
    """The documented local default passphrase is in use."""


def pulumi_version() -> str:
    """The version of the `pulumi` package, which the CLI must match exactly."""
    return importlib.metadata.version("pulumi")


def cache_dir() -> Path:
    base = os.environ.get("ORCHESTRATOR_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "orchestrator"
    )
    return Path(base)


@dataclass(frozen=True)
class Engine:
    """The pinned Pulumi CLI: `root/bin/pulumi` (the Automation API's PulumiCommand layout)."""

    root: Path
    version: str

    @property
    def bin_dir(self) -> Path:
        return self.root / "bin"

    @property
    def pulumi(self) -> Path:
        return self.bin_dir / "pulumi"


def _reported_version(binary: Path) -> str | None:
    try:
        out = subprocess.run(
            [str(binary), "version"], capture_output=True, text=True, timeout=30, check=False
        )
    except OSError:
        return None
    return out.stdout.strip().lstrip("v") or None


# Engines already checked in this process, by binary and its modification time: a switch
# makes several engine runs, and `pulumi version` costs a process start each time.
_checked: dict[tuple[str, int], Engine] = {}


def locate_engine() -> Engine:
    """The cached CLI built by scripts/pulumi-engine.sh, checked against the package pin."""
    version = pulumi_version()
    root = cache_dir() / "pulumi" / f"v{version}"
    binary = root / "bin" / "pulumi"
    try:
        key = (str(binary), binary.stat().st_mtime_ns)
    except OSError:
        raise EnvironmentProblem(
            f"the Pulumi CLI v{version} is not installed (looked in {root / 'bin'})",
            "the orchestrator drives Pulumi through the Automation API, which needs the CLI",
            "run `make setup` (it builds the CLI from its Go module, once per machine)",
        ) from None
    if key in _checked:
        return _checked[key]
    reported = _reported_version(binary)
    if reported != version:
        raise EnvironmentProblem(
            f"the Pulumi CLI at {binary} reports version {reported!r}, the pulumi package is {version}",
            "the CLI and the Python package must be the same version",
            f"delete {root} and run `make setup` to rebuild it",
        )
    _checked[key] = Engine(root=root, version=version)
    return _checked[key]


def engine_env(project_root: Path, engine: Engine | None = None, *, warn: bool = True) -> dict[str, str]:
    """Environment variables for every Pulumi run of this project."""
    engine = engine or locate_engine()
    env: dict[str, str] = {
        "PULUMI_SKIP_UPDATE_CHECK": "true",
        "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
        # The language host and the provider plugin run with this interpreter.
        "ORCHESTRATOR_PYTHON": sys.executable,
        "PATH": os.pathsep.join(
            [str(engine.bin_dir), str(Path(sys.executable).parent), os.environ.get("PATH", "")]
        ),
    }
    if not os.environ.get("PULUMI_BACKEND_URL"):
        state = project_root / ".pulumi-state"
        state.mkdir(exist_ok=True)
        env["PULUMI_BACKEND_URL"] = state.as_uri()
    if not os.environ.get("PULUMI_CONFIG_PASSPHRASE") and not os.environ.get("PULUMI_CONFIG_PASSPHRASE_FILE"):
        env["PULUMI_CONFIG_PASSPHRASE"] = DEFAULT_LOCAL_PASSPHRASE
        if warn:
            warnings.warn(
                "PULUMI_CONFIG_PASSPHRASE is not set: using the documented local default passphrase. "
                "Fine for the local demo; set your own (or a KMS secrets provider) for real stacks.",
                PassphraseWarning,
                stacklevel=2,
            )
    return env


def which_pulumi(env: dict[str, str]) -> str | None:
    return shutil.which("pulumi", path=env.get("PATH"))
