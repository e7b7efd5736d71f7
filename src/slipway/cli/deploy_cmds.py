"""Client commands about deployments and logs: `deploy [--follow]`, `deployments`,
`logs DEPLOY_ID [--follow]`, `app-logs APP [--follow]`, `rollback`.

`--follow` reads the WebSocket streams. While a build runs, a live line at the bottom shows
the phase (polled every few seconds), the lines so far and the time; the log scrolls above it.
`deploy --follow` and `logs --follow` exit 0 only when the deployment succeeded.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Annotated, Any

import typer
from rich.markup import escape

from slipway.cli import render
from slipway.cli.session import client, emit_json, err, out
from slipway.client import Client

JsonOpt = Annotated[bool, typer.Option("--json", help="Print the API's JSON.")]
FollowOpt = Annotated[bool, typer.Option("--follow", "-f", help="Stream the log live.")]
AppArg = Annotated[str, typer.Argument(help="App name or id.")]
PHASE_POLL_SECONDS = 2.0


def deploy(
    app: AppArg,
    branch: Annotated[str | None, typer.Option("--branch", help="Branch to deploy.")] = None,
    sha: Annotated[str | None, typer.Option("--sha", help="Exact commit to deploy.")] = None,
    follow: FollowOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Build and deploy an app's branch (or one commit)."""
    with client() as c:
        found = c.find_app(app)
        dep = c.deploy(found["id"], branch=branch, sha=sha)
        if not follow:
            _print_deployment(dep, as_json)
            return
        if not as_json:
            out.print(
                f"Deploying {found['name']} @ {render.short(dep['gitCommitSha'])}: {dep['id']}"
            )
        final = _follow(c, dep["id"], as_json=as_json)
    raise typer.Exit(0 if final == "succeeded" else 1)


def _print_deployment(dep: dict[str, Any], as_json: bool) -> None:
    if as_json:
        emit_json(dep)
        return
    out.print(
        f"{dep['id']} {render.styled_status(dep['status'])} {render.short(dep.get('gitCommitSha'))}"
    )


def _follow(c: Client, deploy_id: str, *, as_json: bool) -> str:
    """Stream the build log to the end; returns the final status."""
    started, lines, phase, polled = time.monotonic(), 0, "queued", 0.0
    with err.status("", spinner="dots") as progress:
        for frame in c.follow_build_log(deploy_id):
            now = time.monotonic()
            if now - polled >= PHASE_POLL_SECONDS:
                phase, polled = c.deployment(deploy_id)["status"], now
            if frame is not None and frame["type"] == "log":
                lines += 1
                if as_json:
                    sys.stdout.write(json.dumps(frame) + "\n")
                else:
                    out.print(escape(frame["line"]), highlight=False)
            elif frame is not None and frame["type"] == "status":
                phase = frame["status"]
                if as_json:
                    sys.stdout.write(json.dumps(frame) + "\n")
                break
            progress.update(f"{phase} · {lines} lines · {now - started:.0f}s")
    dep = c.deployment(deploy_id)
    if not as_json:
        line = f"Deployment {deploy_id} {render.styled_status(dep['status'])}"
        if dep.get("error"):
            line += f": {escape(dep['error'])}"
        out.print(line)
    return str(dep["status"])


def deployments(app: AppArg, limit: int = 20, as_json: JsonOpt = False) -> None:
    """An app's deployments, newest first."""
    with client() as c:
        listed = c.deployments(c.find_app(app)["id"], limit=limit)
    if as_json:
        emit_json(listed)
        return
    rows = [
        (
            d["id"],
            render.styled_status(d["status"]),
            d.get("revisionName"),
            render.short(d.get("gitCommitSha")),
            d.get("gitCommitMessage"),
            d.get("durationSeconds"),
            d["createdAt"],
        )
        for d in listed["data"]
    ]
    columns = ["ID", "STATUS", "REVISION", "COMMIT", "MESSAGE", "SECONDS", "CREATED"]
    render.table("Deployments", columns, rows)


def logs(
    deploy_id: Annotated[str, typer.Argument(help="dep_... id.")],
    follow: FollowOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """A deployment's build log (all of it, or live with --follow)."""
    with client() as c:
        if follow:
            final = _follow(c, deploy_id, as_json=as_json)
            raise typer.Exit(0 if final == "succeeded" else 1)
        lines = c.build_logs(deploy_id)
    if as_json:
        emit_json({"logs": lines})
        return
    for line in lines:
        out.print(escape(line), highlight=False)


def app_logs(
    app: AppArg,
    follow: FollowOpt = False,
    since: Annotated[int | None, typer.Option(help="Start at this seq.")] = None,
    limit: Annotated[int, typer.Option(help="Lines (without --follow).")] = 100,
    revision: Annotated[str | None, typer.Option(help="Only this revision.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """An app's runtime logs: its replicas' output."""
    with client() as c:
        app_id = c.find_app(app)["id"]
        if not follow:
            page = c.app_logs(app_id, since=since, limit=limit, revision=revision)
            if as_json:
                emit_json(page)
                return
            for entry in page["logs"]:
                _print_app_line(entry)
            return
        for frame in c.follow_app_logs(app_id, since=since, revision=revision):
            if frame is None:
                continue
            if as_json:
                sys.stdout.write(json.dumps(frame) + "\n")
                sys.stdout.flush()
            else:
                _print_app_line(frame)


def _print_app_line(entry: dict[str, Any]) -> None:
    style = "red" if entry["stream"] == "stderr" else "dim"
    head = f"[{style}]{entry['timestamp']} {entry['replica']}[/{style}]"
    out.print(f"{head} {escape(entry['line'])}", highlight=False)


def rollback(
    deploy_id: Annotated[str, typer.Argument(help="The succeeded deployment to go back to.")],
    as_json: JsonOpt = False,
) -> None:
    """Deploy the image of an earlier successful deployment again."""
    with client() as c:
        dep = c.rollback(deploy_id)
    _print_deployment(dep, as_json)


def register(app: typer.Typer) -> None:
    app.command()(deploy)
    app.command()(deployments)
    app.command()(logs)
    app.command("app-logs")(app_logs)
    app.command()(rollback)
