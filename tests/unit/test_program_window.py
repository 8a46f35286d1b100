"""The program declares at most AHEAD resources ahead of the engine's answers
(adapters/pulumi/program.py): enough to keep the engine busy, not the whole stack in memory."""

from __future__ import annotations

import asyncio
from typing import Any

from orchestrator.adapters.pulumi import program


class Answer:
    """Stands in for a resource's `urn` Output: its future resolves when the engine answers."""

    def __init__(self) -> None:
        self.done: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    async def future(self) -> str:
        return await self.done


class Declared:
    def __init__(self) -> None:
        self.urn = Answer()


def test_the_program_waits_for_answers_once_ahead_of_the_engine(monkeypatch):
    monkeypatch.setattr(program, "AHEAD", 3)
    made: list[Declared] = []

    def declare(_topology: Any, _active: Any):
        for i in range(6):
            made.append(Declared())
            yield f"r{i}", made[-1]

    monkeypatch.setattr(program, "declare", declare)

    async def run() -> list[str]:
        task = asyncio.ensure_future(program.build_interleaved(None, ()))  # type: ignore[arg-type]
        for _ in range(20):
            await asyncio.sleep(0)
        assert len(made) == 3 and not task.done()  # three declared, none answered: it waits
        made[0].urn.done.set_result("urn:0")
        for _ in range(20):
            await asyncio.sleep(0)
        assert len(made) == 4  # one answered, one more declared
        while not task.done():  # the engine answers the rest as they come
            for d in made:
                if not d.urn.done.done():
                    d.urn.done.set_result("urn")
            await asyncio.sleep(0)
        return task.result()

    assert asyncio.run(run()) == [f"r{i}" for i in range(6)]


def test_a_failed_registration_does_not_stop_the_declarations(monkeypatch):
    monkeypatch.setattr(program, "AHEAD", 1)

    def declare(_topology: Any, _active: Any):
        for i in range(3):
            d = Declared()
            d.urn.done.set_exception(RuntimeError("the engine refused it"))
            yield f"r{i}", d

    monkeypatch.setattr(program, "declare", declare)

    async def run() -> list[str]:
        return await program.build_interleaved(None, ())  # type: ignore[arg-type]

    assert asyncio.run(run()) == ["r0", "r1", "r2"]
