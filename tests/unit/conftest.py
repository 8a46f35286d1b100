"""Shared by the unit tests."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def _an_event_loop() -> Iterator[None]:
    """Pulumi's mocks (set_mocks) need a current event loop in the main thread, and an
    `asyncio.run()` earlier in the session (the provider plugin's tests) leaves none."""
    try:
        asyncio.get_event_loop_policy().get_event_loop()
    except RuntimeError:
        asyncio.set_event_loop(asyncio.new_event_loop())
    yield
