"""A real HTTP server for the WebSocket tests: the API on uvicorn on a free loopback port, in
the test's event loop, plus a builder that writes the lines a test tells it to."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Iterator

import uvicorn


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@contextlib.asynccontextmanager
async def serving(app: object) -> AsyncIterator[str]:
    """Serve an ASGI app on 127.0.0.1; yields 'host:port'."""
    port = free_port()
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="off",  # type: ignore[arg-type]
    )
    server = _Server(config)
    task = asyncio.ensure_future(server.serve())
    try:
        for _ in range(500):
            if server.started or task.done():
                break
            await asyncio.sleep(0.02)
        assert server.started, "uvicorn did not start"
        yield f"127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 30)


class StuckWatcher:
    """A WebSocket client that stops reading after the handshake (a plain socket with a
    small receive buffer under the sans-I/O protocol of `websockets`), and can later read
    whatever the server managed to send, up to its close frame."""

    def __init__(self, url: str) -> None:
        from websockets.client import ClientProtocol
        from websockets.uri import parse_uri

        uri = parse_uri(url)
        self.protocol = ClientProtocol(uri, max_size=None)
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.sock.connect((uri.host, uri.port))
        self.protocol.send_request(self.protocol.connect())
        self._send_pending()
        while self.protocol.handshake_exc is None and not self._handshake_done():
            self.protocol.receive_data(self.sock.recv(4096))
        assert self.protocol.handshake_exc is None

    def _handshake_done(self) -> bool:
        from websockets.protocol import State

        return self.protocol.state is State.OPEN

    def _send_pending(self) -> None:
        for data in self.protocol.data_to_send():
            if data:
                self.sock.sendall(data)

    def read_to_close(self, timeout: float) -> tuple[list[str], int | None, str]:
        """Read every frame until the server closes; returns (texts, close code, reason)."""
        from websockets.frames import Frame, Opcode

        self.sock.settimeout(timeout)
        texts: list[str] = []
        while True:
            data = self.sock.recv(1 << 20)
            if data:
                self.protocol.receive_data(data)
            else:
                self.protocol.receive_eof()
            for event in self.protocol.events_received():
                if isinstance(event, Frame) and event.opcode is Opcode.TEXT:
                    texts.append(event.data.decode())
            self._send_pending()
            close = self.protocol.close_rcvd
            if close is not None or not data:
                self.sock.close()
                return texts, close.code if close else None, close.reason if close else ""
