"""A small typed client of the Slipway HTTP API (httpx), the one the CLI uses.

`Client` is bound to one API URL, one key and the key's workspace. Every method is one
request and returns the decoded JSON (the API's camelCase shapes); an error answer raises
`ApiError` with the problem's status, detail and field errors. The two streams (a build log,
an app's runtime log) are WebSockets, read with the synchronous client of `websockets`; the
key goes in the `Authorization` header, never in a URL that could end up in a log.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import httpx
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

Json = dict[str, Any]


@dataclass
class ApiError(Exception):
    status: int
    detail: str
    errors: list[Json] = field(default_factory=list)
    request: str = ""  # "GET http://host/api/v1/..." that was answered so

    def __str__(self) -> str:
        return f"{self.status}: {self.detail}"


@dataclass
class StreamClosed(Exception):
    """A stream ended without its final frame (refused, dropped or cut)."""

    code: int | None
    reason: str

    def __str__(self) -> str:
        return f"stream closed ({self.code}): {self.reason or 'no reason given'}"


class Client:
    def __init__(
        self,
        base_url: str,
        api_key: str,
        workspace_id: str,
        *,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._key = api_key
        self.workspace_id = workspace_id
        self._http = httpx.Client(
            base_url=f"{self.base_url}/workspaces/{workspace_id}",
            headers={"Authorization": f"Bearer {api_key}"},
            timeout=timeout,
            transport=transport,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ plumbing

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._http.request(method, path, **kwargs)
        if response.status_code >= 400:
            raise _error(response)
        return response.json()

    # ------------------------------------------------------------------ apps

    def create_app(self, **fields: Any) -> Json:
        result: Json = self._call("POST", "/apps", json=fields)
        return result

    def list_apps(self, *, page: int = 1, limit: int = 100) -> Json:
        result: Json = self._call("GET", "/apps", params={"page": page, "limit": limit})
        return result

    def get_app(self, app_id: str) -> Json:
        result: Json = self._call("GET", f"/apps/{app_id}")
        return result

    def update_app(self, app_id: str, **fields: Any) -> Json:
        result: Json = self._call("PATCH", f"/apps/{app_id}", json=fields)
        return result

    def delete_app(self, app_id: str) -> Json:
        result: Json = self._call("DELETE", f"/apps/{app_id}")
        return result

    def find_app(self, name_or_id: str) -> Json:
        """An app by id (`app_...`) or by name."""
        if name_or_id.startswith("app_"):
            return self.get_app(name_or_id)
        page = 1
        while True:
            listed = self.list_apps(page=page)
            for app in listed["data"]:
                if app["name"] == name_or_id:
                    return dict(app)
            if page >= listed["meta"]["totalPages"]:
                raise ApiError(
                    404,
                    f"no app named {name_or_id!r} in workspace {self.workspace_id}",
                    request=f"GET {self.base_url}/workspaces/{self.workspace_id}/apps",
                )
            page += 1

    def app_logs(
        self,
        app_id: str,
        *,
        since: int | None = None,
        limit: int = 100,
        revision: str | None = None,
    ) -> Json:
        params: dict[str, Any] = {"limit": limit}
        if since is not None:
            params["since"] = since
        if revision is not None:
            params["revision"] = revision
        result: Json = self._call("GET", f"/apps/{app_id}/logs", params=params)
        return result

    # ------------------------------------------------------------------ deployments

    def deploy(
        self,
        app_id: str,
        *,
        branch: str | None = None,
        sha: str | None = None,
        no_traffic: bool = False,
    ) -> Json:
        body: Json = {"appId": app_id}
        if branch:
            body["gitBranch"] = branch
        if sha:
            body["gitCommitSha"] = sha
        if no_traffic:
            body["noTraffic"] = True
        result: Json = self._call("POST", "/deploy", json=body)
        return result

    def deployments(self, app_id: str, *, page: int = 1, limit: int = 20) -> Json:
        params = {"appId": app_id, "page": page, "limit": limit}
        result: Json = self._call("GET", "/deploy", params=params)
        return result

    def deployment(self, deploy_id: str) -> Json:
        result: Json = self._call("GET", f"/deploy/{deploy_id}")
        return result

    def cancel(self, deploy_id: str) -> Json:
        result: Json = self._call("POST", f"/deploy/{deploy_id}/cancel")
        return result

    def build_logs(self, deploy_id: str) -> list[str]:
        return list(self._call("GET", f"/deploy/{deploy_id}/logs")["logs"])

    def runtime_status(self, deploy_id: str) -> Json:
        result: Json = self._call("GET", f"/deploy/{deploy_id}/runtime-status")
        return result

    def scale(self, app_id: str, replicas: int) -> Json:
        body = {"appId": app_id, "replicas": replicas}
        result: Json = self._call("POST", "/deploy/scale", json=body)
        return result

    def rollback(self, deploy_id: str) -> Json:
        result: Json = self._call("POST", f"/deploy/{deploy_id}/rollback")
        return result

    def revisions(self, app_id: str) -> list[Json]:
        return list(self._call("GET", f"/deploy/apps/{app_id}/revisions"))

    def set_traffic(self, app_id: str, splits: list[Json]) -> Json:
        result: Json = self._call("POST", f"/deploy/apps/{app_id}/traffic", json={"splits": splits})
        return result

    def promote(self, revision_name: str) -> Json:
        result: Json = self._call("POST", f"/deploy/revisions/{revision_name}/promote")
        return result

    # ------------------------------------------------------------------ domains

    def list_domains(self, app_id: str) -> list[Json]:
        return list(self._call("GET", f"/apps/{app_id}/domains"))

    def add_domain(self, app_id: str, hostname: str, tag: str | None = None) -> Json:
        body = {"hostname": hostname, "tag": tag}
        result: Json = self._call("POST", f"/apps/{app_id}/domains", json=body)
        return result

    def get_domain(self, app_id: str, domain: str) -> Json:
        result: Json = self._call("GET", f"/apps/{app_id}/domains/{domain}")
        return result

    def remove_domain(self, app_id: str, domain: str) -> Json:
        result: Json = self._call("DELETE", f"/apps/{app_id}/domains/{domain}")
        return result

    # ------------------------------------------------------------------ keys

    def list_keys(self) -> list[Json]:
        return list(self._call("GET", "/api-keys"))

    def create_key(self, name: str) -> Json:
        result: Json = self._call("POST", "/api-keys", json={"name": name})
        return result

    def revoke_key(self, key_id: str) -> Json:
        result: Json = self._call("DELETE", f"/api-keys/{key_id}")
        return result

    # ------------------------------------------------------------------ streams

    def follow_build_log(self, deploy_id: str, *, since: int = 0) -> Iterator[Json | None]:
        """Frames of the live build log; None each second without one (for a progress
        line). Ends after the status frame; StreamClosed if the stream ends without it."""
        return self._frames(f"/deploy/{deploy_id}/logs/stream", {"since": since}, final="status")

    def follow_app_logs(
        self, app_id: str, *, since: int | None = None, revision: str | None = None
    ) -> Iterator[Json | None]:
        query: dict[str, Any] = {}
        if since is not None:
            query["since"] = since
        if revision is not None:
            query["revision"] = revision
        return self._frames(f"/apps/{app_id}/logs/stream", query, final=None)

    def _frames(
        self, path: str, query: dict[str, Any], *, final: str | None
    ) -> Iterator[Json | None]:
        url = self._ws_url(path, query)
        with connect(url, additional_headers={"Authorization": f"Bearer {self._key}"}) as ws:
            while True:
                try:
                    message = ws.recv(timeout=1.0)
                except TimeoutError:
                    yield None
                    continue
                except ConnectionClosed as exc:
                    rcvd = exc.rcvd
                    raise StreamClosed(
                        rcvd.code if rcvd else None, rcvd.reason if rcvd else ""
                    ) from None
                frame: Json = json.loads(message)
                yield frame
                if final is not None and frame.get("type") == final:
                    return

    def _ws_url(self, path: str, query: dict[str, Any]) -> str:
        parts = urlsplit(f"{self.base_url}/workspaces/{self.workspace_id}{path}")
        scheme = "wss" if parts.scheme == "https" else "ws"
        return urlunsplit((scheme, parts.netloc, parts.path, urlencode(query), ""))


def _error(response: httpx.Response) -> ApiError:
    called = f"{response.request.method} {response.request.url}"
    try:
        body = response.json()
    except ValueError:
        text = response.text[:200] or response.reason_phrase
        return ApiError(response.status_code, text, request=called)
    if not isinstance(body, dict):
        return ApiError(response.status_code, str(body)[:200], request=called)
    detail = str(body.get("detail") or body.get("title") or response.reason_phrase)
    return ApiError(response.status_code, detail, list(body.get("errors") or []), called)
