"""What the cluster holds, kept current by watches (not polls): every object of the given
kinds that carries Slipway's label, across namespaces. A watch that ends is started again
from the last version seen; one whose version expired (410) lists again."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from slipway.runtime.kubernetes.api import ApiError, KubeApi, WatchExpired
from slipway.runtime.kubernetes.kinds import Kind
from slipway.runtime.kubernetes.manifests import MANAGED

log = logging.getLogger(__name__)

RETRY_SECONDS = 1.0

Key = tuple[str, str]  # (namespace, name)
Listener = Callable[[Kind, str, dict[str, Any]], None]  # kind, event type, object


class ClusterCache:
    def __init__(self, api: KubeApi, kinds: tuple[Kind, ...], on_event: Listener) -> None:
        self._api = api
        self._kinds = kinds
        self._on_event = on_event
        self.objects: dict[Kind, dict[Key, dict[str, Any]]] = {k: {} for k in kinds}
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        """List every kind once (so the first answers are complete), then watch."""
        versions = [await self._relist(kind) for kind in self._kinds]
        self._tasks = [
            asyncio.create_task(self._watch(kind, version), name=f"watch {kind.plural}")
            for kind, version in zip(self._kinds, versions, strict=True)
        ]

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _relist(self, kind: Kind) -> str:
        items, version = await self._api.list(kind, selector=MANAGED)
        fresh = {_key(obj): obj for obj in items}
        old = self.objects[kind]
        self.objects[kind] = fresh
        for key, obj in old.items():
            if key not in fresh:
                self._on_event(kind, "DELETED", obj)
        for obj in fresh.values():
            self._on_event(kind, "MODIFIED", obj)
        return version

    async def _watch(self, kind: Kind, version: str) -> None:
        while True:
            try:
                async for kind_event, obj in self._api.watch(
                    kind, resource_version=version, selector=MANAGED
                ):
                    version = obj.get("metadata", {}).get("resourceVersion", version)
                    self._apply(kind, kind_event, obj)
            except asyncio.CancelledError:
                raise
            except WatchExpired:
                version = await self._relist_later(kind, version)
                continue
            except (ApiError, OSError, ValueError) as exc:
                log.warning(
                    "watching %s failed (%s); again in %gs", kind.plural, exc, RETRY_SECONDS
                )
                await asyncio.sleep(RETRY_SECONDS)
                version = await self._relist_later(kind, version)
                continue
            except Exception as exc:  # httpx's transport errors and the like
                log.warning("watching %s ended (%s); again in %gs", kind.plural, exc, RETRY_SECONDS)
                await asyncio.sleep(RETRY_SECONDS)

    async def _relist_later(self, kind: Kind, version: str) -> str:
        try:
            return await self._relist(kind)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("listing %s failed (%s)", kind.plural, exc)
            await asyncio.sleep(RETRY_SECONDS)
            return version

    def _apply(self, kind: Kind, event: str, obj: dict[str, Any]) -> None:
        obj = {"apiVersion": kind.api_version, "kind": kind.kind, **obj}
        if event == "DELETED":
            self.objects[kind].pop(_key(obj), None)
        elif event in ("ADDED", "MODIFIED"):
            self.objects[kind][_key(obj)] = obj
        else:
            return
        self._on_event(kind, event, obj)


def _key(obj: dict[str, Any]) -> Key:
    meta = obj.get("metadata", {})
    return str(meta.get("namespace", "")), str(meta.get("name", ""))
