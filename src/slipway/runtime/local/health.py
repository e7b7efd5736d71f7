"""Health probes: an HTTP GET that must answer 2xx/3xx, or a bare TCP connect.

The probe connects from inside the replica's network namespace (`slipway.sandbox.netns`), to
`127.0.0.1:$PORT` there, and speaks just enough HTTP/1.1 over an asyncio stream to read the
status line; it never follows redirects and never reads the body.
"""

from __future__ import annotations

import asyncio
import contextlib

from slipway.sandbox.netns import open_connection

PROBE_TIMEOUT = 2.0


async def probe(host: str, port: int, path: str | None, *, netns: str = "") -> str | None:
    """None when healthy, else a short description of what went wrong. `netns`: the
    replica's network namespace, where `host:port` is (the probe connects from inside)."""
    try:
        return await asyncio.wait_for(_probe(host, port, path, netns), PROBE_TIMEOUT)
    except TimeoutError:
        return "no answer"
    except OSError:
        return "connection refused"


async def _probe(host: str, port: int, path: str | None, netns: str) -> str | None:
    reader, writer = await open_connection(host, port, netns)
    try:
        if path is None:
            return None
        if not path.startswith("/"):
            path = "/" + path
        writer.write(
            f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUser-Agent: slipway-health\r\n"
            "Accept: */*\r\nConnection: close\r\n\r\n".encode("latin-1")
        )
        await writer.drain()
        line = await reader.readline()
        parts = line.split()
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/") or not parts[1].isdigit():
            return "an invalid HTTP answer"
        status = int(parts[1])
        return None if 200 <= status < 400 else f"HTTP {status}"
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
