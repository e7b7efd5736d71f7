"""Replica output from the cluster into Slipway's runtime logs (`GET .../logs` and its live
stream read them as on the local runtime): one follower per running container of a replica
pod, started when the watch sees it run and again after each restart (a new container, a
new log). Pods that ran before this process started are followed from now on, not replayed.
The log API merges stdout and stderr: every line is recorded as stdout."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any, Protocol

from slipway.domain.revisionkeys import parse_revision_key
from slipway.ports import RevisionSpec
from slipway.runtime.kubernetes import manifests as m
from slipway.runtime.kubernetes.api import KubeApi

log = logging.getLogger(__name__)


class OutputSinks(Protocol):
    """Where replica output goes (`runtime.local.logs.AppLogFiles`)."""

    def sink(self, spec: RevisionSpec) -> Callable[[str, str], None]: ...


class PodLogs:
    def __init__(self, api: KubeApi, sinks: OutputSinks | None) -> None:
        self._api = api
        self._sinks = sinks
        self._followers: dict[str, tuple[int, asyncio.Task[None]]] = {}  # pod uid -> restarts

    def pod_changed(self, event: str, pod: dict[str, Any], key: str, *, replay: bool) -> None:
        if self._sinks is None:
            return
        uid = str(pod["metadata"].get("uid", ""))
        running = _running_restarts(pod)
        current = self._followers.get(uid)
        if event == "DELETED" or running is None:
            return  # a follower ends with its container's log
        if current is not None and current[0] == running:
            return
        parsed = parse_revision_key(key)
        if parsed is None:
            return
        spec = RevisionSpec(key=key, workspace_id=parsed.workspace_id, app_id=parsed.app_id,
                            revision=parsed.revision, app_dir="", start_command="", env={},
                            health_check_path=None)  # fmt: skip
        sink = self._sinks.sink(spec)
        meta = pod["metadata"]
        task = asyncio.create_task(
            self._follow(meta["name"], meta["namespace"], sink, replay=replay),
            name=f"logs {meta['name']}",
        )
        self._followers[uid] = (running, task)
        task.add_done_callback(lambda _: self._forget(uid, task))

    async def close(self) -> None:
        tasks = [task for _, task in self._followers.values()]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def _forget(self, uid: str, task: asyncio.Task[None]) -> None:
        current = self._followers.get(uid)
        if current is not None and current[1] is task:
            del self._followers[uid]

    async def _follow(
        self, name: str, namespace: str, sink: Callable[[str, str], None], *, replay: bool
    ) -> None:
        try:
            async for line in self._api.log_lines(
                name, namespace, container=m.CONTAINER, tail=None if replay else 0
            ):
                sink("stdout", line)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the pod went, the API server hiccuped: the next event
            log.debug("following the log of pod %s ended: %s", name, exc)


def _running_restarts(pod: dict[str, Any]) -> int | None:
    """The app container's restart count while it runs; None when it does not."""
    for cs in pod.get("status", {}).get("containerStatuses") or []:
        if cs.get("name") == m.CONTAINER and (cs.get("state") or {}).get("running"):
            return int(cs.get("restartCount", 0))
    return None
