from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import uvloop

from slipway.router import RouterServer

sys.path.insert(0, str(Path(__file__).parent))

from backends import Backend


@pytest.fixture(scope="session")
def event_loop_policy() -> uvloop.EventLoopPolicy:
    return uvloop.EventLoopPolicy()


@pytest.fixture
async def router() -> AsyncIterator[RouterServer]:
    server = RouterServer()
    await server.start("127.0.0.1", 0)
    yield server
    await server.close()


@pytest.fixture
def backends() -> Iterator[list[Backend]]:
    made: list[Backend] = []
    yield made
    for b in made:
        b.stop()
