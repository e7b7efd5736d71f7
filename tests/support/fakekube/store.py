"""The object store: every object by kind and (namespace, name), a global resourceVersion,
the event log that watches replay from, the watchers, and garbage collection."""

from __future__ import annotations

import asyncio
import copy
import threading
from collections import deque
from dataclasses import dataclass, field

from tests.support.fakekube.resources import BY_KEY, Obj, Selector, matches, meta, owned_by

EVENT_LOG_SIZE = 1000


@dataclass(eq=False)
class Watcher:
    key: str
    namespace: str | None
    selector: Selector
    queue: asyncio.Queue[Obj | None] = field(default_factory=asyncio.Queue)

    def wants(self, key: str, obj: Obj) -> bool:
        if key != self.key:
            return False
        if self.namespace is not None and meta(obj).get("namespace") != self.namespace:
            return False
        return matches(self.selector, meta(obj).get("labels"))


@dataclass
class Event:
    rv: int
    key: str
    type: str
    obj: Obj


class Store:
    """Touched only under `lock` (the server's loop and the tests' threads share it)."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.rv = 0
        self.objects: dict[str, dict[tuple[str, str], Obj]] = {key: {} for key in BY_KEY}
        self.events: deque[Event] = deque(maxlen=EVENT_LOG_SIZE)
        self.watchers: list[Watcher] = []

    def get(self, key: str, namespace: str | None, name: str) -> Obj | None:
        return self.objects[key].get((namespace or "", name))

    def items(
        self, key: str, namespace: str | None = None, selector: Selector | None = None
    ) -> list[Obj]:
        found = [
            obj
            for (ns, _), obj in self.objects[key].items()
            if (namespace is None or ns == namespace)
            and matches(selector or [], meta(obj).get("labels"))
        ]
        return sorted(found, key=lambda obj: (meta(obj).get("namespace", ""), meta(obj)["name"]))

    def owned(self, key: str, namespace: str, uid: str) -> list[Obj]:
        return [obj for obj in self.items(key, namespace) if owned_by(obj, uid)]

    def put(self, key: str, obj: Obj) -> Obj:
        """Stores `obj` (taking it over), stamps a new resourceVersion and tells watchers."""
        where = (meta(obj).get("namespace", ""), meta(obj)["name"])
        kind = "MODIFIED" if where in self.objects[key] else "ADDED"
        self.rv += 1
        meta(obj)["resourceVersion"] = str(self.rv)
        self.objects[key][where] = obj
        self._emit(key, kind, obj)
        return obj

    def remove(self, key: str, namespace: str | None, name: str) -> Obj | None:
        obj = self.objects[key].pop((namespace or "", name), None)
        if obj is not None:
            self.rv += 1
            meta(obj)["resourceVersion"] = str(self.rv)
            self._emit(key, "DELETED", obj)
        return obj

    def _emit(self, key: str, kind: str, obj: Obj) -> None:
        snapshot = copy.deepcopy(obj)
        self.events.append(Event(self.rv, key, kind, snapshot))
        for watcher in self.watchers:
            if watcher.wants(key, snapshot):
                watcher.queue.put_nowait({"type": kind, "object": copy.deepcopy(snapshot)})

    def delete(self, key: str, namespace: str | None, name: str, policy: str) -> Obj | None:
        """Deletes an object and, unless `policy` is Orphan, its dependents (recursively);
        a Namespace takes everything in it along."""
        obj = self.remove(key, namespace, name)
        if obj is None:
            return None
        uid = meta(obj).get("uid", "")
        if key == "Namespace":
            for other in BY_KEY:
                for item in self.items(other, name):
                    self.delete(other, name, meta(item)["name"], "Background")
        for other in BY_KEY:
            for item in list(self.objects[other].values()):
                if not owned_by(item, uid):
                    continue
                item_meta = meta(item)
                if policy == "Orphan":
                    changed = copy.deepcopy(item)
                    refs = [r for r in item_meta["ownerReferences"] if r.get("uid") != uid]
                    meta(changed)["ownerReferences"] = refs
                    self.put(other, changed)
                else:
                    self.delete(other, item_meta.get("namespace"), item_meta["name"], policy)
        return obj

    def replay(self, key: str, after: int, watcher: Watcher) -> list[Obj] | None:
        """The events after resourceVersion `after` that `watcher` wants, or None when the
        log no longer reaches back that far."""
        if after >= self.rv:
            return []
        if not self.events or self.events[0].rv > after + 1:
            return None
        return [
            {"type": event.type, "object": copy.deepcopy(event.obj)}
            for event in self.events
            if event.rv > after and watcher.wants(event.key, event.obj)
        ]

    def close_watchers(self) -> None:
        for watcher in self.watchers:
            watcher.queue.put_nowait(None)
