"""Runtime logs of an app: `GET /workspaces/{wsId}/apps/{appId}/logs?since=&limit=&revision=`
and the same as a WebSocket, `/workspaces/{wsId}/apps/{appId}/logs/stream`, which sends the
page the GET would answer and then every new line as it is written, until the client leaves.

Each line: `seq` (the cursor `since` takes), `timestamp`, `revision`, `replica`, `stream`
(`stdout`/`stderr`) and `line`. The WebSocket sends each as `{"type":"log", ...}` and
refuses like the build-log stream (close code 4000 + the REST status, before any line).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, WebSocket

from slipway.api.auth import WorkspaceScope
from slipway.api.routers import wsutil
from slipway.api.schemas import AppLogLineOut, AppLogs, rfc3339
from slipway.ports import AppLogLine, RuntimeLogs
from slipway.services.resources import applogs

router = APIRouter(prefix="/workspaces/{wsId}/apps/{appId}", tags=["apps"])
AppId = Annotated[str, Path(alias="appId")]


def runtime_logs(app_state: object) -> RuntimeLogs:
    found: RuntimeLogs | None = getattr(app_state, "app_logs", None)
    return found if found is not None else applogs.NoRuntimeLogs()


def _when(line: AppLogLine) -> datetime:
    return datetime.fromtimestamp(line.timestamp, UTC)


def line_out(line: AppLogLine) -> AppLogLineOut:
    return AppLogLineOut(
        seq=line.seq,
        timestamp=_when(line),
        revision=line.revision,
        replica=line.replica,
        stream=line.stream,
        line=line.line,
    )


@router.get("/logs", response_model=AppLogs)
async def app_logs(
    scope: WorkspaceScope,
    request: Request,
    app_id: AppId,
    since: Annotated[int | None, Query()] = None,
    limit: Annotated[int, Query()] = applogs.DEFAULT_LIMIT,
    revision: Annotated[str | None, Query()] = None,
) -> AppLogs:
    page = await applogs.read(
        scope.platform,
        runtime_logs(request.app.state),
        scope.workspace_id,
        app_id,
        since=since,
        limit=limit,
        revision=revision,
    )
    return AppLogs(logs=[line_out(line) for line in page.lines], next=page.next)


@router.websocket("/logs/stream")
async def stream_app_logs(
    websocket: WebSocket,
    ws_id: Annotated[str, Path(alias="wsId")],
    app_id: AppId,
    token: Annotated[str | None, Query()] = None,
    since: Annotated[str | None, Query()] = None,
    revision: Annotated[str | None, Query()] = None,
) -> None:
    await websocket.accept()
    logs = runtime_logs(websocket.app.state)
    lines: list[AsyncIterator[AppLogLine]] = []

    async def check() -> None:
        scope = await wsutil.authenticate(websocket, ws_id, token)
        start = None if not since else wsutil.parse_int("since", since, default=0)
        # Validates app, since and revision before anything is sent.
        await applogs.read(
            scope.platform,
            logs,
            scope.workspace_id,
            app_id,
            since=start,
            limit=1,
            revision=revision,
        )
        lines.append(
            applogs.follow(
                scope.platform, logs, scope.workspace_id, app_id, since=start, revision=revision
            )
        )

    if not await wsutil.refuse_on_error(websocket, check):
        return
    await wsutil.pump(websocket, _frames(lines[0]))


async def _frames(lines: AsyncIterator[AppLogLine]) -> AsyncIterator[str]:
    async for line in lines:
        yield json.dumps(
            {
                "type": "log",
                "seq": line.seq,
                "timestamp": rfc3339(_when(line)),
                "revision": line.revision,
                "replica": line.replica,
                "stream": line.stream,
                "line": line.line,
            }
        )
