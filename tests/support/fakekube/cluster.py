"""`FakeCluster`: the fake API server on loopback, in a thread with its own event loop."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import uvicorn
import yaml
from tests.support.fakekube.api import TOKEN, Api, Induced
from tests.support.fakekube.controllers import Controllers
from tests.support.fakekube.resources import BY_KEY, Obj, rfc3339
from tests.support.fakekube.store import Store


class FakeCluster:
    """A fake Kubernetes API server with simulated controllers (see the package docstring).

    Starts with the namespace `default`. Inspection methods are thread-safe and return copies.
    """

    def __init__(
        self, *, knative: bool = False, ready_after: float = 0.3, hpa_sync_seconds: float = 1.0
    ) -> None:
        self.knative = knative
        self._store = Store()
        self._controllers = Controllers(
            self._store, ready_after=ready_after, hpa_sync_seconds=hpa_sync_seconds
        )
        self._api = Api(self._store, self._controllers, knative=knative)
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._crash: BaseException | None = None
        self.url = ""
        self._store.put(
            "Namespace",
            {
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {
                    "name": "default",
                    "uid": "00000000-0000-4000-8000-000000000000",
                    "creationTimestamp": rfc3339(time.time()),
                    "generation": 1,
                },
                "status": {"phase": "Active"},
            },
        )

    # lifecycle

    def start(self) -> str:
        if self._server is not None:
            return self.url
        self._api.closing = False
        config = uvicorn.Config(
            self._api.app,
            host="127.0.0.1",
            port=0,
            log_config=None,
            log_level="warning",
            access_log=False,
            lifespan="off",
            ws="none",
            timeout_graceful_shutdown=1,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._run, name="fakekube", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self._thread.join(1)
                raise RuntimeError(f"fakekube did not start: {self._crash!r}")
            time.sleep(0.01)
        port = self._server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self.url

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # reported by start()
            self._crash = exc

    async def _serve(self) -> None:
        assert self._server is not None
        self._loop = asyncio.get_running_loop()
        controllers = asyncio.create_task(self._controllers.run())
        try:
            await self._server.serve()
        finally:
            controllers.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await controllers

    def stop(self) -> None:
        if self._server is None or self._thread is None:
            return
        self._api.closing = True
        if self._loop is not None and self._thread.is_alive():
            with contextlib.suppress(RuntimeError):  # the loop already closed
                self._loop.call_soon_threadsafe(self._close_watchers)
        self._server.should_exit = True
        self._thread.join(15)
        self._server = None
        self._thread = None

    def _close_watchers(self) -> None:
        with self._store.lock:
            self._store.close_watchers()

    def __enter__(self) -> FakeCluster:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def kubeconfig(self, path: Path) -> Path:
        config: dict[str, Any] = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {"name": "fake", "cluster": {"server": self.url, "insecure-skip-tls-verify": True}}
            ],
            "users": [{"name": "fake", "user": {"token": TOKEN}}],
            "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "fake"}}],
            "current-context": "fake",
            "preferences": {},
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        return path

    # inspection

    def objects(self, kind: str, namespace: str | None = None) -> list[Obj]:
        """Objects of `kind` ("Deployment", "Service" (core), "knative.Service", "Revision"),
        sorted by (namespace, name)."""
        if kind not in BY_KEY:
            raise ValueError(f"fakekube knows no kind {kind!r}; one of {sorted(BY_KEY)}")
        with self._store.lock:
            return copy.deepcopy(self._store.items(kind, namespace))

    def get(self, kind: str, namespace: str | None, name: str) -> Obj | None:
        if kind not in BY_KEY:
            raise ValueError(f"fakekube knows no kind {kind!r}; one of {sorted(BY_KEY)}")
        with self._store.lock:
            return copy.deepcopy(self._store.get(kind, namespace, name))

    def pods(self, namespace: str | None = None) -> list[Obj]:
        return self.objects("Pod", namespace)

    def applied(self) -> list[tuple[str, str, Obj]]:
        """Every server-side apply and delete received, in order: (verb, path, body or {})."""
        with self._store.lock:
            return copy.deepcopy(self._api.applied)

    def requests(self) -> list[tuple[str, str]]:
        """(method, path?query) of every request received, in order."""
        with self._store.lock:
            return list(self._api.requests)

    def fail_next(self, method: str, path_contains: str, status: int = 500, times: int = 1) -> None:
        """The next `times` requests of `method` whose path (with query) contains
        `path_contains` are answered with a Status of code `status`."""
        with self._store.lock:
            self._api.induced.append(Induced(method.upper(), path_contains, status, times))
