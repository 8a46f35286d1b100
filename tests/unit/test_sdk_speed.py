"""The program's SDK patches (adapters/pulumi/sdk_speed.py): same contract, linear cost."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from importlib.metadata import version
from typing import Any

import pytest
from pulumi import _types as sdk_types
from pulumi import log
from pulumi.runtime import resource as sdk_resource
from pulumi.runtime import stack as sdk_stack

from orchestrator.adapters.pulumi import sdk_speed


@pytest.fixture
def restored() -> Iterator[None]:
    """The SDK's module globals as they were: the patches are process-wide."""
    saved = (sdk_stack.wait_for_rpcs, sdk_resource._get_stack_trace, log.debug, sdk_types.resource_types)
    yield
    sdk_stack.wait_for_rpcs, sdk_resource._get_stack_trace, log.debug, sdk_types.resource_types = saved
    sdk_stack.SETTINGS.outputs.clear()


def test_the_patches_are_for_the_pinned_sdk(restored: None) -> None:
    # A new SDK must be measured again: this fails until MEASURED_ON follows the pin.
    assert version("pulumi") == sdk_speed.MEASURED_ON
    assert sdk_speed.apply({}) is True
    assert sdk_stack.wait_for_rpcs is sdk_speed.drain_outputs
    assert list(sdk_resource._get_stack_trace().frames) == []
    assert log.debug is sdk_speed._no_debug
    assert sdk_types.resource_types is sdk_speed.resource_types


def test_a_resource_class_types_are_resolved_once_and_answer_as_the_sdk_does() -> None:
    from orchestrator.adapters.pulumi.provider.resources import RecordSet as RecordSetResource

    expected = sdk_speed._SDK_RESOURCE_TYPES(RecordSetResource)
    first = sdk_speed.resource_types(RecordSetResource)
    assert first == expected
    first["changed"] = int  # a caller's copy: the cached answer stays as it was
    assert sdk_speed.resource_types(RecordSetResource) == expected
    assert RecordSetResource in sdk_speed._RESOURCE_TYPES


def test_debug_lines_stay_when_asked(restored: None) -> None:
    before = log.debug
    sdk_speed.apply({sdk_speed.DEBUG_ENV: "1"})
    assert log.debug is before


def _outputs_finishing_in_turn(
    n: int, fail_at: int | None = None, error: BaseException | None = None
) -> list[asyncio.Task[int]]:
    """(In a running loop) n output tasks that finish one after another, like an update's
    resources; the one at `fail_at` raises `error`."""
    gates = [asyncio.Event() for _ in range(n)]

    async def output(i: int) -> int:
        await gates[i].wait()
        if i == fail_at and error is not None:
            raise error
        if i + 1 < n:
            gates[i + 1].set()
        return i

    tasks = [asyncio.ensure_future(output(i)) for i in range(n)]
    gates[0].set()
    return tasks


def _drain(
    monkeypatch: pytest.MonkeyPatch, n: int, fail_at: int | None = None, error: BaseException | None = None
) -> int:
    """asyncio.wait calls made to drain n outputs finishing one at a time."""
    waits: list[int] = []
    real_wait = asyncio.wait

    async def counting_wait(tasks: Any, **kw: Any) -> Any:
        waits.append(len(tasks))
        return await real_wait(tasks, **kw)

    monkeypatch.setattr(asyncio, "wait", counting_wait)

    async def run() -> None:
        tasks = _outputs_finishing_in_turn(n, fail_at, error)
        sdk_stack.SETTINGS.outputs.update(tasks)
        try:
            await sdk_speed.drain_outputs()
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    asyncio.run(run())
    return len(waits)


def test_outputs_finishing_one_at_a_time_are_drained_in_one_wait(
    restored: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The SDK's own loop waits once per finished task (3,000 waits over up to 3,000 tasks).
    waits = _drain(monkeypatch, 3000)
    assert waits == 1
    assert not sdk_stack.SETTINGS.outputs


def test_a_failed_output_is_raised(restored: None, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match="boom"):
        _drain(monkeypatch, 50, fail_at=10, error=ValueError("boom"))


def test_a_failed_registration_is_left_as_the_sdk_leaves_it(restored: None) -> None:
    # Under continue-on-error a failed resource faults its outputs with this marker: the
    # program still finishes, with every other output awaited.
    async def run() -> None:
        async def failed() -> None:
            raise sdk_stack.ResourceRegistrationFailed()

        async def fine() -> int:
            return 1

        tasks = [asyncio.ensure_future(failed()), asyncio.ensure_future(fine())]
        sdk_stack.SETTINGS.outputs.update(tasks)
        await sdk_speed.drain_outputs()
        assert all(t.done() for t in tasks)

    asyncio.run(run())
    assert not sdk_stack.SETTINGS.outputs


def test_outputs_created_while_draining_are_awaited_too(restored: None) -> None:
    seen: list[str] = []

    async def run() -> None:
        async def late() -> None:
            seen.append("late")

        async def early() -> None:
            # An apply() that creates another output while the program drains.
            sdk_stack.SETTINGS.outputs.add(asyncio.ensure_future(late()))
            seen.append("early")

        sdk_stack.SETTINGS.outputs.add(asyncio.ensure_future(early()))
        await sdk_speed.drain_outputs()

    asyncio.run(run())
    assert seen == ["early", "late"]
