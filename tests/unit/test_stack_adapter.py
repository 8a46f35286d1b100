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
    project._stack = fake  # type: ignore[assignment]
    project.preview(refresh=refresh)
    assert fake.options[0]["refresh"] is refresh
    assert fake.options[0]["run_program"] is run_program
