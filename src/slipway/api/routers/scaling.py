"""`POST /workspaces/{wsId}/deploy/scale`: Scale App. The handler only translates; the rules
are `services/resources/scaling.py`'s."""

from __future__ import annotations

from fastapi import APIRouter

from slipway.api.auth import WorkspaceScope
from slipway.api.schemas import ScaleIn, ScaleOut
from slipway.services.resources import scaling

router = APIRouter(prefix="/workspaces/{wsId}/deploy", tags=["deploy"])


@router.post("/scale", response_model=ScaleOut)
async def scale(scope: WorkspaceScope, body: ScaleIn) -> ScaleOut:
    state = await scaling.scale(
        scope.platform, scope.workspace_id, app_id=body.app_id, replicas=body.replicas
    )
    return ScaleOut(
        app_id=state.app_id,
        name=state.name,
        requested_replicas=state.requested_replicas,
        current_replicas=state.current_replicas,
        status=state.status,
    )
