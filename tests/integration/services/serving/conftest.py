"""The serving tests' usual world: one app whose revision R1 has all traffic and runs one
replica (test modules that need another start define their own `world`)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from tests.support.world import World, close_world, make_world

from slipway.domain.models import TrafficSplit

R1 = "web-00001"


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    w = await make_world(tmp_path)
    await w.revision()
    await w.traffic([TrafficSplit(R1, 100)])
    w.running([(R1, 1)])
    yield w
    await close_world(w)
