"""`/workspaces/{wsId}/deploy`: trigger (202), list, read, logs, runtime status, cancel.

`{deployId}` only matches `dep_...` (the `depid` path convertor), so later routes under
`/deploy` such as `/deploy/scale` or `/deploy/apps/{appId}/...` are never taken for a
deployment id, whatever order routers are included in.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query
from starlette.convertors import Convertor, register_url_convertor

from slipway.api.auth import WorkspaceScope
from slipway.api.schemas import (
    ConditionOut,
    DeployIn,
    DeploymentList,
    DeploymentOut,
    LimitsOut,
    Logs,
    PageMeta,
    RuntimeStatusOut,
)
from slipway.domain.models import Deployment
from slipway.services.resources import deployments
from slipway.services.resources.paging import DEFAULT_LIMIT


class DeploymentIdConvertor(Convertor[str]):
    regex = "dep_[^/]+"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("depid", DeploymentIdConvertor())

router = APIRouter(prefix="/workspaces/{wsId}/deploy", tags=["deploy"])
DeployId = Annotated[str, Path(alias="deployId")]
ONE = "/{deployId:depid}"


def deployment_out(dep: Deployment) -> DeploymentOut:
    return DeploymentOut(
        id=dep.id,
        status=dep.status.value,
        app_id=dep.app_id,
        git_branch=dep.git_branch,
        git_commit_sha=dep.git_commit_sha,
        git_commit_message=dep.git_commit_message,
        buildpack=dep.buildpack,
        image_ref=dep.image_ref,
        revision_name=dep.revision_name,
        rolled_back_from=dep.rolled_back_from,
        error=dep.error,
        duration_seconds=dep.duration_seconds,
        created_at=dep.created_at,
        started_at=dep.started_at,
        finished_at=dep.finished_at,
    )


@router.post("", status_code=202, response_model=DeploymentOut)
async def trigger(scope: WorkspaceScope, body: DeployIn) -> DeploymentOut:
    dep = await deployments.trigger(
        scope.platform,
        scope.workspace_id,
        body.app_id,
        git_branch=body.git_branch,
        git_commit_sha=body.git_commit_sha,
        no_traffic=body.no_traffic,
    )
    return deployment_out(dep)


@router.get("", response_model=DeploymentList)
async def list_deployments(
    scope: WorkspaceScope,
    app_id: Annotated[str | None, Query(alias="appId")] = None,
    page: Annotated[int, Query()] = 1,
    limit: Annotated[int, Query()] = DEFAULT_LIMIT,
    status: Annotated[str | None, Query()] = None,
) -> DeploymentList:
    result = await deployments.list_deployments(
        scope.platform, scope.workspace_id, app_id=app_id, page=page, limit=limit, status=status
    )
    meta = PageMeta(total=result.total, page=page, limit=limit, total_pages=result.total_pages)
    return DeploymentList(data=[deployment_out(d) for d in result.items], meta=meta)


@router.get(ONE, response_model=DeploymentOut)
async def get_deployment(scope: WorkspaceScope, deploy_id: DeployId) -> DeploymentOut:
    dep = await deployments.get_deployment(scope.platform, scope.workspace_id, deploy_id)
    return deployment_out(dep)


@router.get(ONE + "/logs", response_model=Logs)
async def build_logs(scope: WorkspaceScope, deploy_id: DeployId) -> Logs:
    lines = await deployments.build_logs(scope.platform, scope.workspace_id, deploy_id)
    return Logs(logs=lines)


@router.get(ONE + "/runtime-status", response_model=RuntimeStatusOut)
async def runtime_status(scope: WorkspaceScope, deploy_id: DeployId) -> RuntimeStatusOut:
    rs = await deployments.runtime_status(scope.platform, scope.workspace_id, deploy_id)
    conditions = [
        ConditionOut(
            type=c.type,
            status=c.status,
            reason=c.reason,
            message=c.message,
            last_transition_time=c.last_transition_time,
        )
        for c in rs.conditions
    ]
    limits = None
    if rs.limits is not None:
        limits = LimitsOut(
            memory_mb=rs.limits.memory_mb,
            max_processes=rs.limits.max_processes,
            cpus=rs.limits.cpus,
            enforced_by=rs.limits.enforced_by,
        )
    return RuntimeStatusOut(
        phase=rs.phase, ready=rs.ready, total=rs.total, conditions=conditions, limits=limits
    )


@router.post(ONE + "/cancel", response_model=DeploymentOut)
async def cancel(scope: WorkspaceScope, deploy_id: DeployId) -> DeploymentOut:
    dep = await deployments.cancel(scope.platform, scope.workspace_id, deploy_id)
    return deployment_out(dep)
