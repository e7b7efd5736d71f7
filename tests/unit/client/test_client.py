"""`slipway.client`: requests it makes and how it reads problems (httpx's MockTransport
stands in for the network; the real API is exercised by tests/e2e/test_cli.py)."""

from __future__ import annotations

import json

import httpx
import pytest

from slipway.client import ApiError, Client


def test_requests_are_scoped_and_authenticated() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path.endswith("/apps"):
            return httpx.Response(200, json={"data": [{"name": "web", "id": "app_1"}],
                                             "meta": {"totalPages": 1}})  # fmt: skip
        return httpx.Response(202, json={"id": "dep_1", "status": "queued"})

    with Client(
        "http://h/api/v1/", "dor_sk_k", "ws_1", transport=httpx.MockTransport(handler)
    ) as c:
        assert c.find_app("web")["id"] == "app_1"
        assert c.deploy("app_1", sha="abc1234")["id"] == "dep_1"
    assert seen[0].url.path == "/api/v1/workspaces/ws_1/apps"
    assert seen[0].headers["authorization"] == "Bearer dor_sk_k"
    assert json.loads(seen[1].content) == {"appId": "app_1", "gitCommitSha": "abc1234"}
    assert c._ws_url("/deploy/dep_1/logs/stream", {"since": 3}) == (
        "ws://h/api/v1/workspaces/ws_1/deploy/dep_1/logs/stream?since=3"
    )


def test_problems_become_api_errors() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        body = {"title": "Validation failed", "status": 422, "detail": "replicas: bad",
                "errors": [{"field": "replicas", "message": "must be 0-10"}]}  # fmt: skip
        return httpx.Response(422, json=body)

    with Client("http://h/api/v1", "k", "ws_1", transport=httpx.MockTransport(handler)) as c:
        with pytest.raises(ApiError) as info:
            c.scale("app_1", 99)
        assert info.value.status == 422
        assert info.value.errors == [{"field": "replicas", "message": "must be 0-10"}]
        with pytest.raises(ApiError, match="no app named 'nope'"):
            Client("http://h/api/v1", "k", "ws_1", transport=httpx.MockTransport(
                lambda r: httpx.Response(200, json={"data": [], "meta": {"totalPages": 0}})
            )).find_app("nope")  # fmt: skip
