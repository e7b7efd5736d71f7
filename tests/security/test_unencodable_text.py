"""Text that cannot be stored (a lone surrogate, a NUL) in every string field of every
operation, generated from the OpenAPI document (issue 11: `"\\ud800"` in startCommand or an env
value answered 500 on POST and PATCH /apps). Every answer is a 4xx problem, never a 5xx, and
nothing of the tenant changes."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from tests.security.openapi_cases import Operation, operations
from tests.security.tenants import Tenant, snapshot

from slipway.store import SqlStore

BAD = ["a\ud800b", "\udfff", "nul\x00here"]


def string_paths(
    op: Operation, schema: dict[str, Any], prefix: tuple[Any, ...] = ()
) -> Iterator[tuple[Any, ...]]:
    """Paths to every string in bodies of `schema`: property names, list index 0, and for
    string-valued objects (env) a value (`KEY`) and a key (`<key>`)."""
    schema = op.resolve(schema)
    for branch in schema.get("anyOf", []):
        if branch.get("type") != "null":
            yield from string_paths(op, branch, prefix)
    kind = schema.get("type")
    if kind == "string":
        yield prefix
    elif kind == "array":
        yield from string_paths(op, schema.get("items", {}), (*prefix, 0))
    elif kind == "object" or "properties" in schema:
        for name, prop in schema.get("properties", {}).items():
            yield from string_paths(op, prop, (*prefix, name))
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict) and op.resolve(extra).get("type") == "string":
            yield (*prefix, "KEY")
            yield (*prefix, "<key>")


def put(body: Any, path: tuple[Any, ...], value: str) -> Any:
    if not path:
        return value
    head, rest = path[0], path[1:]
    if head == 0:
        items = copy.deepcopy(body) if isinstance(body, list) and body else [{}]
        items[0] = put(items[0], rest, value)
        return items
    node = copy.deepcopy(body) if isinstance(body, dict) else {}
    if head == "<key>":
        node[value] = "x"
        return node
    node[head] = put(node.get(head), rest, value)
    return node


CASES = [
    pytest.param(op, path, bad, id=f"{op.id} {'.'.join(map(str, path))} {bad!r}")
    for op in operations()
    if op.body_schema() is not None
    for path in string_paths(op, op.body_schema())  # type: ignore[arg-type]
    for bad in BAD
]


@pytest.mark.parametrize(("op", "path", "bad"), CASES)
async def test_unencodable_text_in_a_body_field_is_4xx(
    client: httpx.AsyncClient, store: SqlStore, alpha: Tenant, op: Operation,
    path: tuple[Any, ...], bad: str,
) -> None:  # fmt: skip
    request = op.request(ws_id=alpha.ws_id, victim=alpha, variant=0)
    body = json.dumps(put(request.pop("json"), path, bad))  # as \\uXXXX escapes, as a client would
    headers = {**alpha.headers, "Content-Type": "application/json"}
    before = await state(store, alpha)
    r = await client.request(**request, content=body.encode(), headers=headers)
    assert 400 <= r.status_code < 500, f"{op.id} {path}: {r.status_code} {r.text}"
    assert r.headers["content-type"].startswith("application/problem+json")
    assert await state(store, alpha) == before


async def state(store: SqlStore, tenant: Tenant) -> dict[str, Any]:
    found = await snapshot(store, tenant.ws_id)
    for key in found["keys"]:
        key.pop("last_used_at")  # the key these tests call with
    return found


@pytest.mark.parametrize("bad", ["%ED%A0%80", "%00", "%FF"])
async def test_unencodable_text_in_paths_and_queries_is_4xx(
    client: httpx.AsyncClient, alpha: Tenant, bad: str
) -> None:
    for url in (
        f"{alpha.base}/apps/{bad}",
        f"{alpha.base}/deploy/{bad}",
        f"{alpha.base}/deploy?appId={bad}",
        f"{alpha.base}/apps/{alpha.app_id}/logs?revision={bad}",
    ):
        r = await client.get(url, headers=alpha.headers)
        assert 400 <= r.status_code < 500, f"{url}: {r.status_code} {r.text}"
