"""Tenant isolation, generated from the OpenAPI document: every operation that carries an id
(path, query or body) is called with a valid key of workspace A and the ids of workspace B's
objects; every answer is 404 and B is unchanged. Every operation under `/workspaces/{wsId}`
is also called on B's path with A's key. New endpoints are covered the moment they exist.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from tests.security.openapi_cases import VARIANTS, Operation, operations
from tests.security.tenants import Tenant, snapshot

from slipway.store import SqlStore

OPERATIONS = list(operations())
WITH_IDS = [op for op in OPERATIONS if op.carries_ids]
SCOPED = [op for op in OPERATIONS if op.workspace_scoped]
CASES = [pytest.param(op, v, id=f"{op.id} #{v}") for op in WITH_IDS for v in range(VARIANTS)]


def _git_cache(tmp_path: Path) -> list[str]:
    cache = tmp_path / "git-cache"
    return sorted(p.name for p in cache.iterdir()) if cache.exists() else []


async def _assert_404_and_unchanged(
    client: httpx.AsyncClient, store: SqlStore, *, request: dict, attacker: Tenant,
    victim: Tenant, tmp_path: Path,
) -> None:  # fmt: skip
    before, cache_before = await snapshot(store, victim.ws_id), _git_cache(tmp_path)
    r = await client.request(**request, headers=attacker.headers)
    assert r.status_code == 404, f"{request['method']} {request['url']}: {r.status_code} {r.text}"
    assert r.headers["content-type"].startswith("application/problem+json")
    echoed = f"{request['url']} {request['params']} {request['json']}"  # the caller's own input
    for secret in (victim.app_name, victim.ws_name, victim.app_id):
        assert secret in echoed or secret not in r.text, r.text
    assert await snapshot(store, victim.ws_id) == before
    assert _git_cache(tmp_path) == cache_before


def test_the_document_has_operations_with_ids() -> None:
    """Guards the generator itself: if it found nothing, the tests below would prove nothing."""
    ids = {op.id for op in WITH_IDS}
    assert "GET /api/v1/workspaces/{wsId}/apps/{appId}" in ids
    assert "POST /api/v1/workspaces/{wsId}/deploy" in ids  # appId in the body
    assert "GET /api/v1/workspaces/{wsId}/deploy" in ids  # appId in the query
    assert len(SCOPED) >= len(WITH_IDS) >= 8


@pytest.mark.parametrize(("op", "variant"), CASES)
async def test_ids_of_another_workspace_are_not_found(
    op: Operation, variant: int, client: httpx.AsyncClient, store: SqlStore,
    alpha: Tenant, beta: Tenant, tmp_path: Path,
) -> None:  # fmt: skip
    request = op.request(ws_id=alpha.ws_id, victim=beta, variant=variant)
    await _assert_404_and_unchanged(
        client, store, request=request, attacker=alpha, victim=beta, tmp_path=tmp_path
    )


@pytest.mark.parametrize("op", [pytest.param(op, id=op.id) for op in SCOPED])
async def test_another_workspaces_path_is_not_found(
    op: Operation, client: httpx.AsyncClient, store: SqlStore, alpha: Tenant, beta: Tenant,
    tmp_path: Path,
) -> None:  # fmt: skip
    request = op.request(ws_id=beta.ws_id, victim=beta, variant=0)
    await _assert_404_and_unchanged(
        client, store, request=request, attacker=alpha, victim=beta, tmp_path=tmp_path
    )


@pytest.mark.parametrize("op", [pytest.param(op, id=op.id) for op in WITH_IDS])
async def test_the_same_request_with_the_owners_key_finds_the_objects(
    op: Operation, client: httpx.AsyncClient, beta: Tenant
) -> None:
    """The control: the generated requests name real objects, so the 404s above mean
    isolation, not a malformed request."""
    request = op.request(ws_id=beta.ws_id, victim=beta, variant=1)
    r = await client.request(**request, headers=beta.headers)
    assert r.status_code != 404, f"{op.id}: {r.status_code} {r.text}"
