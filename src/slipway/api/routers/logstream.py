"""`WS /workspaces/{wsId}/deploy/{deployId}/logs/stream`: a build log, live (CONTRACT §5).

The key comes from the `Authorization` header or `?token=` (browsers cannot set headers on a
WebSocket). Key, workspace, deployment and `?since=N` are all checked before the first
frame; then every line from index N, each new line as it is written, one status frame, and a
normal close. Frames: `{"type":"log","index":N,"line":"..."}`, `{"type":"status",...}`.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Path, Query, WebSocket

from slipway.api.routers import wsutil
from slipway.api.routers.deployments import ONE
from slipway.services.resources import buildlogs
from slipway.services.resources.buildlogs import FinalStatus

router = APIRouter(prefix="/workspaces/{wsId}/deploy", tags=["deploy"])


@router.websocket(ONE + "/logs/stream")
async def stream_build_log(
    websocket: WebSocket,
    ws_id: Annotated[str, Path(alias="wsId")],
    deploy_id: Annotated[str, Path(alias="deployId")],
    token: Annotated[str | None, Query()] = None,
    since: Annotated[str | None, Query()] = None,
) -> None:
    await websocket.accept()
    start = 0

    async def check() -> None:
        nonlocal start
        scope = await wsutil.authenticate(websocket, ws_id, token)
        start = wsutil.parse_int("since", since, default=0)
        await buildlogs.check_follow(scope.platform, scope.workspace_id, deploy_id, start)
        websocket.state.workspace_id = scope.workspace_id

    if not await wsutil.refuse_on_error(websocket, check):
        return
    events = buildlogs.follow(
        websocket.app.state.platform, websocket.state.workspace_id, deploy_id, since=start
    )
    await wsutil.pump(websocket, _frames(events))


async def _frames(events: AsyncIterator[buildlogs.LogEvent]) -> AsyncIterator[str]:
    async for event in events:
        if isinstance(event, FinalStatus):
            yield json.dumps({"type": "status", "status": event.status})
        else:
            yield json.dumps({"type": "log", "index": event.index, "line": event.line})
