"""How the project drives the engine: update parallelism and the engine check per process."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from orchestrator.adapters.pulumi import environment
from orchestrator.adapters.pulumi.environment import Engine
from orchestrator.adapters.pulumi.stack import PLUGIN_PARALLEL, ProjectStack


def _project(tmp_path: Path, zones: list[dict[str, object]]) -> ProjectStack:
    (tmp_path / "stacks").mkdir()
    topology = {"zones": zones, "groups": {}}
    doc = {"config": {"orchestrator:topology": topology}}
    (tmp_path / "stacks" / "Pulumi.s.yaml").write_text(yaml.safe_dump(doc))
    return ProjectStack(tmp_path, "s", engine=Engine(root=tmp_path / "engine", version="0"))


@pytest.fixture(autouse=True)
def passphrase(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", "unit")


def test_zones_of_the_plugin_update_with_many_steps_in_flight(tmp_path: Path) -> None:
    zones = [{"name": "a.test", "provider": "powerdns"}, {"name": "b.test", "provider": "rfc2136"}]
    stack = _project(tmp_path, zones)
    assert stack._update_parallel == PLUGIN_PARALLEL


def test_a_cloud_zone_keeps_the_engine_default(tmp_path: Path) -> None:
    zones = [{"name": "a.test", "provider": "powerdns"}, {"name": "c.test", "provider": "route53"}]
    assert _project(tmp_path, zones)._update_parallel is None


def test_a_stack_file_without_zones_keeps_the_engine_default(tmp_path: Path) -> None:
    assert _project(tmp_path, [])._update_parallel is None


@pytest.fixture
def cached_binary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A CLI of the pinned version in an empty cache, and no engine checked yet."""
    binary = tmp_path / "pulumi" / f"v{environment.pulumi_version()}" / "bin" / "pulumi"
    binary.parent.mkdir(parents=True)
    binary.write_text("#!/bin/sh\n")
    monkeypatch.setenv("ORCHESTRATOR_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(environment, "_checked", {})
    monkeypatch.setattr(environment, "_commands", {})
    return binary


def test_the_engine_is_checked_once_per_process_and_again_when_rebuilt(
    cached_binary: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    version = environment.pulumi_version()
    binary = cached_binary
    asked: list[Path] = []

    def reported(path: Path) -> str:
        asked.append(path)
        return version

    monkeypatch.setattr(environment, "_reported_version", reported)
    first = environment.locate_engine()
    assert environment.locate_engine() == first
    assert asked == [binary]
    binary.write_text("#!/bin/sh\n# rebuilt\n")
    stat = binary.stat()
    os.utime(binary, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    environment.locate_engine()
    assert asked == [binary, binary]


def test_engine_runs_use_the_projects_pulumi_home_with_the_users_plugins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = tmp_path / "user-home"
    (user / "plugins").mkdir(parents=True)
    (user / "credentials.json").write_text("{}")
    monkeypatch.setenv("PULUMI_HOME", str(user))
    monkeypatch.delenv(environment.ENGINE_LOGS_ENV, raising=False)
    root = tmp_path / "project"
    home = environment.engine_home(root)
    assert home == root / ".orchestrator" / "pulumi-home"
    assert (home / "plugins").resolve() == (user / "plugins").resolve()
    assert (home / "credentials.json").resolve() == (user / "credentials.json").resolve()
    # The CLI's automatic log needs a directory there: a regular file turns it off.
    assert (home / "logs").is_file()
    assert environment.engine_home(root) == home  # idempotent: a second run changes nothing


def test_a_user_without_plugins_gets_no_dangling_link(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PULUMI_HOME", str(tmp_path / "empty"))
    home = environment.engine_home(tmp_path / "project")
    assert not (home / "plugins").exists() and not (home / "plugins").is_symlink()


def test_the_engine_log_can_be_kept_and_is_set_aside_when_turned_off(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PULUMI_HOME", str(tmp_path / "user"))
    root = tmp_path / "project"
    environment.engine_home(root)
    monkeypatch.setenv(environment.ENGINE_LOGS_ENV, "1")
    home = environment.engine_home(root)
    assert not (home / "logs").exists()  # the CLI makes the directory and logs into it
    (home / "logs").mkdir()
    (home / "logs" / "run.log").write_text("kept")
    monkeypatch.setenv(environment.ENGINE_LOGS_ENV, "0")
    environment.engine_home(root)
    assert (home / "logs").is_file()
    kept = list(home.glob("logs-kept-*/run.log"))
    assert [p.read_text() for p in kept] == ["kept"]  # set aside, never deleted


def test_engine_env_points_pulumi_at_the_projects_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PULUMI_HOME", str(tmp_path / "user"))
    env = environment.engine_env(tmp_path, Engine(root=tmp_path / "engine", version="0"), warn=False)
    assert env["PULUMI_HOME"] == str(environment.engine_home(tmp_path))


@pytest.mark.parametrize(
    ("variable", "own", "expected"),
    [
        # The engine diffs beside the serial step generation.
        ("PULUMI_PARALLEL_DIFF", None, "true"),
        ("PULUMI_PARALLEL_DIFF", "false", None),
        # The engine collects garbage sooner: the largest process at a switch's peak.
        ("GOGC", None, environment.ENGINE_GOGC),
        ("GOGC", "200", None),
    ],
)
def test_engine_settings_apply_unless_the_user_set_their_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, variable: str, own: str | None, expected: str | None
) -> None:
    if own is None:
        monkeypatch.delenv(variable, raising=False)
    else:
        monkeypatch.setenv(variable, own)  # the user's own setting reaches the engine
    env = environment.engine_env(tmp_path, Engine(root=tmp_path / "engine", version="0"), warn=False)
    assert env.get(variable) == expected


def test_a_stack_file_is_parsed_once_per_text_and_callers_get_their_own_copy(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from orchestrator.adapters.pulumi import stackconfig

    monkeypatch.setattr(stackconfig, "_PARSED", {})
    loads: list[str] = []
    real = yaml.load

    def counting(text: str, Loader: object) -> object:  # noqa: N803 (PyYAML's name)
        loads.append(text)
        return real(text, Loader=Loader)  # noqa: S506

    monkeypatch.setattr(stackconfig.yaml, "load", counting)
    text = "config:\n  orchestrator:activeGroups: [group-a]\n"
    first = stackconfig.parse_yaml(text)
    first["config"]["orchestrator:activeGroups"].append("changed by a caller")
    assert stackconfig.parse_yaml(text) == {"config": {"orchestrator:activeGroups": ["group-a"]}}
    assert len(loads) == 1
    assert stackconfig.parse_yaml(text.replace("group-a", "group-b"))["config"] != first["config"]
    assert len(loads) == 2  # another text (the file changed): parsed again


def test_the_version_check_and_the_automation_api_share_one_pulumi_version_run(
    cached_binary: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pulumi import automation as auto

    version = environment.pulumi_version()
    made: list[str] = []

    class Command:  # stands for auto.PulumiCommand, whose constructor runs `pulumi version`
        def __init__(self, root: str, skip_version_check: bool = False) -> None:
            made.append(root)
            self.version = version

    monkeypatch.setattr(auto, "PulumiCommand", Command)
    engine = environment.locate_engine()
    assert environment.pulumi_command(engine) is environment.pulumi_command(engine)
    assert made == [str(engine.root)]
