"""The HTTP side: a Starlette app answering the Kubernetes REST paths the fake knows."""

from __future__ import annotations

import asyncio
import base64
import copy
import json
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import yaml
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route
from tests.support.fakekube.controllers import DEFAULT_TRAFFIC, Controllers
from tests.support.fakekube.resources import (
    DEPLOYMENT,
    KNATIVE,
    KSERVICE,
    KUBE,
    NAMESPACE,
    POD,
    Obj,
    Resource,
    not_found,
    parse_selector,
    rfc3339,
    status_body,
)
from tests.support.fakekube.store import Store, Watcher

TOKEN = "fake-token"
APPLY = "application/apply-patch+yaml"
MERGE = "application/merge-patch+json"
VERSION = {"major": "1", "minor": "36", "gitVersion": "v1.36.0", "platform": "linux/amd64"}
VERBS = ["create", "delete", "get", "list", "patch", "update", "watch"]
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]


def reply(body: Obj, code: int = 200) -> JSONResponse:
    return JSONResponse(body, status_code=code)


def failure(code: int, message: str, reason: str | None = None) -> JSONResponse:
    return reply(status_body(code, message, reason), code)


@dataclass
class Induced:
    method: str
    needle: str
    status: int
    times: int


@dataclass
class Target:
    res: Resource
    namespace: str | None
    name: str | None
    sub: str | None


class Api:
    def __init__(self, store: Store, controllers: Controllers, *, knative: bool) -> None:
        self.store = store
        self.controllers = controllers
        self.resources = (*KUBE, *KNATIVE) if knative else KUBE
        self.closing = False
        self.requests: list[tuple[str, str]] = []
        self.applied: list[tuple[str, str, Obj]] = []
        self.induced: list[Induced] = []
        self.app = Starlette(routes=[Route("/{path:path}", self.handle, methods=METHODS)])

    # routing

    def _group(self, group: str, version: str) -> list[Resource]:
        return [r for r in self.resources if r.group == group and r.version == version]

    def _parse(self, path: str) -> Target | list[Resource] | None:
        parts = [part for part in path.split("/") if part]
        if len(parts) >= 2 and parts[:2] == ["api", "v1"]:
            group, version, rest = "", "v1", parts[2:]
        elif len(parts) >= 3 and parts[0] == "apis":
            group, version, rest = parts[1], parts[2], parts[3:]
        else:
            return None
        known = self._group(group, version)
        if not known:
            return None
        if not rest:
            return known
        plurals = {res.plural: res for res in known}
        if rest[0] == "namespaces" and 3 <= len(rest) <= 5:
            res = plurals.get(rest[2])
            if res is None or not res.namespaced:
                return None
            name = rest[3] if len(rest) > 3 else None
            return Target(res, rest[1], name, rest[4] if len(rest) > 4 else None)
        res = plurals.get(rest[0])
        if res is None or len(rest) > 2 or (len(rest) == 2 and res.namespaced):
            return None
        return Target(res, None, rest[1] if len(rest) == 2 else None, None)

    def _take_induced(self, method: str, where: str) -> JSONResponse | None:
        with self.store.lock:
            for fault in self.induced:
                if fault.method == method and fault.needle in where:
                    fault.times -= 1
                    if fault.times <= 0:
                        self.induced.remove(fault)
                    return failure(fault.status, f"fakekube: induced failure ({fault.status})")
        return None

    async def handle(self, request: Request) -> Response:
        method, path, query = request.method, request.url.path, request.url.query
        where = f"{path}?{query}" if query else path
        with self.store.lock:
            self.requests.append((method, where))
        if request.headers.get("authorization") != f"Bearer {TOKEN}":
            return failure(401, "Unauthorized")
        induced = self._take_induced(method, where)
        if induced is not None:
            return induced
        if path.rstrip("/") == "/version":
            return reply(VERSION)
        target = self._parse(path)
        if target is None:
            return failure(404, "the server could not find the requested resource")
        if isinstance(target, list):
            return self._discovery(target) if method == "GET" else failure(405, "not allowed")
        if target.sub is not None:
            return await self._subresource(request, target)
        if target.name is None:
            if method == "GET":
                return self._list_or_watch(request, target)
            if method == "POST":
                return await self._write(request, target, create=True)
        elif method == "GET":
            return self._get(target)
        elif method == "PATCH":
            return await self._write(request, target, create=False)
        elif method == "DELETE":
            return await self._delete(request, target)
        return failure(405, f"the server does not allow this method ({method}) here")

    def _discovery(self, resources: list[Resource]) -> Response:
        return reply(
            {
                "kind": "APIResourceList",
                "apiVersion": "v1",
                "groupVersion": resources[0].api_version,
                "resources": [
                    {
                        "name": res.plural,
                        "singularName": res.kind.lower(),
                        "namespaced": res.namespaced,
                        "kind": res.kind,
                        "verbs": VERBS,
                    }
                    for res in resources
                ],
            }
        )

    # reading

    def _get(self, target: Target) -> Response:
        assert target.name is not None
        with self.store.lock:
            obj = self.store.get(target.res.key, target.namespace, target.name)
            if obj is None:
                return reply(not_found(target.res, target.name), 404)
            return reply(copy.deepcopy(obj))

    def _list_or_watch(self, request: Request, target: Target) -> Response:
        params = request.query_params
        try:
            selector = parse_selector(params.get("labelSelector"))
        except ValueError as exc:
            return failure(400, str(exc))
        if params.get("watch") in ("1", "true", "True"):
            timeout = float(params.get("timeoutSeconds") or 300)
            return self._watch(target, selector, params.get("resourceVersion"), timeout)
        with self.store.lock:
            items = self.store.items(target.res.key, target.namespace, selector)
            body = {
                "kind": f"{target.res.kind}List",
                "apiVersion": target.res.api_version,
                "metadata": {"resourceVersion": str(self.store.rv)},
                "items": copy.deepcopy(items),
            }
        return reply(body)

    def _watch(
        self,
        target: Target,
        selector: list[tuple[str, str, str]],
        since: str | None,
        timeout: float,
    ) -> Response:
        watcher = Watcher(target.res.key, target.namespace, selector)
        with self.store.lock:
            first: list[Obj] | None
            if since in (None, "", "0"):
                items = self.store.items(target.res.key, target.namespace, selector)
                first = [{"type": "ADDED", "object": copy.deepcopy(obj)} for obj in items]
            else:
                try:
                    first = self.store.replay(target.res.key, int(since or 0), watcher)
                except ValueError:
                    return failure(400, f"invalid resourceVersion {since!r}")
            if first is None:
                message = f"too old resource version: {since} ({self.store.rv})"
                gone = status_body(410, message, "Expired")
                first = [{"type": "ERROR", "object": gone}]
            else:
                self.store.watchers.append(watcher)
            expired = watcher not in self.store.watchers

        async def stream() -> AsyncIterator[bytes]:
            deadline = time.monotonic() + timeout
            try:
                for event in first:
                    yield (json.dumps(event) + "\n").encode()
                if expired:
                    return
                while not self.closing:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        return
                    try:
                        change = await asyncio.wait_for(watcher.queue.get(), left)
                    except TimeoutError:
                        return
                    if change is None:
                        return
                    yield (json.dumps(change) + "\n").encode()
            finally:
                with self.store.lock:
                    if watcher in self.store.watchers:
                        self.store.watchers.remove(watcher)

        return StreamingResponse(stream(), media_type="application/json")

    # writing

    async def _body(self, request: Request) -> Obj | JSONResponse:
        raw = await request.body()
        if not raw.strip():
            return {}
        try:
            body = json.loads(raw)
        except ValueError:
            try:
                body = yaml.safe_load(raw)
            except yaml.YAMLError as exc:
                return failure(400, f"error decoding the body: {exc}")
        if not isinstance(body, dict):
            return failure(400, "the body is not an object")
        return body

    def _check(self, target: Target, body: Obj, name: str) -> JSONResponse | None:
        res = target.res
        if body.get("apiVersion") != res.api_version:
            return failure(
                400,
                f"the API version in the data ({body.get('apiVersion')}) does not match the "
                f"expected API version ({res.api_version})",
            )
        if body.get("kind") != res.kind:
            return failure(
                400,
                f"the kind in the data ({body.get('kind')}) does not match the expected kind "
                f"({res.kind})",
            )
        bmeta = body.get("metadata") or {}
        if not isinstance(bmeta, dict) or bmeta.get("name") != name:
            return failure(
                400,
                f"the name of the object ({bmeta.get('name') if isinstance(bmeta, dict) else ''})"
                f" does not match the name on the URL ({name})",
            )
        if res.namespaced and bmeta.get("namespace") not in (None, target.namespace):
            return failure(
                400,
                "the namespace of the provided object does not match the namespace sent on "
                "the request",
            )
        if res.namespaced and self.store.get("Namespace", None, target.namespace or "") is None:
            return reply(not_found(NAMESPACE, target.namespace or ""), 404)
        return None

    async def _write(self, request: Request, target: Target, *, create: bool) -> Response:
        ctype = request.headers.get("content-type", "").split(";")[0].strip()
        if not create and ctype != APPLY:
            return failure(415, f"the body of the request was in an unknown format: {ctype}")
        if not create and not request.query_params.get("fieldManager"):
            return failure(
                400,
                'PatchOptions "" is invalid: fieldManager: Required value: is required for '
                "apply patch",
                "Invalid",
            )
        body = await self._body(request)
        if isinstance(body, JSONResponse):
            return body
        res = target.res
        name = target.name or (body.get("metadata") or {}).get("name") or ""
        with self.store.lock:
            if not create:
                self.applied.append(("apply", request.url.path, copy.deepcopy(body)))
            problem = self._check(target, body, name)
            if problem is not None:
                return problem
            existing = self.store.get(res.key, target.namespace, name)
            if create and existing is not None:
                message = f'{res.qualified} "{name}" already exists'
                return failure(409, message, "AlreadyExists")
            if res is KSERVICE:
                refused = self.controllers.admit_kservice(target.namespace or "", body)
                if refused is not None:
                    return failure(*refused)
            obj = merge(res, target.namespace, existing, body)
            self.store.put(res.key, obj)
            if res is KSERVICE:
                self.controllers.ensure_revision(obj)
            return reply(copy.deepcopy(obj), 201 if existing is None else 200)

    async def _delete(self, request: Request, target: Target) -> Response:
        assert target.name is not None
        body = await self._body(request)
        if isinstance(body, JSONResponse):
            return body
        policy = request.query_params.get("propagationPolicy") or body.get("propagationPolicy")
        with self.store.lock:
            self.applied.append(("delete", request.url.path, copy.deepcopy(body)))
            obj = self.store.delete(
                target.res.key, target.namespace, target.name, str(policy or "Background")
            )
            if obj is None:
                return reply(not_found(target.res, target.name), 404)
            return reply(copy.deepcopy(obj))

    # subresources

    async def _subresource(self, request: Request, target: Target) -> Response:
        assert target.name is not None
        if target.res is DEPLOYMENT and target.sub == "scale":
            return await self._scale(request, target)
        if target.res is POD and target.sub == "log" and request.method == "GET":
            return await self._log(request, target)
        return failure(404, "the server could not find the requested resource")

    async def _scale(self, request: Request, target: Target) -> Response:
        assert target.name is not None
        if request.method not in ("GET", "PATCH"):
            return failure(405, f"the server does not allow this method ({request.method}) here")
        replicas: Any = None
        if request.method == "PATCH":
            ctype = request.headers.get("content-type", "").split(";")[0].strip()
            if ctype != MERGE:
                return failure(415, f"the body of the request was in an unknown format: {ctype}")
            body = await self._body(request)
            if isinstance(body, JSONResponse):
                return body
            replicas = (body.get("spec") or {}).get("replicas")
            if not isinstance(replicas, int) or replicas < 0:
                return failure(422, "spec.replicas: Invalid value: must be a non-negative int")
        with self.store.lock:
            dep = self.store.get("Deployment", target.namespace, target.name)
            if dep is None:
                return reply(not_found(DEPLOYMENT, target.name), 404)
            if replicas is not None and replicas != dep["spec"].get("replicas"):
                dep = copy.deepcopy(dep)
                dep["spec"]["replicas"] = replicas
                dep["metadata"]["generation"] = dep["metadata"].get("generation", 1) + 1
                self.store.put("Deployment", dep)
            labels = ((dep["spec"].get("selector") or {}).get("matchLabels")) or {}
            return reply(
                {
                    "kind": "Scale",
                    "apiVersion": "autoscaling/v1",
                    "metadata": {
                        key: dep["metadata"][key]
                        for key in ("name", "namespace", "uid", "resourceVersion")
                    },
                    "spec": {"replicas": dep["spec"].get("replicas", 1)},
                    "status": {
                        "replicas": (dep.get("status") or {}).get("replicas", 0),
                        "selector": ",".join(f"{k}={v}" for k, v in sorted(labels.items())),
                    },
                }
            )

    async def _log(self, request: Request, target: Target) -> Response:
        assert target.name is not None
        params = request.query_params
        with self.store.lock:
            pod = self.store.get("Pod", target.namespace, target.name)
            if pod is None:
                return reply(not_found(POD, target.name), 404)
            names = [c.get("name") for c in (pod.get("spec") or {}).get("containers") or []]
            container = params.get("container") or (names[0] if names else "app")
            if names and container not in names:
                message = f"container {container} is not valid for pod {target.name}"
                return failure(400, message)
            first = not names or container == names[0]
            view = self.controllers.view(pod) if first else None
            uid = pod["metadata"]["uid"]
        if view is not None and view.waiting and not view.logs:
            message = (
                f'container "{container}" in pod "{target.name}" is waiting to start: '
                f"{view.waiting}"
            )
            return failure(400, message)
        tail = params.get("tailLines")
        lines = view.logs if view else []
        skip = max(len(lines) - int(tail), 0) if tail else 0
        if params.get("follow") not in ("true", "1") or view is None:
            return PlainTextResponse("".join(f"{line}\n" for line in lines[skip:]))

        async def stream() -> AsyncIterator[bytes]:
            sent = skip
            while True:
                with self.store.lock:
                    pod = self.store.get("Pod", target.namespace, target.name or "")
                    now = self.controllers.view(pod) if pod else None
                    gone = pod is None or pod["metadata"]["uid"] != uid
                if now is not None:
                    for line in now.logs[sent:]:
                        yield f"{line}\n".encode()
                    sent = max(sent, len(now.logs))
                if gone or now is None or not now.running or self.closing:
                    return
                await asyncio.sleep(0.05)

        return StreamingResponse(stream(), media_type="text/plain")


def merge(res: Resource, namespace: str | None, existing: Obj | None, body: Obj) -> Obj:
    """Server-side apply by a sole manager: the applied fields replace the stored ones."""
    wall = time.time()
    bmeta = body.get("metadata") or {}
    obj: Obj = {k: copy.deepcopy(v) for k, v in body.items() if k not in ("metadata", "status")}
    if existing is None:
        new_meta: Obj = {"name": bmeta["name"]}
        if res.namespaced:
            new_meta["namespace"] = namespace
        new_meta.update(
            uid=str(uuid.uuid4()), creationTimestamp=rfc3339(wall), generation=1
        )  # fmt: skip
    else:
        new_meta = copy.deepcopy(existing["metadata"])
        if "status" in existing:
            obj["status"] = copy.deepcopy(existing["status"])
    for field in ("labels", "annotations", "ownerReferences"):
        new_meta.pop(field, None)
        if bmeta.get(field):
            new_meta[field] = copy.deepcopy(bmeta[field])
    obj["metadata"] = new_meta
    old_spec = (existing or {}).get("spec") or {}
    if res is DEPLOYMENT:
        spec = obj.setdefault("spec", {})
        if "replicas" not in spec:
            spec["replicas"] = old_spec.get("replicas", 1)
    elif res is KSERVICE:
        obj.setdefault("spec", {}).setdefault("traffic", copy.deepcopy(DEFAULT_TRAFFIC))
    elif res.key == "Service":
        spec = obj.setdefault("spec", {})
        spec.setdefault("clusterIP", old_spec.get("clusterIP") or f"10.96.{wall % 250:.0f}.10")
        spec.setdefault("type", "ClusterIP")
    elif res.key == "Secret" and "stringData" in obj:
        data = obj.setdefault("data", {})
        for key, value in obj.pop("stringData").items():
            data[key] = base64.b64encode(str(value).encode()).decode()
    elif res is NAMESPACE:
        obj["status"] = {"phase": "Active"}
    if existing is not None and obj.get("spec") != existing.get("spec"):
        new_meta["generation"] = new_meta.get("generation", 1) + 1
    return obj
