"""`POST /workspaces/{wsId}/deploy/{deployId}/rollback`: Rollback (202). The handler only
translates; the rules are `services/resources/rollbacks.py`'s."""

from __future__ import annotations

from fastapi import APIRouter

from slipway.api.auth import WorkspaceScope
from slipway.api.routers.deployments import ONE, DeployId, deployment_out
from slipway.api.schemas import DeploymentOut
from slipway.services.resources import rollbacks

router = APIRouter(prefix="/workspaces/{wsId}/deploy", tags=["deploy"])


@router.post(ONE + "/rollback", status_code=202, response_model=DeploymentOut)
async def rollback(scope: WorkspaceScope, deploy_id: DeployId) -> DeploymentOut:
    dep = await rollbacks.rollback(scope.platform, scope.workspace_id, deploy_id)
    return deployment_out(dep)
