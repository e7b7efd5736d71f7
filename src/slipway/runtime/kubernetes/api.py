"""A small async client of the Kubernetes API: the verbs Slipway uses and nothing else.

Requests go through httpx (already Slipway's HTTP client); where the cluster is and how to
authenticate comes from the official `kubernetes` package's loaders (a kubeconfig with its
contexts, client certificates, tokens and exec plugins, or the pod's service account), so
Slipway reads credentials exactly as kubectl does. The official client itself is
synchronous (a watch would hold a thread), hence the split; docs/decisions.md says more.

Writes are server-side apply (`PATCH`, `application/apply-patch+yaml`, JSON being YAML) under
the field manager `slipway`, forced: Slipway owns the fields it writes.
"""

from __future__ import annotations

import json
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx

from slipway.runtime.kubernetes.kinds import Kind, kind_of

FIELD_MANAGER = "slipway"
REQUEST_TIMEOUT = 30.0
WATCH_SECONDS = 300  # a watch is ended by the server after this long and started again


class ApiError(Exception):
    """The API server refused: its Status object's code, reason and message."""

    def __init__(self, code: int, reason: str, message: str) -> None:
        super().__init__(f"{code} {reason}: {message}")
        self.code = code
        self.reason = reason
        self.message = message


REQUEST_ERRORS: tuple[type[Exception], ...] = (ApiError, httpx.HTTPError)
"""What a call to the API server may raise: its refusal, or no answer."""


def lasting(exc: Exception) -> bool:
    """A refusal that trying again will not change (a 4xx: a quota, a webhook, RBAC); a
    5xx or no answer may pass."""
    return isinstance(exc, ApiError) and 400 <= exc.code < 500


def describe(exc: Exception) -> str:
    """One sentence for a user: the server's own message, or why there was no answer."""
    if isinstance(exc, ApiError):
        return f"{exc.message} ({exc.code} {exc.reason})"
    return f"the API server did not answer ({type(exc).__name__}: {exc})".replace(": )", ")")


class WatchExpired(Exception):
    """The watch's resourceVersion is too old (410): list again."""


@dataclass(frozen=True)
class Connection:
    server: str  # https://host:port
    token: str | None = field(default=None, repr=False)
    ssl_context: ssl.SSLContext | bool = True


def load_connection(kubeconfig: str | None, *, context: str | None = None) -> Connection:
    """From a kubeconfig file (its current context, or `context`), or, without one, the
    service account of the pod Slipway runs in."""
    from kubernetes import client, config  # heavy: only when the runtime is Kubernetes

    cfg = client.Configuration()
    if kubeconfig is None:
        config.load_incluster_config(client_configuration=cfg)  # type: ignore[no-untyped-call]
    else:
        load = config.load_kube_config
        load(config_file=kubeconfig, context=context, client_configuration=cfg)  # type: ignore[no-untyped-call]
    auth = cfg.auth_settings().get("BearerToken", {}).get("value") or cfg.api_key.get(
        "authorization"
    )
    token = auth.removeprefix("Bearer ").strip() if isinstance(auth, str) else None
    verify: ssl.SSLContext | bool = bool(cfg.verify_ssl)
    if cfg.host.startswith("https"):
        ctx = (
            ssl.create_default_context(cafile=cfg.ssl_ca_cert)
            if cfg.verify_ssl
            else (
                ssl._create_unverified_context()  # noqa: S323 - the kubeconfig says insecure-skip-tls-verify
            )
        )
        if cfg.cert_file and cfg.key_file:
            ctx.load_cert_chain(cfg.cert_file, cfg.key_file)
        verify = ctx
    return Connection(server=cfg.host.rstrip("/"), token=token, ssl_context=verify)


def _error(response: httpx.Response) -> ApiError:
    try:
        body = response.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    return ApiError(
        response.status_code,
        str(body.get("reason") or response.reason_phrase),
        str(body.get("message") or response.text[:200]),
    )


class KubeApi:
    def __init__(self, connection: Connection) -> None:
        headers = {"Accept": "application/json"}
        if connection.token:
            headers["Authorization"] = f"Bearer {connection.token}"
        self.server = connection.server
        self._http = httpx.AsyncClient(
            base_url=connection.server,
            headers=headers,
            verify=connection.ssl_context,
            timeout=httpx.Timeout(REQUEST_TIMEOUT),
        )

    async def close(self) -> None:
        await self._http.aclose()

    async def apply(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Server-side apply `obj` (created or updated); returns the stored object."""
        kind = kind_of(obj)
        meta = obj["metadata"]
        response = await self._http.patch(
            kind.path(meta["name"], meta.get("namespace")),
            params={"fieldManager": FIELD_MANAGER, "force": "true"},
            content=json.dumps(obj),
            headers={"Content-Type": "application/apply-patch+yaml"},
        )
        return self._json(response)

    async def get(
        self, kind: Kind, name: str, namespace: str | None = None
    ) -> dict[str, Any] | None:
        response = await self._http.get(kind.path(name, namespace))
        if response.status_code == 404:
            return None
        return self._json(response)

    async def list(
        self, kind: Kind, *, namespace: str | None = None, selector: str | None = None
    ) -> tuple[list[dict[str, Any]], str]:
        """The objects and the list's resourceVersion (where a watch starts)."""
        params = {"labelSelector": selector} if selector else {}
        body = self._json(await self._http.get(kind.collection(namespace), params=params))
        items = [
            {"apiVersion": kind.api_version, "kind": kind.kind, **item}
            for item in body.get("items", [])
        ]
        return items, str(body.get("metadata", {}).get("resourceVersion", ""))

    async def delete(self, kind: Kind, name: str, namespace: str | None = None) -> bool:
        """Delete it and, in the background, what it owns; False when it was not there."""
        response = await self._http.request(
            "DELETE",
            kind.path(name, namespace),
            content=json.dumps({"propagationPolicy": "Background"}),
            headers={"Content-Type": "application/json"},
        )
        if response.status_code == 404:
            return False
        self._json(response)
        return True

    async def exists(self, path: str) -> bool:
        """Whether the server serves `path` (API discovery: is Knative installed?)."""
        response = await self._http.get(path)
        if response.status_code == 404:
            return False
        self._json(response)
        return True

    async def watch(
        self, kind: Kind, *, resource_version: str, selector: str | None = None
    ) -> AsyncIterator[tuple[str, dict[str, Any]]]:
        """(type, object) for every change after `resource_version`, across namespaces,
        until the server ends the watch. `WatchExpired` when the version is too old."""
        params = {
            "watch": "1",
            "resourceVersion": resource_version,
            "timeoutSeconds": str(WATCH_SECONDS),
            "allowWatchBookmarks": "false",
        }
        if selector:
            params["labelSelector"] = selector
        timeout = httpx.Timeout(REQUEST_TIMEOUT, read=WATCH_SECONDS + 30)
        async with self._http.stream(
            "GET", kind.collection(), params=params, timeout=timeout
        ) as response:
            if response.status_code >= 400:
                await response.aread()
                raise _error(response)
            async for line in response.aiter_lines():
                if not line.strip():
                    continue
                event = json.loads(line)
                obj = event.get("object") or {}
                if event.get("type") == "ERROR":
                    if obj.get("code") == 410:
                        raise WatchExpired(str(obj.get("message", "")))
                    raise ApiError(
                        int(obj.get("code", 500)),
                        str(obj.get("reason", "")),
                        str(obj.get("message", "")),
                    )
                yield str(event.get("type")), obj

    async def log_lines(
        self, name: str, namespace: str, *, container: str, tail: int | None = None
    ) -> AsyncIterator[str]:
        """A pod's container output (its last `tail` lines, or all of it), followed until
        the container ends."""
        path = f"/api/v1/namespaces/{namespace}/pods/{name}/log"
        params = {"container": container, "follow": "true"}
        if tail is not None:
            params["tailLines"] = str(tail)
        timeout = httpx.Timeout(REQUEST_TIMEOUT, read=None)
        async with self._http.stream("GET", path, params=params, timeout=timeout) as response:
            if response.status_code >= 400:
                await response.aread()
                raise _error(response)
            async for line in response.aiter_lines():
                yield line

    @staticmethod
    def _json(response: httpx.Response) -> dict[str, Any]:
        if response.status_code >= 400:
            raise _error(response)
        body = response.json()
        if not isinstance(body, dict):
            raise ApiError(response.status_code, "BadResponse", "not a JSON object")
        return body
