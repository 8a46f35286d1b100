"""ProjectStack's handling of the Automation API's Stack (adapters/pulumi/stack.py), without an engine."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from orchestrator.adapters.pulumi.stack import ProjectStack, _result_not_read


class FakeStack:
    """Stands in for auto.Stack: its up() reads the outputs and the newest history entry after."""

    def __init__(self) -> None:
        self.cli_runs: list[str] = []

    def outputs(self) -> dict[str, Any]:
        self.cli_runs.append("stack output")
        return {"recordSets": ["a"]}

    def info(self, show_secrets: bool = True) -> Any:
        self.cli_runs.append("stack history")
        return "summary"

    def up(self) -> tuple[Any, Any]:
        return self.outputs(), self.info(False)


def test_an_update_whose_result_is_not_read_runs_no_cli_command_for_it():
    stack = FakeStack()
    with _result_not_read(stack, read=False):  # type: ignore[arg-type]
        outputs, summary = stack.up()
    assert stack.cli_runs == [] and outputs == {} and summary.result == "succeeded"
    # Afterwards the stack reads its result again, as for any other caller.
    assert stack.up() == ({"recordSets": ["a"]}, "summary")
    assert stack.cli_runs == ["stack output", "stack history"]


def test_the_stack_is_restored_when_the_update_fails():
    stack = FakeStack()
    with pytest.raises(RuntimeError), _result_not_read(stack, read=False):  # type: ignore[arg-type]
        raise RuntimeError("engine failed")
    assert stack.up() == ({"recordSets": ["a"]}, "summary")


def test_a_caller_that_reads_the_result_gets_it():
    stack = FakeStack()
    with _result_not_read(stack, read=True):  # type: ignore[arg-type]
        assert stack.up() == ({"recordSets": ["a"]}, "summary")


class PreviewOnly:
    """Stands in for auto.Stack's preview: records the options the engine would get."""

    def __init__(self) -> None:
        self.workspace = SimpleNamespace(env_vars={"ORCHESTRATOR_PROVIDER_ATTACH": "0"})
        self.options: list[dict[str, Any]] = []

    def preview(self, **options: Any) -> str:
        self.options.append(options)
        return "result"


@pytest.mark.parametrize(("refresh", "run_program"), [(True, True), (False, None)])
def test_a_refreshing_preview_refreshes_each_resource_as_the_program_declares_it(refresh, run_program):
    project = object.__new__(ProjectStack)  # no engine needed: the stack is the stand-in
    project.name, fake = "s", PreviewOnly()
    project._stack, project._started = fake, None  # type: ignore[assignment]
    project.preview(refresh=refresh)
    assert fake.options[0]["refresh"] is refresh
    assert fake.options[0]["run_program"] is run_program


class FakePlugin:
    """Stands in for attach.start's plugin: counts starts and stops."""

    made: list[FakePlugin] = []

    def __init__(self, env: dict[str, str], *_: Any) -> None:
        self.env, self.stopped, self.attached = dict(env), 0, 0
        FakePlugin.made.append(self)

    def attach_env(self) -> dict[str, str]:
        self.attached += 1
        return {"PULUMI_DEBUG_PROVIDERS": f"orchestrator:{len(FakePlugin.made)}"}

    def stop(self) -> None:
        self.stopped += 1


def fake_project(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> tuple[ProjectStack, PreviewOnly]:
    from orchestrator.adapters.pulumi import stack as stack_module

    FakePlugin.made = []
    monkeypatch.setattr(stack_module.attach, "start", FakePlugin)
    monkeypatch.setattr(stack_module.attach, "enabled", lambda env: True)
    project = object.__new__(ProjectStack)
    fake = PreviewOnly()
    project.name, project.root, project.env = "s", tmp_path, {}
    project._stack, project._started = fake, None  # type: ignore[assignment]
    return project, fake


def test_a_plugin_started_ahead_serves_the_next_run_with_the_same_environment(monkeypatch, tmp_path):
    project, fake = fake_project(monkeypatch, tmp_path)
    with project.starting_run({"ORCHESTRATOR_FENCE": "f"}):
        assert len(FakePlugin.made) == 1 and FakePlugin.made[0].attached == 0  # not waited for
        project.preview(extra_env={"ORCHESTRATOR_FENCE": "f"})
        # One plugin per engine run: the next run starts its own.
        project.preview(extra_env={"ORCHESTRATOR_FENCE": "f"})
    first, second = FakePlugin.made
    assert first.attached == 1 and second.attached == 1
    assert first.stopped >= 1 and second.stopped == 1
    assert fake.options and len(fake.options) == 2


def test_a_plugin_started_for_another_environment_is_not_used_and_still_stopped(monkeypatch, tmp_path):
    project, _ = fake_project(monkeypatch, tmp_path)
    with project.starting_run({"ORCHESTRATOR_FENCE": "f"}):
        project.preview(extra_env={"ORCHESTRATOR_FENCE": "other"})
    ahead, used = FakePlugin.made
    assert ahead.attached == 0 and ahead.stopped == 1
    assert used.attached == 1 and used.stopped == 1
