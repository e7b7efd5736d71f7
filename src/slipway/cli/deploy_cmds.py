"""Client commands about deployments and logs: `deploy APP`, `cancel`, `restart`, `rollback
APP [--to]`, `deployments APP`, `logs APP [DEP]`, `app-logs APP`.

`--follow` reads the WebSocket streams. While a build runs, a live line at the bottom shows
the phase (polled every few seconds), the lines so far and the time; the log scrolls above it.
`deploy --follow` and `logs --follow` exit 0 only when the deployment succeeded, and a
deploy that succeeded ends with the app's URL (and the tag's). With `--json` the stream is
NDJSON whose first object names the deployment. Ctrl-C stops following, not the deployment,
and says how to follow it again.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Annotated, Any

import typer
from rich.markup import escape

from slipway.cli import render
from slipway.cli.apps_cmds import tag_url
from slipway.cli.session import client, emit_json, err, fail, out
from slipway.client import Client

JsonOpt = Annotated[bool, typer.Option("--json", help="Print the API's JSON.")]
FollowOpt = Annotated[bool, typer.Option("--follow", "-f", help="Stream the log live.")]
AppArg = Annotated[str, typer.Argument(help="App name or id.")]
PHASE_POLL_SECONDS = 2.0
WAIT_POLL_SECONDS = 1.0
ACTIVE = {"queued", "building", "deploying"}


def deploy(
    app: AppArg,
    branch: Annotated[str | None, typer.Option("--branch", help="Branch to deploy.")] = None,
    sha: Annotated[str | None, typer.Option("--sha", help="Exact commit to deploy.")] = None,
    no_traffic: Annotated[
        bool,
        typer.Option("--no-traffic", help="Start the revision without moving traffic to it."),
    ] = False,
    tag: Annotated[
        str | None, typer.Option("--tag", help="Give the new revision this tag (its own URL).")
    ] = None,
    follow: FollowOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Build and deploy an app's branch (or one commit).

    With --tag the command waits for the deployment (following its log with --follow) and
    then tags the new revision; with --no-traffic it keeps the traffic where it was."""
    with client() as c:
        found = c.find_app(app)
        dep = c.deploy(found["id"], branch=branch, sha=sha, no_traffic=no_traffic)
        if not follow and tag is None:
            _print_deployment(dep, as_json)
            return
        if not as_json:
            err.print(
                f"Deploying {found['name']} @ {render.short(dep['gitCommitSha'])}: {dep['id']}",
                highlight=False,
            )
        done = _until_done(c, found["name"], dep["id"], follow=follow, as_json=as_json)
        if done["status"] != "succeeded":
            raise typer.Exit(1)
        revision = done.get("revisionName")
        urls = [str(found["url"])] if not no_traffic else []
        if tag is not None and revision:
            _tag(c, found["id"], revision, tag)
        if no_traffic and tag is None:
            tag = "candidate"  # what the API tags a noTraffic revision with
        if tag is not None:
            urls.append(tag_url(str(found["url"]), tag))
    if as_json:
        _ndjson({"type": "urls", "revision": revision, "urls": urls})
    else:
        for url in urls:
            out.print(url, highlight=False, markup=False)


def _tag(c: Client, app_id: str, revision: str, tag: str) -> None:
    """The app's traffic as it is, with `tag` on `revision` (the tag moves if elsewhere)."""
    splits = []
    for r in c.revisions(app_id):
        percent, current = r.get("trafficPercent") or 0, r.get("tag")
        if r["revisionName"] == revision:
            current = tag
        elif current == tag:
            current = None
        if percent or current:
            split: dict[str, Any] = {"revisionName": r["revisionName"], "percent": percent}
            if current:
                split["tag"] = current
            splits.append(split)
    c.set_traffic(app_id, splits)


def _until_done(
    c: Client, app_name: str | None, deploy_id: str, *, follow: bool, as_json: bool
) -> dict[str, Any]:
    """Follow the log (or, without --follow, wait) to the end; the deployment as it ended.
    With --json the stream's first object names the deployment. Ctrl-C says the deployment
    goes on, and how to follow it again."""
    if as_json:
        _ndjson({"type": "deployment", "id": deploy_id} | ({"app": app_name} if app_name else {}))
    try:
        if follow:
            _follow(c, deploy_id, as_json=as_json)
        else:
            while c.deployment(deploy_id)["status"] in ACTIVE:
                time.sleep(WAIT_POLL_SECONDS)
        return _print_final(c, deploy_id, as_json=as_json)
    except KeyboardInterrupt:
        err.print(
            f"\nStopped following. Deployment {deploy_id} goes on; follow it again with: "
            f"slipway logs {app_name or 'APP'} {deploy_id} --follow",
            highlight=False,
        )
        raise typer.Exit(130) from None


def _ndjson(frame: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(frame) + "\n")
    sys.stdout.flush()


def _print_deployment(dep: dict[str, Any], as_json: bool) -> None:
    if as_json:
        emit_json(dep)
        return
    out.print(
        f"{dep['id']} {render.styled_status(dep['status'])} {render.short(dep.get('gitCommitSha'))}"
    )


def _follow(c: Client, deploy_id: str, *, as_json: bool) -> None:
    """Stream the build log to its end, a live progress line below it."""
    started, lines, phase, polled = time.monotonic(), 0, "queued", 0.0
    with err.status("", spinner="dots") as progress:
        for frame in c.follow_build_log(deploy_id):
            now = time.monotonic()
            if now - polled >= PHASE_POLL_SECONDS:
                phase, polled = c.deployment(deploy_id)["status"], now
            if frame is not None and frame["type"] == "log":
                lines += 1
                if as_json:
                    _ndjson(frame)
                else:
                    out.print(escape(frame["line"]), highlight=False)
            elif frame is not None and frame["type"] == "status":
                phase = frame["status"]
                if as_json:
                    _ndjson(frame)
                break
            progress.update(f"{phase} · {lines} lines · {now - started:.0f}s")


def _print_final(c: Client, deploy_id: str, *, as_json: bool) -> dict[str, Any]:
    dep = c.deployment(deploy_id)
    if not as_json:
        line = f"Deployment {deploy_id} {render.styled_status(dep['status'])}"
        if dep.get("error"):
            line += f": {escape(dep['error'])}"
        out.print(line)
    return dep


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


def _latest(c: Client, app: dict[str, Any], *, active: bool = False) -> dict[str, Any]:
    for dep in c.deployments(app["id"], limit=100)["data"]:
        if not active or dep["status"] in ACTIVE:
            return dict(dep)
    what = "running deployment" if active else "deployment"
    fail(f"{app['name']} has no {what}")


def logs(
    app: AppArg,
    deployment: Annotated[
        str | None, typer.Argument(help="dep_... id (default: the app's latest deployment).")
    ] = None,
    follow: FollowOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """A deployment's build log (all of it, or live with --follow)."""
    with client() as c:
        name: str | None = None
        if deployment is None and app.startswith("dep_"):
            deployment = app  # `logs DEP`, as before
        else:
            found = c.find_app(app)
            name, deployment = found["name"], deployment or _latest(c, found)["id"]
        if follow:
            done = _until_done(c, name, deployment, follow=True, as_json=as_json)
            raise typer.Exit(0 if done["status"] == "succeeded" else 1)
        lines = c.build_logs(deployment)
    if as_json:
        emit_json({"deployment": deployment, "logs": lines})
        return
    for line in lines:
        out.print(escape(line), highlight=False)


def cancel(
    target: Annotated[str, typer.Argument(help="App (its running deployment) or dep_... id.")],
    as_json: JsonOpt = False,
) -> None:
    """Cancel a deployment that has not finished."""
    with client() as c:
        deploy_id = (
            target
            if target.startswith("dep_")
            else _latest(c, c.find_app(target), active=True)["id"]
        )
        dep = c.cancel(deploy_id)
    _print_deployment(dep, as_json)


def _serving(c: Client, app: dict[str, Any]) -> str:
    """The revision with the most traffic."""
    revisions = [r for r in c.revisions(app["id"]) if (r.get("trafficPercent") or 0) > 0]
    if not revisions:
        fail(f"{app['name']} serves no revision yet: deploy it first")
    return str(max(revisions, key=lambda r: r.get("trafficPercent") or 0)["revisionName"])


def _by_revision(c: Client, app: dict[str, Any], revision: str) -> dict[str, Any]:
    for dep in c.deployments(app["id"], limit=100)["data"]:
        if dep.get("revisionName") == revision and dep["status"] == "succeeded":
            return dict(dep)
    fail(f"{app['name']} has no succeeded deployment of revision {revision}")


def restart(app: AppArg, follow: FollowOpt = False, as_json: JsonOpt = False) -> None:
    """Fresh replicas of what the app serves (its image again, no build); the old drain.

    A new deployment of the serving revision's image: its replicas start and pass their
    health check, traffic moves to them, then the old ones drain and stop."""
    with client() as c:
        found = c.find_app(app)
        dep = c.rollback(_by_revision(c, found, _serving(c, found))["id"])
        _after_rollback(c, found, dep, follow=follow, as_json=as_json)


def rollback(
    app: AppArg,
    to: Annotated[
        str | None,
        typer.Option("--to", help="Revision name or dep_... id (default: the one before)."),
    ] = None,
    follow: FollowOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Serve an earlier revision again (its image, no build)."""
    with client() as c:
        if to is None and app.startswith("dep_"):
            dep = c.rollback(app)  # `rollback DEP`, as before
            _print_deployment(dep, as_json)
            return
        found = c.find_app(app)
        if to is None:
            target = _previous(c, found)
        elif to.startswith("dep_"):
            target = c.deployment(to)
        else:
            target = _by_revision(c, found, to)
        dep = c.rollback(target["id"])
        _after_rollback(c, found, dep, follow=follow, as_json=as_json)


def _previous(c: Client, app: dict[str, Any]) -> dict[str, Any]:
    serving = _serving(c, app)
    for dep in c.deployments(app["id"], limit=100)["data"]:
        revision = dep.get("revisionName")
        if dep["status"] == "succeeded" and revision and revision < serving:
            return dict(dep)
    fail(f"{app['name']} has no revision before {serving} to roll back to")


def _after_rollback(
    c: Client, app: dict[str, Any], dep: dict[str, Any], *, follow: bool, as_json: bool
) -> None:
    if not follow:
        _print_deployment(dep, as_json)
        return
    done = _until_done(c, app["name"], dep["id"], follow=True, as_json=as_json)
    if done["status"] != "succeeded":
        raise typer.Exit(1)
    if not as_json:
        out.print(str(app["url"]), highlight=False, markup=False)


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
        try:
            for frame in c.follow_app_logs(app_id, since=since, revision=revision):
                if frame is None:
                    continue
                if as_json:
                    _ndjson(frame)
                else:
                    _print_app_line(frame)
        except KeyboardInterrupt:
            raise typer.Exit(130) from None


def _print_app_line(entry: dict[str, Any]) -> None:
    style = "red" if entry["stream"] == "stderr" else "dim"
    head = f"[{style}]{entry['timestamp']} {entry['replica']}[/{style}]"
    out.print(f"{head} {escape(entry['line'])}", highlight=False)


def register(app: typer.Typer) -> None:
    panel, logs_panel = "Deploys", "Logs"
    app.command(rich_help_panel=panel)(deploy)
    app.command(rich_help_panel=panel)(deployments)
    app.command(rich_help_panel=panel)(cancel)
    app.command(rich_help_panel=panel)(restart)
    app.command(rich_help_panel=panel)(rollback)
    app.command(rich_help_panel=logs_panel)(logs)
    app.command("app-logs", rich_help_panel=logs_panel)(app_logs)
