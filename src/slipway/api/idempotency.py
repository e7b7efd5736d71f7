"""ASGI middleware: `Idempotency-Key` on every POST under `/workspaces/{wsId}` (CONTRACT §2).

It runs inside the body limit (so the body is already bounded) and needs the workspace
before the route runs: it looks the bearer key up without touching it and engages only when
the key is live and belongs to the workspace of the path. Anything else passes through, and
the route answers 401 or 404 as usual, so a key never learns about another workspace.

The route's answer is captured whole (API answers are small JSON) and stored with the claim
(sealed by the store, as env values are); a replay carries `Idempotent-Replayed: true`. What
the contract shows once is not stored at all: a replayed key creation answers the same status
and fields without `key` (the id names the key; the caller who lost it makes a new one). The
logic is `slipway.services.resources.idempotency`.
"""

from __future__ import annotations

import json
import re

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from slipway.api.limits import AUTHENTICATED, header, read_body, replay
from slipway.api.problems import problem
from slipway.domain.errors import Conflict, Invalid
from slipway.domain.models import StoredResponse
from slipway.services.platform import Platform
from slipway.services.resources import idempotency, keys

_WORKSPACE = re.compile(r"^/api/v1/workspaces/(?P<ws>[^/]+)/")
_SHOWN_ONCE = {re.compile(r"^/api/v1/workspaces/[^/]+/api-keys/?$"): ("key",)}


async def _workspace_of(platform: Platform, scope: Scope) -> str | None:
    match = _WORKSPACE.match(scope["path"])
    if match is None:
        return None
    key = scope.get("state", {}).get(AUTHENTICATED)  # BodyLimit looked it up
    if key is None:
        token = keys.bearer_token(header(scope, b"authorization"))
        if token is None or not keys.is_well_formed(token):
            return None
        key = await platform.store.find_api_key(keys.hash_key(token))
    return key.workspace_id if key is not None and key.workspace_id == match["ws"] else None


def _storable(path: str, response: StoredResponse) -> StoredResponse:
    """`response` without the fields the contract shows only once."""
    for pattern, fields in _SHOWN_ONCE.items():
        if pattern.match(path) and response.content_type.startswith("application/json"):
            try:
                data = json.loads(response.body)
            except ValueError:
                return response
            if isinstance(data, dict):
                trimmed = {k: v for k, v in data.items() if k not in fields}
                return StoredResponse(response.status, response.content_type,
                                      json.dumps(trimmed).encode())  # fmt: skip
    return response


class Idempotency:
    def __init__(self, app: ASGIApp, *, platform: Platform, max_body_bytes: int) -> None:
        self.app = app
        self.platform = platform
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        key = header(scope, b"idempotency-key") if scope["type"] == "http" else None
        if key is None or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        workspace_id = await _workspace_of(self.platform, scope)
        if workspace_id is None:
            await self.app(scope, receive, send)
            return
        body = await read_body(receive, self.max_body_bytes)
        print_ = idempotency.fingerprint("POST", scope["path"], body)
        try:
            claim = await idempotency.begin(
                self.platform.store, workspace_id=workspace_id, key=key, print_=print_
            )
        except (Invalid, Conflict) as exc:
            errors = exc.errors if isinstance(exc, Invalid) else None
            answer = problem(exc.status, exc.detail, errors=errors)
            await answer(scope, receive, send)
            return
        if claim.replay is not None:
            await _send_stored(claim.replay, send)
            return
        await self._run(scope, replay(body, receive), send, claim)

    async def _run(
        self, scope: Scope, receive: Receive, send: Send, claim: idempotency.Claim
    ) -> None:
        start: Message | None = None
        chunks: list[bytes] = []

        async def capture(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
            await send(message)

        stored = None
        try:
            await self.app(scope, receive, capture)
            if start is not None:
                headers = dict(start.get("headers", []))
                content_type = headers.get(b"content-type", b"").decode("latin-1")
                answer = StoredResponse(start["status"], content_type, b"".join(chunks))
                stored = _storable(scope["path"], answer)
        finally:
            await idempotency.finish(self.platform.store, claim, stored)


async def _send_stored(response: StoredResponse, send: Send) -> None:
    headers = [
        (b"content-type", response.content_type.encode("latin-1")),
        (b"content-length", str(len(response.body)).encode()),
        (b"idempotent-replayed", b"true"),
    ]
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    await send({"type": "http.response.body", "body": response.body})
