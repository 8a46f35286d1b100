"""The settings every Pulumi run gets, and where the pinned CLI lives.

One place decides the backend, the secrets passphrase, update checks and plugin
acquisition, so that the orchestrator, the tests and `orchestrator engine env` (for
running `pulumi` by hand) behave the same.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import os
import shutil
import subprocess
import sys
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from orchestrator.adapters.files.paths import state_dir
from orchestrator.domain.errors import EnvironmentProblem

if TYPE_CHECKING:
    from pulumi import automation as auto

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


# The Automation API's handle on each CLI binary. Creating one runs `pulumi version`, which is
# also how the engine's version is checked: one process start instead of two per command.
_commands: dict[Path, auto.PulumiCommand] = {}


def _reported_version(binary: Path) -> str | None:
    from pulumi import automation as auto  # the Automation API only once a command needs it

    try:
        # The pin is checked by locate_engine (exactly), not by the API's minimum version.
        command = auto.PulumiCommand(root=str(binary.parent.parent), skip_version_check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    _commands[binary] = command
    return str(command.version) if command.version else None


def pulumi_command(engine: Engine) -> auto.PulumiCommand:
    """The Automation API's PulumiCommand for `engine`, one per binary and process."""
    from pulumi import automation as auto

    if engine.pulumi not in _commands:
        _commands[engine.pulumi] = auto.PulumiCommand(root=str(engine.root), skip_version_check=True)
    return _commands[engine.pulumi]


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


ENGINE_GOGC = "50"

# "0": the program, the policy pack and the provider plugin each run in a process of their
# own (docs/engine.md); by default each is served inside a process that has the interpreter,
# gRPC and the Pulumi SDK loaded already.
IN_PROCESS_ENV = "ORCHESTRATOR_IN_PROCESS"


def in_process(env: Mapping[str, str] | None = None) -> bool:
    return (env or {}).get(IN_PROCESS_ENV, os.environ.get(IN_PROCESS_ENV, "1")) != "0"


def engine_env(project_root: Path, engine: Engine | None = None, *, warn: bool = True) -> dict[str, str]:
    """Environment variables for every Pulumi run of this project."""
    engine = engine or locate_engine()
    env: dict[str, str] = {
        "PULUMI_SKIP_UPDATE_CHECK": "true",
        "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
        "PULUMI_HOME": str(engine_home(project_root)),
        # The language host and the provider plugin run with this interpreter.
        "ORCHESTRATOR_PYTHON": sys.executable,
        "PATH": os.pathsep.join(
            [str(engine.bin_dir), str(Path(sys.executable).parent), os.environ.get("PATH", "")]
        ),
    }
    if not os.environ.get("PULUMI_PARALLEL_DIFF"):
        # The engine's own option: a resource's Diff runs as a step of its own while the next
        # resources are checked, instead of inline on the serial step generation. The same
        # decisions; 0.4-0.7 s off a 1,000-hostname dry-run (docs/engine.md).
        env["PULUMI_PARALLEL_DIFF"] = "true"
    if not os.environ.get("GOGC"):
        # The engine (Go) holds every resource, old and new, at the peak of a switch's memory:
        # collected at 50 % growth instead of 100 %, about 28 MB less at 1,000 hostnames for
        # about 0.45 s more of a dry-run (docs/engine.md).
        env["GOGC"] = ENGINE_GOGC
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


# Set to 1 to keep the CLI's automatic log of every engine run (docs/engine.md, "The engine's
# own log"): for a support case, read with `pulumi logs decrypt`.
ENGINE_LOGS_ENV = "ORCHESTRATOR_PULUMI_LOGS"
# Entries of the user's Pulumi home that the project's engine runs share with it.
SHARED_HOME_ENTRIES = ("plugins", "credentials.json")


def user_pulumi_home() -> Path:
    return Path(os.environ.get("PULUMI_HOME") or Path.home() / ".pulumi")


def engine_home(project_root: Path) -> Path:
    """The Pulumi home of this project's engine runs: <state>/pulumi-home.

    Pulumi 3.259 writes a debug-level log of every run, every resource's properties included,
    gzipped and encrypted, to <home>/logs; at 3,000 resources that costs about a third of the
    engine's CPU in a preview. A regular file named `logs` where the CLI wants that directory
    turns the log off (the CLI then runs without it). The plugins and credentials of the
    user's own Pulumi home stay in use through links.
    """
    home = state_dir(project_root) / "pulumi-home"
    home.mkdir(parents=True, exist_ok=True)
    user = user_pulumi_home()
    for name in SHARED_HOME_ENTRIES:
        link, target = home / name, user / name
        if target.exists() and not link.is_symlink() and not link.exists():
            with contextlib.suppress(FileExistsError):  # a concurrent run made it
                link.symlink_to(target)
    logs = home / "logs"
    keep = os.environ.get(ENGINE_LOGS_ENV, "").strip().lower() in ("1", "true", "yes", "on")
    if keep and logs.is_file():
        logs.unlink(missing_ok=True)
    elif not keep and logs.is_dir():
        # Kept from a run with the log on: set aside, never deleted by the orchestrator.
        with contextlib.suppress(FileNotFoundError):  # a concurrent run moved it
            logs.rename(home / f"logs-kept-{time.time_ns()}")
    if not keep:
        logs.touch()
    return home


def which_pulumi(env: dict[str, str]) -> str | None:
    return shutil.which("pulumi", path=env.get("PATH"))
