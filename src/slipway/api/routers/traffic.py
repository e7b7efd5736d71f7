"""An app's revisions and their traffic, under `/workspaces/{wsId}/deploy`.

- `GET  /deploy/apps/{appId}/revisions`           List Revisions (a bare JSON array)
- `POST /deploy/apps/{appId}/traffic`             Set Traffic
- `POST /deploy/revisions/{revisionName}/promote` Promote Revision

Traffic answers leave `tag` out of a split that has none, as the spec's examples do. The
handlers only translate: every rule lives in `slipway.services`.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from slipway.api.auth import WorkspaceScope
from slipway.api.schemas import (
    PromoteOut,
    RevisionOut,
    SplitOut,
    TrafficIn,
    TrafficOut,
)
from slipway.domain.models import TrafficSplit
from slipway.services.resources import traffic

router = APIRouter(prefix="/workspaces/{wsId}/deploy", tags=["deploy"])
AppId = Annotated[str, Path(alias="appId")]
RevisionName = Annotated[str, Path(alias="revisionName")]


def _splits_out(splits: list[TrafficSplit]) -> list[SplitOut]:
    return [SplitOut(revision_name=s.revision_name, percent=s.percent, tag=s.tag) for s in splits]


@router.get("/apps/{appId}/revisions", response_model=list[RevisionOut])
async def list_revisions(scope: WorkspaceScope, app_id: AppId) -> list[RevisionOut]:
    views = await traffic.list_revisions(scope.platform, scope.workspace_id, app_id)
    return [
        RevisionOut(
            revision_name=v.name,
            image_ref=v.image_ref,
            traffic_percent=v.traffic_percent,
            tag=v.tag,
            deployment_id=v.deployment_id,
            ready=v.ready,
            total=v.total,
            url=v.url,
            created_at=v.created_at,
        )
        for v in views
    ]


@router.post("/apps/{appId}/traffic", response_model=TrafficOut, response_model_exclude_none=True)
async def set_traffic(scope: WorkspaceScope, app_id: AppId, body: TrafficIn) -> TrafficOut:
    splits = [TrafficSplit(s.revision_name, s.percent, s.tag) for s in body.splits]
    result = await traffic.set_traffic(scope.platform, scope.workspace_id, app_id, splits)
    return TrafficOut(
        app_id=result.app_id, splits=_splits_out(result.splits), updated_at=result.updated_at
    )


@router.post(
    "/revisions/{revisionName}/promote", response_model=PromoteOut, response_model_exclude_none=True
)
async def promote(scope: WorkspaceScope, revision_name: RevisionName) -> PromoteOut:
    result = await traffic.promote(scope.platform, scope.workspace_id, revision_name)
    return PromoteOut(
        app_id=result.app_id,
        promoted_revision=result.splits[0].revision_name,
        splits=_splits_out(result.splits),
        updated_at=result.updated_at,
    )
