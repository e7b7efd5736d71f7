"""Client commands about apps and the session: `login`, `apps create|list`, `status`."""

from __future__ import annotations

from typing import Annotated

import typer

from slipway.cli import render
from slipway.cli.session import Credentials, client, emit_json, fail, out, save
from slipway.client import ApiError, Client

JsonOpt = Annotated[bool, typer.Option("--json", help="Print the API's JSON.")]

apps_app = typer.Typer(help="Create and list apps.", no_args_is_help=True)


def login(
    api_key: Annotated[str, typer.Option(prompt=True, hide_input=True, help="dor_sk_... key.")],
    workspace: Annotated[str, typer.Option(prompt=True, help="The key's workspace id (ws_...).")],
    api_url: Annotated[
        str, typer.Option(help="Base URL of the API.")
    ] = "http://127.0.0.1:8000/api/v1",
) -> None:
    """Check a key against the API and remember it for the next commands."""
    try:
        with Client(api_url, api_key, workspace) as c:
            c.list_apps(limit=1)
    except ApiError as exc:
        fail(f"the API refused the key ({exc.status}: {exc.detail})")
    except OSError as exc:
        fail(f"cannot reach {api_url} ({type(exc).__name__})")
    path = save(Credentials(api_url, api_key, workspace))
    out.print(f"Logged in to workspace {workspace}; credentials saved in {path}")


@apps_app.command("create")
def apps_create(
    name: str,
    git_url: Annotated[str, typer.Option("--git-url", help="Repository to build.")],
    branch: Annotated[str | None, typer.Option(help="Default branch.")] = None,
    env: Annotated[list[str] | None, typer.Option("--env", help="KEY=VALUE, repeatable.")] = None,
    replicas: Annotated[int | None, typer.Option(help="Desired replicas.")] = None,
    health_check_path: Annotated[str | None, typer.Option(help="HTTP health path.")] = None,
    memory_mb: Annotated[
        int | None, typer.Option("--memory-mb", help="Memory per replica, MiB (128-8192).")
    ] = None,
    min_replicas: Annotated[
        int | None, typer.Option(help="Autoscaling floor (0-10); 0 scales to zero when idle.")
    ] = None,
    max_replicas: Annotated[
        int | None, typer.Option(help="Autoscaling ceiling (0-10); unset: no autoscaling.")
    ] = None,
    target_concurrency: Annotated[
        int | None, typer.Option(help="Requests in flight per replica the autoscaler aims at.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Create an app from a git repository."""
    fields: dict[str, object] = {"name": name, "gitUrl": git_url}
    if branch:
        fields["gitBranch"] = branch
    if env:
        fields["env"] = dict(_pair(p) for p in env)
    if replicas is not None:
        fields["replicas"] = replicas
    if health_check_path:
        fields["healthCheckPath"] = health_check_path
    if memory_mb is not None:
        fields["memoryMb"] = memory_mb
    for key, value in (
        ("minReplicas", min_replicas),
        ("maxReplicas", max_replicas),
        ("targetConcurrency", target_concurrency),
    ):
        if value is not None:
            fields[key] = value
    with client() as c:
        app = c.create_app(**fields)
    if as_json:
        emit_json(app)
        return
    out.print(f"App [bold]{app['name']}[/bold] created: {app['id']}  {app['url']}")


def _pair(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        fail(f"--env takes KEY=VALUE, not {text!r}", 2)
    return key, value


@apps_app.command("list")
def apps_list(as_json: JsonOpt = False) -> None:
    """List the workspace's apps."""
    with client() as c:
        listed = c.list_apps()
    if as_json:
        emit_json(listed)
        return
    rows = [
        (a["name"], a["id"], a["gitBranch"] or "(default)", a["replicas"], a["url"])
        for a in listed["data"]
    ]
    render.table("Apps", ["NAME", "ID", "BRANCH", "REPLICAS", "URL"], rows)


def status(
    app: Annotated[str, typer.Argument(help="App name or id.")], as_json: JsonOpt = False
) -> None:
    """An app's latest deployment, its runtime status and its traffic."""
    with client() as c:
        found = c.find_app(app)
        deps = c.deployments(found["id"], limit=1)["data"]
        latest = deps[0] if deps else None
        runtime = c.runtime_status(latest["id"]) if latest else None
        revisions = c.revisions(found["id"])
    result = {"app": found, "latestDeployment": latest, "runtime": runtime, "revisions": revisions}
    if as_json:
        emit_json(result)
        return
    out.print(f"[bold]{found['name']}[/bold] ({found['id']})  {found['url']}")
    if latest:
        out.print(
            f"latest deployment {latest['id']}: {render.styled_status(latest['status'])}"
            f" {latest.get('revisionName') or ''}"
        )
    if runtime:
        out.print(f"runtime: {runtime['phase']}, {runtime['ready']}/{runtime['total']} ready")
    _revision_table(revisions)


def _revision_table(revisions: list[dict[str, object]]) -> None:
    rows = [
        (r["revisionName"], r.get("trafficPercent"), r.get("tag"), r.get("ready"), r.get("total"))
        for r in revisions
    ]
    render.table("Revisions", ["REVISION", "TRAFFIC %", "TAG", "READY", "TOTAL"], rows)


def register(app: typer.Typer) -> None:
    app.command()(login)
    app.add_typer(apps_app, name="apps")
    app.command()(status)
