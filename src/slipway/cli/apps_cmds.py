"""Client commands about apps and the session: `login`, `workspaces`, `apps
create|list|show|update|delete`, `env list|set|unset`, `open`, `status`. Apps are named by
name or id everywhere; env values are sent, never printed."""

from __future__ import annotations

import webbrowser
from pathlib import Path
from typing import Annotated

import typer

from slipway.cli import render
from slipway.cli.session import DEFAULT_URL, Credentials, client, emit_json, fail, out, save
from slipway.client import ApiError, Client

JsonOpt = Annotated[bool, typer.Option("--json", help="Print the API's JSON.")]

apps_app = typer.Typer(help="Create, show, change and delete apps.", no_args_is_help=True)
env_app = typer.Typer(help="An app's environment (values are never printed).", no_args_is_help=True)
AppArg = Annotated[str, typer.Argument(help="App name or id.")]


def login(
    api_key: Annotated[str, typer.Option(prompt=True, hide_input=True, help="dor_sk_... key.")],
    workspace: Annotated[str, typer.Option(prompt=True, help="The key's workspace id (ws_...).")],
    api_url: Annotated[str, typer.Option(help="Base URL of the API.")] = DEFAULT_URL,
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
    fields: dict[str, object] = {"name": name, "gitUrl": local_or_remote(git_url)}
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


def local_or_remote(git_url: str) -> str:
    """A relative path to a local directory (`--git-url .`) made absolute, as the API wants
    local repositories; anything else as given."""
    if "://" not in git_url and not git_url.startswith("/") and Path(git_url).is_dir():
        return str(Path(git_url).resolve())
    return git_url


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


def status(app: AppArg, as_json: JsonOpt = False) -> None:
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


@apps_app.command("show")
def apps_show(app: AppArg, as_json: JsonOpt = False) -> None:
    """An app's settings (env names only)."""
    with client() as c:
        found = c.find_app(app)
    shown = {**found, "env": sorted(found.get("env") or {})}
    if as_json:
        emit_json(shown)
        return
    for key in SHOWN_FIELDS:
        value = shown.get(key)
        out.print(f"{key}: {'-' if value in (None, []) else value}", highlight=False)


SHOWN_FIELDS = (
    "name", "id", "url", "gitUrl", "gitBranch", "rootDirectory", "startCommand", "buildCommand",
    "installCommand", "releaseCommand", "healthCheckPath", "replicas", "minReplicas",
    "maxReplicas", "targetConcurrency", "memoryMb", "httpsOnly", "env", "createdAt",
    "updatedAt",
)  # fmt: skip


@apps_app.command("update")
def apps_update(
    app: AppArg,
    git_url: Annotated[str | None, typer.Option("--git-url", help="Repository to build.")] = None,
    branch: Annotated[str | None, typer.Option(help="Default branch.")] = None,
    root_directory: Annotated[str | None, typer.Option(help="Sub-folder to build.")] = None,
    start_command: Annotated[str | None, typer.Option(help="Start command.")] = None,
    build_command: Annotated[str | None, typer.Option(help="Build command.")] = None,
    install_command: Annotated[str | None, typer.Option(help="Install command.")] = None,
    release_command: Annotated[
        str | None, typer.Option(help="Runs once per deployment, before traffic moves.")
    ] = None,
    health_check_path: Annotated[str | None, typer.Option(help="HTTP health path.")] = None,
    memory_mb: Annotated[int | None, typer.Option("--memory-mb", help="MiB per replica.")] = None,
    min_replicas: Annotated[int | None, typer.Option(help="Autoscaling floor (0-10).")] = None,
    max_replicas: Annotated[int | None, typer.Option(help="Autoscaling ceiling (0-10).")] = None,
    no_autoscaling: Annotated[
        bool, typer.Option("--no-autoscaling", help="maxReplicas back to null.")
    ] = False,
    target_concurrency: Annotated[
        int | None, typer.Option(help="Requests in flight per replica the autoscaler aims at.")
    ] = None,
    https_only: Annotated[
        bool | None,
        typer.Option(
            "--https-only/--no-https-only",
            help="Redirect plain HTTP to HTTPS on hosts with a certificate.",
            show_default=False,
        ),
    ] = None,
    unset: Annotated[
        list[str] | None,
        typer.Option("--unset", help="A field back to its default (startCommand, ...)."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Change an app's settings: the next deployment uses them."""
    fields: dict[str, object] = {
        key: value
        for key, value in (
            ("gitUrl", git_url),
            ("gitBranch", branch),
            ("rootDirectory", root_directory),
            ("startCommand", start_command),
            ("buildCommand", build_command),
            ("installCommand", install_command),
            ("releaseCommand", release_command),
            ("healthCheckPath", health_check_path),
            ("memoryMb", memory_mb),
            ("minReplicas", min_replicas),
            ("maxReplicas", max_replicas),
            ("targetConcurrency", target_concurrency),
            ("httpsOnly", https_only),
        )
        if value is not None
    }
    if no_autoscaling:
        fields["maxReplicas"] = None
    for name in unset or []:
        fields[name] = None
    if not fields:
        fail("nothing to change: give at least one option (see --help)", 2)
    with client() as c:
        updated = c.update_app(c.find_app(app)["id"], **fields)
    if as_json:
        emit_json({**updated, "env": sorted(updated.get("env") or {})})
        return
    out.print(f"App [bold]{updated['name']}[/bold] updated: {', '.join(sorted(fields))}")


@apps_app.command("delete")
def apps_delete(
    app: AppArg,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Delete an app: its replicas drain and stop, its URLs stop answering."""
    with client() as c:
        found = c.find_app(app)
        if not yes and not typer.confirm(f"Delete {found['name']} ({found['id']})?"):
            raise typer.Exit(1)
        result = c.delete_app(found["id"])
    if as_json:
        emit_json(result)
        return
    out.print(f"App [bold]{found['name']}[/bold] deleted ({found['id']})")


@env_app.command("list")
def env_list(app: AppArg, as_json: JsonOpt = False) -> None:
    """The names of an app's variables (never their values)."""
    with client() as c:
        names = sorted(c.find_app(app).get("env") or {})
    if as_json:
        emit_json(names)
        return
    for name in names:
        out.print(name, highlight=False, markup=False)


@env_app.command("set")
def env_set(
    app: AppArg,
    pairs: Annotated[list[str], typer.Argument(help="KEY=VALUE ...")],
    as_json: JsonOpt = False,
) -> None:
    """Set variables (the next deployment uses them); values are not echoed."""
    given = dict(_pair(p) for p in pairs)
    with client() as c:
        found = c.find_app(app)
        env = {**(found.get("env") or {}), **given}
        c.update_app(found["id"], env=env)
    _said_env(found["name"], "set", sorted(given), as_json)


@env_app.command("unset")
def env_unset(
    app: AppArg,
    names: Annotated[list[str], typer.Argument(help="KEY ...")],
    as_json: JsonOpt = False,
) -> None:
    """Remove variables (the next deployment goes without them)."""
    with client() as c:
        found = c.find_app(app)
        env = dict(found.get("env") or {})
        missing = [n for n in names if n not in env]
        if missing:
            fail(f"{found['name']} has no variable {', '.join(missing)}")
        for name in names:
            del env[name]
        c.update_app(found["id"], env=env)
    _said_env(found["name"], "unset", sorted(names), as_json)


def _said_env(app: str, verb: str, names: list[str], as_json: bool) -> None:
    if as_json:
        emit_json({"app": app, verb: names})
        return
    out.print(f"{app}: {verb} {', '.join(names)} (deploy to apply)", highlight=False)


def open_app(
    app: AppArg,
    tag: Annotated[str | None, typer.Option(help="The tag's URL instead.")] = None,
    browser: Annotated[bool, typer.Option("--browser", help="Open it in a browser too.")] = False,
) -> None:
    """Print an app's URL (or a tag's)."""
    with client() as c:
        url = str(c.find_app(app)["url"])
    if tag:
        url = tag_url(url, tag)
    out.print(url, highlight=False, markup=False)
    if browser:
        webbrowser.open(url)


def tag_url(app_url: str, tag: str) -> str:
    """The URL of a tag of the app at `app_url` (`{tag}---{app host}`)."""
    scheme, sep, rest = app_url.partition("://")
    return f"{scheme}{sep}{tag}---{rest}" if sep else f"{tag}---{app_url}"


def workspaces(as_json: JsonOpt = False) -> None:
    """The workspace this CLI works in, and where its API is."""
    with client() as c:
        keys = c.list_keys()
    shown = {"workspaceId": c.workspace_id, "apiUrl": c.base_url, "apiKeys": len(keys)}
    if as_json:
        emit_json(shown)
        return
    out.print(
        f"{c.workspace_id}  {c.base_url}  ({len(keys)} API keys; the server's "
        "`slipway workspace list` lists every workspace)",
        highlight=False,
    )


def register(app: typer.Typer) -> None:
    panel = "Apps"
    app.command(rich_help_panel="Session")(login)
    app.command(rich_help_panel="Session")(workspaces)
    app.add_typer(apps_app, name="apps", rich_help_panel=panel)
    app.add_typer(env_app, name="env", rich_help_panel=panel)
    app.command(rich_help_panel=panel)(status)
    app.command("open", rich_help_panel=panel)(open_app)
