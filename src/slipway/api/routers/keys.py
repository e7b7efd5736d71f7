"""`/workspaces/{wsId}/api-keys`: create (the key is shown once), list, revoke.

DELETE answers 200 with `{"id", "deleted": true}`; the key stops working on the next request.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from slipway.api.auth import WorkspaceScope
from slipway.api.schemas import Deleted, KeyCreated, KeyIn, KeyOut
from slipway.services.resources import keys

router = APIRouter(prefix="/workspaces/{wsId}/api-keys", tags=["api-keys"])


@router.post("", status_code=201, response_model=KeyCreated)
async def create_key(scope: WorkspaceScope, body: KeyIn) -> KeyCreated:
    api_key, secret = await keys.create_key(scope.platform, scope.workspace_id, body.name)
    return KeyCreated(id=api_key.id, name=api_key.name, key=secret, created_at=api_key.created_at)


@router.get("", response_model=list[KeyOut])
async def list_keys(scope: WorkspaceScope) -> list[KeyOut]:
    found = await keys.list_keys(scope.platform, scope.workspace_id)
    return [
        KeyOut(
            id=k.id,
            name=k.name,
            prefix=k.prefix,
            created_at=k.created_at,
            last_used_at=k.last_used_at,
        )
        for k in found
    ]


@router.delete("/{keyId}", response_model=Deleted)
async def revoke_key(scope: WorkspaceScope, key_id: Annotated[str, Path(alias="keyId")]) -> Deleted:
    await keys.revoke_key(scope.platform, scope.workspace_id, key_id)
    return Deleted(id=key_id)
