"""The project's engine runs use their own Pulumi home, where the CLI's automatic log is off
(docs/engine.md, "The engine's own log"), and ORCHESTRATOR_PULUMI_LOGS=1 turns it back on."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from orchestrator.adapters.pulumi.environment import ENGINE_LOGS_ENV, engine_env, locate_engine


def _whoami(root: Path) -> Path:
    engine = locate_engine()
    env = {**os.environ, **engine_env(root, engine, warn=False)}
    done = subprocess.run(
        [str(engine.pulumi), "whoami"], cwd=root, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return Path(env["PULUMI_HOME"])


def test_the_cli_writes_no_automatic_log_by_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENGINE_LOGS_ENV, raising=False)
    home = _whoami(tmp_path)
    assert home.is_relative_to(tmp_path)
    assert (home / "logs").is_file()  # still the placeholder: the CLI made no directory, no log


def test_the_automatic_log_can_be_kept_for_a_support_case(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENGINE_LOGS_ENV, "1")
    home = _whoami(tmp_path)
    assert [p.name for p in (home / "logs").iterdir() if "whoami" in p.name]
