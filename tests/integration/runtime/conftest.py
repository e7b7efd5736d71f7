"""A real LocalRuntime for each test, closed (every replica stopped) afterwards."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from slipway.runtime.local import LocalRuntime


@pytest.fixture
async def runtime() -> AsyncIterator[LocalRuntime]:
    rt = LocalRuntime()
    yield rt
    await rt.close()
