"""`slipway`: typer commands. Server-side ones open the store directly; client commands talk
to the HTTP API (a later issue)."""

from __future__ import annotations

import asyncio
import json
import logging
import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from slipway import bootstrap
from slipway.domain.errors import DeployFailed, DomainError

app = typer.Typer(help="Slipway: deploy git repositories as revisions with weighted traffic.")
workspace_app = typer.Typer(help="Manage workspaces (run on the server).")
app.add_typer(workspace_app, name="workspace")
console = Console()

DataDir = Annotated[
    Path, typer.Option("--data-dir", help="Where Slipway keeps its database, builds and images.")
]


def _run(coro: object) -> object:
    try:
        import uvloop

        return uvloop.run(coro)  # type: ignore[arg-type]
    except ImportError:
        return asyncio.run(coro)  # type: ignore[arg-type]


@app.command()
def up(
    data_dir: DataDir = Path(".slipway"),
    host: Annotated[str, typer.Option(help="Address the API and router listen on.")] = "127.0.0.1",
    api_port: Annotated[int, typer.Option(help="Port of the HTTP API.")] = 8000,
    router_port: Annotated[int, typer.Option(help="Port apps are served on.")] = 8080,
    base_domain: Annotated[
        str, typer.Option(help="Apps answer on {app}.{ws}.DOMAIN.")
    ] = "localhost",
) -> None:
    """Start the platform: API, deploy worker and router, SQLite in the data directory."""
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    os.environ.setdefault("SLIPWAY_ALLOW_LOCAL_GIT", "1")
    config = bootstrap.config_from_env(
        data_dir,
        host=host,
        api_port=api_port,
        router_port=router_port,
        base_domain=base_domain,
        allow_local_git=os.environ["SLIPWAY_ALLOW_LOCAL_GIT"] == "1",
    )
    _run(bootstrap.serve(config))


@workspace_app.command("create")
def workspace_create(
    name: str,
    data_dir: DataDir = Path(".slipway"),
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Create a workspace and its first API key (shown once)."""
    from slipway.services.keys import create_workspace

    async def create() -> tuple[str, str, str]:
        store = bootstrap.open_store(bootstrap.config_from_env(data_dir))
        try:
            await store.migrate()
            ws, key = await create_workspace(store, name)
            return ws.id, ws.name, key
        finally:
            await store.close()

    try:
        ws_id, ws_name, key = _run(create())  # type: ignore[misc]
    except DomainError as exc:
        console.print(f"[red]error:[/red] {exc.detail}")
        raise typer.Exit(2) from None
    if as_json:
        typer.echo(json.dumps({"id": ws_id, "name": ws_name, "apiKey": key}))
        return
    console.print(f"Workspace [bold]{ws_name}[/bold] created: {ws_id}")
    console.print(f"API key (shown once): [bold]{key}[/bold]")


@app.command()
def plan(directory: Path) -> None:
    """Print the build plan of an app directory as JSON, in nixpacks' shape."""
    from slipway.builder.plan import make_plan

    if not directory.is_dir():
        console.print(f"[red]error:[/red] {directory} is not a directory")
        raise typer.Exit(2)
    try:
        plan = make_plan(directory, env=dict(os.environ))
    except DeployFailed as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None
    typer.echo(json.dumps(plan, indent=2))
