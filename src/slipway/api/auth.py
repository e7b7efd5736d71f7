"""Bearer-key authentication and workspace scoping of every `/workspaces/{wsId}` route.

A missing, malformed, unknown or revoked key is 401 with `WWW-Authenticate: Bearer`. A valid
key used on another workspace's path is 404, exactly like an unknown workspace, so the
existence of other workspaces never leaks (CONTRACT §2-3).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, Path, Request

from slipway.api.limits import AUTHENTICATED
from slipway.api.problems import ApiProblem
from slipway.domain.errors import NotFound
from slipway.domain.models import ApiKey, Workspace
from slipway.services.platform import Platform
from slipway.services.resources import keys


@dataclass(frozen=True)
class Scope:
    """What a workspace route runs with: the platform, the workspace, and the caller's key."""

    platform: Platform
    workspace: Workspace
    key: ApiKey

    @property
    def workspace_id(self) -> str:
        return self.workspace.id


def get_platform(request: Request) -> Platform:
    platform: Platform = request.app.state.platform
    return platform


async def scope_for(
    platform: Platform, ws_id: str, authorization: str | None, *, key: ApiKey | None = None
) -> Scope:
    """The scope of the key in `authorization` (or of `key`, when a middleware found it
    already) on workspace `ws_id`: 401 without a live key, 404 on another workspace."""
    if key is None:
        key = await keys.authenticate(platform.store, authorization)
    if key is None:
        raise ApiProblem(
            401, "A valid API key is required.", headers={"WWW-Authenticate": "Bearer"}
        )
    workspace = None
    if key.workspace_id == ws_id:
        workspace = await platform.store.workspaces.get(ws_id)
    if workspace is None:
        raise NotFound("workspace not found")
    return Scope(platform=platform, workspace=workspace, key=key)


async def workspace_scope(
    request: Request,
    platform: Annotated[Platform, Depends(get_platform)],
    ws_id: Annotated[str, Path(alias="wsId")],
    authorization: Annotated[str | None, Header()] = None,
) -> Scope:
    found: ApiKey | None = getattr(request.state, AUTHENTICATED, None)  # by BodyLimit
    return await scope_for(platform, ws_id, authorization, key=found)


WorkspaceScope = Annotated[Scope, Depends(workspace_scope)]
