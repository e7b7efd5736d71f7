"""A WebSocket app and a long poll through `slipway up`: the router tunnels only after the
app's 101, from a client on the host to a replica in its own network namespace."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from tests.e2e.conftest import deploy
from websockets.asyncio.client import connect

pytestmark = pytest.mark.e2e

ECHO = """\
import asyncio, os, time
from http import HTTPStatus
from websockets.asyncio.server import serve
from websockets.http11 import Response
from websockets.datastructures import Headers

async def echo(ws):
    async for message in ws:
        await ws.send("echo " + message)

def plain(connection, request):
    if request.path == "/poll":  # a long poll: the answer comes after a while
        time.sleep(2)
        return Response(200, "OK", Headers({"Content-Length": "6"}), b"polled")
    if request.headers.get("Upgrade") is None:
        return Response(200, "OK", Headers({"Content-Length": "2"}), b"ok")
    return None

async def main():
    async with serve(echo, "127.0.0.1", int(os.environ["PORT"]), process_request=plain):
        await asyncio.Future()

asyncio.run(main())
"""


def test_a_websocket_app_and_a_long_poll_work_through_the_router(platform, make_repo):
    ws_id, key = platform.workspace("live")
    api = platform.client(key)
    repo = make_repo("echo")
    repo.commit({"main.py": ECHO, "Procfile": "web: python3 main.py\n"}, "feat: echo")
    app = api.post(f"/workspaces/{ws_id}/apps", json={"name": "echo", "gitUrl": repo.url}).json()
    assert deploy(api, ws_id, app["id"])["status"] == "succeeded"
    host = "echo.live.localhost"

    async def talk() -> list[str]:
        uri = f"ws://{host}:{platform.router_port}/"
        async with connect(uri, host="127.0.0.1", port=platform.router_port) as ws:
            answers = []
            for word in ("one", "two", "three"):
                await ws.send(word)
                answers.append(await asyncio.wait_for(ws.recv(), 10))
            return answers

    assert asyncio.run(talk()) == ["echo one", "echo two", "echo three"]
    polled = httpx.get(f"http://127.0.0.1:{platform.router_port}/poll", headers={"Host": host},
                       timeout=20)  # fmt: skip
    assert polled.text == "polled"
