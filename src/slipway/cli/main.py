"""`slipway`: typer commands. Server-side ones open the store directly; client commands talk
to the HTTP API (a later issue)."""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import Coroutine
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console

from slipway import bootstrap
from slipway.cli import apps_cmds, deploy_cmds, traffic_cmds
from slipway.domain.errors import DeployFailed, DomainError

app = typer.Typer(help="Slipway: deploy git repositories as revisions with weighted traffic.")
workspace_app = typer.Typer(help="Manage workspaces (run on the server).")
app.add_typer(workspace_app, name="workspace")
for _commands in (apps_cmds, deploy_cmds, traffic_cmds):  # client commands (HTTP API)
    _commands.register(app)
console = Console()
T = TypeVar("T")

DataDir = Annotated[
    Path, typer.Option("--data-dir", help="Where Slipway keeps its database, builds and images.")
]

Host = Annotated[str, typer.Option(help="Address the API and router listen on.")]
ApiPort = Annotated[int, typer.Option(help="Port of the HTTP API.")]
RouterPort = Annotated[int, typer.Option(help="Port apps are served on.")]
BaseDomain = Annotated[str, typer.Option(help="Apps answer on {app}.{ws}.DOMAIN.")]


def _run(coro: Coroutine[Any, Any, T]) -> T:
    """Run `coro` on uvloop (what the router is measured on), else on asyncio's loop."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    return uvloop.run(coro)


def _log_warnings() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")


@app.command()
def up(
    data_dir: DataDir = Path(".slipway"),
    host: Host = "127.0.0.1",
    api_port: ApiPort = 8000,
    router_port: RouterPort = 8080,
    base_domain: BaseDomain = "localhost",
) -> None:
    """Start the platform: API, deploy worker and router, SQLite in the data directory.

    Local repositories (a path as gitUrl) are off: set SLIPWAY_LOCAL_GIT_ROOTS to the
    directories they may come from (or SLIPWAY_ALLOW_LOCAL_GIT=1 for any path, when you
    are the only user)."""
    _log_warnings()
    config = bootstrap.config_from_env(
        data_dir,
        host=host,
        api_port=api_port,
        router_port=router_port,
        base_domain=base_domain,
    )
    _run(bootstrap.serve(config))


@app.command()
def serve(
    role: Annotated[
        list[str] | None,
        typer.Option(help="api, worker, router or all; repeat it or give a comma list."),
    ] = None,
    data_dir: DataDir = Path(".slipway"),
    database_url: Annotated[
        str | None,
        typer.Option(help="postgresql://... (or sqlite:///path); default: SQLite in the data dir."),
    ] = None,
    host: Host = "127.0.0.1",
    api_port: ApiPort = 8000,
    router_port: RouterPort = 8080,
    base_domain: BaseDomain = "localhost",
) -> None:
    """Run some roles of the platform; several processes may share one PostgreSQL database."""
    _log_warnings()
    try:
        roles = bootstrap.parse_roles(role or ["all"])
    except ValueError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    config = bootstrap.config_from_env(
        data_dir,
        host=host,
        api_port=api_port,
        router_port=router_port,
        base_domain=base_domain,
        database_url=database_url,
        roles=roles,
    )
    if not config.db_url.startswith("postgres") and roles != bootstrap.ROLES:
        console.print("[red]error:[/red] on SQLite every role runs in one process (--role all)")
        raise typer.Exit(2)
    _run(bootstrap.serve(config))


@workspace_app.command("create")
def workspace_create(
    name: str,
    data_dir: DataDir = Path(".slipway"),
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Create a workspace and its first API key (shown once)."""
    from slipway.services.resources.keys import create_workspace

    async def create() -> tuple[str, str, str]:
        store = bootstrap.open_store(bootstrap.config_from_env(data_dir))
        try:
            await store.migrate()
            ws, key = await create_workspace(store, name)
            return ws.id, ws.name, key
        finally:
            await store.close()

    try:
        ws_id, ws_name, key = _run(create())
    except DomainError as exc:
        console.print(f"[red]error:[/red] {exc.detail}")
        raise typer.Exit(2) from None
    if as_json:
        typer.echo(json.dumps({"id": ws_id, "name": ws_name, "apiKey": key}))
        return
    console.print(f"Workspace [bold]{ws_name}[/bold] created: {ws_id}")
    console.print(f"API key (shown once): [bold]{key}[/bold]")


@app.command()
def plan(
    directory: Path,
    env: Annotated[
        list[str] | None, typer.Option("--env", help="KEY=VALUE of the app's environment.")
    ] = None,
    install_cmd: Annotated[str | None, typer.Option(help="The app's installCommand.")] = None,
    build_cmd: Annotated[str | None, typer.Option(help="The app's buildCommand.")] = None,
    start_cmd: Annotated[str | None, typer.Option(help="The app's startCommand.")] = None,
) -> None:
    """Print the build plan of an app directory as JSON, in nixpacks' shape.

    NIXPACKS_* variables of this shell count as the app's environment, as `--env` does.
    """
    from slipway.builder.plan import make_plan

    if not directory.is_dir():
        console.print(f"[red]error:[/red] {directory} is not a directory")
        raise typer.Exit(2)
    app_env = {k: v for k, v in os.environ.items() if k.startswith("NIXPACKS_")}
    for pair in env or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            console.print(f"[red]error:[/red] --env takes KEY=VALUE, not {pair!r}")
            raise typer.Exit(2)
        app_env[key] = value
    try:
        plan = make_plan(
            directory,
            env=app_env,
            install_cmd=install_cmd,
            build_cmd=build_cmd,
            start_cmd=start_cmd,
        )
    except DeployFailed as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None
    typer.echo(json.dumps(plan, indent=2))
