"""`/workspaces/{wsId}/apps`: create, list, read, update (PATCH) and delete apps.

DELETE answers 200 with `{"id", "deleted": true}` (CONTRACT §2: every success other than a
creation or a deploy is 200), after the app's replicas are stopped and its routes removed.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from slipway.api.auth import Scope, WorkspaceScope
from slipway.api.schemas import AppIn, AppList, AppOut, Deleted, PageMeta
from slipway.domain.models import App
from slipway.services.resources import apps
from slipway.services.resources.paging import DEFAULT_LIMIT

router = APIRouter(prefix="/workspaces/{wsId}/apps", tags=["apps"])
AppId = Annotated[str, Path(alias="appId")]


def app_out(app: App, scope: Scope) -> AppOut:
    return AppOut(
        id=app.id,
        name=app.name,
        git_url=app.git_url,
        git_branch=app.git_branch,
        root_directory=app.root_directory,
        buildpack=app.buildpack,
        start_command=app.start_command,
        build_command=app.build_command,
        install_command=app.install_command,
        release_command=app.release_command,
        health_check_path=app.health_check_path,
        env=app.env,
        min_replicas=app.min_replicas,
        max_replicas=app.max_replicas,
        replicas=app.replicas,
        memory_mb=app.memory_mb,
        target_concurrency=app.target_concurrency,
        https_only=app.https_only,
        url=scope.platform.app_url(app.name, scope.workspace.name),
        created_at=app.created_at,
        updated_at=app.updated_at,
    )


@router.post("", status_code=201, response_model=AppOut)
async def create_app(scope: WorkspaceScope, body: AppIn) -> AppOut:
    fields = body.model_dump(exclude_unset=True)
    app = await apps.create_app(scope.platform, scope.workspace_id, fields)
    return app_out(app, scope)


@router.get("", response_model=AppList)
async def list_apps(
    scope: WorkspaceScope,
    page: Annotated[int, Query()] = 1,
    limit: Annotated[int, Query()] = DEFAULT_LIMIT,
) -> AppList:
    result = await apps.list_apps(scope.platform, scope.workspace_id, page=page, limit=limit)
    meta = PageMeta(total=result.total, page=page, limit=limit, total_pages=result.total_pages)
    return AppList(data=[app_out(a, scope) for a in result.items], meta=meta)


@router.get("/{appId}", response_model=AppOut)
async def get_app(scope: WorkspaceScope, app_id: AppId) -> AppOut:
    return app_out(await apps.get_app(scope.platform, scope.workspace_id, app_id), scope)


@router.patch("/{appId}", response_model=AppOut)
async def update_app(scope: WorkspaceScope, app_id: AppId, body: AppIn) -> AppOut:
    fields = body.model_dump(exclude_unset=True)
    app = await apps.update_app(scope.platform, scope.workspace_id, app_id, fields)
    return app_out(app, scope)


@router.delete("/{appId}", response_model=Deleted)
async def delete_app(scope: WorkspaceScope, app_id: AppId) -> Deleted:
    await apps.delete_app(scope.platform, scope.workspace_id, app_id)
    return Deleted(id=app_id)
