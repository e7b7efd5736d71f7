"""`slipway`: typer commands. Server-side ones open the store directly; client commands talk
to the HTTP API (a later issue)."""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, TypeVar

import typer
from rich.console import Console
from typer.core import TyperArgument, TyperOption

from slipway import preflight
from slipway.cli import (
    apps_cmds,
    deploy_cmds,
    domains_cmds,
    keys_cmds,
    logsetup,
    session,
    traffic_cmds,
)
from slipway.domain.errors import DeployFailed, DomainError, NotFound
from slipway.ports import Store

if TYPE_CHECKING:  # the server's modules (FastAPI, SQLAlchemy, ...) load only for its commands
    from slipway import bootstrap


def _value_name(option: TyperOption, ctx: Any) -> str | None:
    """`--help`'s type column: nothing for a flag, the value's name (`BRANCH`) for an option
    that takes one, instead of typer's `<bool>`/`<str>` on every line."""
    if option.is_flag or option.name is None:
        return None
    return option.name.upper()


def _no_type(argument: TyperArgument, ctx: Any) -> str | None:
    return None  # the argument's name is shown already


TyperOption.display_type_rich = _value_name  # type: ignore[method-assign,assignment]
TyperArgument.display_type_rich = _no_type  # type: ignore[method-assign,assignment]

app = typer.Typer(help="Slipway: deploy git repositories as revisions with weighted traffic.")
workspace_app = typer.Typer(help="Manage workspaces (run on the server).", no_args_is_help=True)
key_app = typer.Typer(help="API keys of a workspace (run on the server).", no_args_is_help=True)
workspace_app.add_typer(key_app, name="key")
app.add_typer(workspace_app, name="workspace", rich_help_panel="Platform (run on the server)")
for _commands in (
    apps_cmds,
    deploy_cmds,
    traffic_cmds,
    domains_cmds,
    keys_cmds,
):  # client commands (HTTP API)
    _commands.register(app)
console = Console()
T = TypeVar("T")

DataDir = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        help="Where Slipway keeps its database, builds and images "
        "(default: $SLIPWAY_DATA_DIR, else ~/.local/share/slipway).",
        show_default=False,
    ),
]
LogFormat = Annotated[str, typer.Option(help="text or json (one object a line).")]
AccessLog = Annotated[bool, typer.Option("--access-log", help="Log every API request.")]

Host = Annotated[str, typer.Option(help="Address the API and router listen on.")]
ApiPort = Annotated[int, typer.Option(help="Port of the HTTP API.")]
RouterPort = Annotated[int, typer.Option(help="Port apps are served on.")]
BaseDomain = Annotated[str, typer.Option(help="Apps answer on {app}.{ws}.DOMAIN.")]
HttpsPort = Annotated[
    str | None,
    typer.Option(
        "--https-port",
        help="Port of HTTPS for apps: a number, 0 (any free port) or off "
        "(default: $SLIPWAY_HTTPS_PORT, else 8443 for up and 443 for serve).",
        show_default=False,
    ),
]
TlsCert = Annotated[
    str | None,
    typer.Option(
        "--tls-cert",
        help="The default certificate (chain, PEM), e.g. a wildcard for *.DOMAIN hosts; "
        "the key too, unless --tls-key.",
        show_default=False,
    ),
]
TlsKey = Annotated[
    str | None, typer.Option("--tls-key", help="The default certificate's key (PEM).")
]
AcmeDirectory = Annotated[
    str | None,
    typer.Option(
        "--acme-directory",
        help="ACME directory URL for custom domains' certificates "
        "(default: Let's Encrypt; $SLIPWAY_ACME_DIRECTORY).",
        show_default=False,
    ),
]
AcmeEmail = Annotated[
    str | None, typer.Option("--acme-email", help="Contact address for the ACME account.")
]
PublicAddress = Annotated[
    list[str] | None,
    typer.Option(
        "--public-address",
        help="An address of this platform custom domains' A/AAAA records may point at "
        "(repeat it; $SLIPWAY_PUBLIC_ADDRESSES). Without one, they need a CNAME.",
        show_default=False,
    ),
]


def _https(
    https_port: str | None,
    default: int,
    tls_cert: str | None,
    tls_key: str | None,
    acme_directory: str | None,
    acme_email: str | None,
    public_address: list[str] | None,
) -> dict[str, Any]:
    """The HTTPS settings given on the command line, for `config_from_env`."""
    from slipway import bootstrap

    try:
        port = bootstrap.parse_https_port(
            https_port if https_port is not None else os.environ.get("SLIPWAY_HTTPS_PORT"),
            default,
        )
    except ValueError:
        _error(f"--https-port is a port number, 0 or off, not {https_port!r}")
    return {
        "https_port": port,
        "tls_cert": tls_cert,
        "tls_key": tls_key,
        "acme_directory": acme_directory,
        "acme_email": acme_email,
        "public_addresses": tuple(public_address) if public_address else None,
    }


def _run(coro: Coroutine[Any, Any, T]) -> T:
    """Run `coro` on uvloop (what the router is measured on), else on asyncio's loop."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    return uvloop.run(coro)


def _start(config: bootstrap.Config, log_format: str) -> None:
    """Check the host and the ports, then serve until stopped. Each problem is one line on
    stderr, before anything starts (exit status 2)."""
    from slipway import bootstrap

    if log_format not in logsetup.FORMATS:
        _error(f"--log-format is text or json, not {log_format!r}")
    roles = config.roles
    ports = []
    if "api" in roles:
        ports.append((config.api_port, "the API", "--api-port"))
    if "router" in roles:
        ports.append((config.router_port, "the router", "--router-port"))
        if config.https_port:
            ports.append((config.https_port, "the router's HTTPS", "--https-port"))
    problems = preflight.host_problems(roles) + preflight.port_problems(config.host, ports)
    if "router" in roles and config.tls_cert:
        problems += preflight.certificate_problems(config.tls_cert, config.tls_key)
    for problem in problems:
        session.err.print(f"[red]error:[/red] {problem}", highlight=False)
    if problems:
        raise typer.Exit(2)
    logsetup.configure(log_format, access_log=config.access_log)
    for warning in preflight.host_warnings(roles):
        logging.getLogger("slipway").warning(warning)
    _run(bootstrap.serve(config))


def _error(message: str) -> NoReturn:
    session.err.print(f"[red]error:[/red] {message}", highlight=False)
    raise typer.Exit(2)


@app.command(rich_help_panel="Platform (run on the server)")
def up(
    data_dir: DataDir = None,
    host: Host = "127.0.0.1",
    api_port: ApiPort = 8000,
    router_port: RouterPort = 8080,
    base_domain: BaseDomain = "localhost",
    log_format: LogFormat = "text",
    access_log: AccessLog = False,
    https_port: HttpsPort = None,
    tls_cert: TlsCert = None,
    tls_key: TlsKey = None,
    acme_directory: AcmeDirectory = None,
    acme_email: AcmeEmail = None,
    public_address: PublicAddress = None,
) -> None:
    """Start the platform: API, deploy worker and router, SQLite in the data directory.

    Local repositories (a path as gitUrl) are off: set SLIPWAY_LOCAL_GIT_ROOTS to the
    directories they may come from (or SLIPWAY_ALLOW_LOCAL_GIT=1 for any path, when you
    are the only user)."""
    from slipway import bootstrap

    config = bootstrap.config_from_env(
        preflight.data_dir(data_dir),
        host=host,
        api_port=api_port,
        router_port=router_port,
        base_domain=base_domain,
        access_log=access_log,
        **_https(https_port, 8443, tls_cert, tls_key, acme_directory, acme_email, public_address),
    )
    _start(config, log_format)


@app.command(rich_help_panel="Platform (run on the server)")
def serve(
    role: Annotated[
        list[str] | None,
        typer.Option(help="api, worker, router or all; repeat it or give a comma list."),
    ] = None,
    data_dir: DataDir = None,
    database_url: Annotated[
        str | None,
        typer.Option(help="postgresql://... (or sqlite:///path); default: SQLite in the data dir."),
    ] = None,
    host: Host = "127.0.0.1",
    api_port: ApiPort = 8000,
    router_port: RouterPort = 8080,
    base_domain: BaseDomain = "localhost",
    log_format: LogFormat = "text",
    access_log: AccessLog = False,
    https_port: HttpsPort = None,
    tls_cert: TlsCert = None,
    tls_key: TlsKey = None,
    acme_directory: AcmeDirectory = None,
    acme_email: AcmeEmail = None,
    public_address: PublicAddress = None,
    runtime: Annotated[
        str | None,
        typer.Option(help="local (this machine) or kubernetes (a cluster: docs/kubernetes.md)."),
    ] = None,
    kubeconfig: Annotated[
        str | None,
        typer.Option(help="The cluster's kubeconfig; default: the pod's service account."),
    ] = None,
    kube_context: Annotated[str | None, typer.Option(help="A context of the kubeconfig.")] = None,
    namespace_prefix: Annotated[
        str | None, typer.Option(help="Each workspace's namespace is this + its id.")
    ] = None,
    gateway: Annotated[
        str | None, typer.Option(help="The Gateway the app routes attach to: namespace/name.")
    ] = None,
) -> None:
    """Run some roles of the platform; several processes may share one PostgreSQL database."""
    from slipway import bootstrap

    try:
        roles = bootstrap.parse_roles(role or ["all"])
    except ValueError as exc:
        _error(str(exc))
    config = bootstrap.config_from_env(
        preflight.data_dir(data_dir),
        host=host,
        api_port=api_port,
        router_port=router_port,
        base_domain=base_domain,
        database_url=database_url,
        roles=roles,
        access_log=access_log,
        runtime=runtime,
        kubeconfig=kubeconfig,
        kube_context=kube_context,
        namespace_prefix=namespace_prefix,
        gateway=gateway,
        **_https(https_port, 443, tls_cert, tls_key, acme_directory, acme_email, public_address),
    )
    if not config.db_url.startswith("postgres") and roles != bootstrap.ROLES:
        _error("on SQLite every role runs in one process (--role all)")
    _start(config, log_format)


async def _with_store(data_dir: Path | None, work: Callable[[Store], Awaitable[T]]) -> T:
    """`work` on the platform's database (the same one `up` uses: the data dir's SQLite, or
    SLIPWAY_DATABASE_URL), migrated first."""
    from slipway import bootstrap

    store = bootstrap.open_store(bootstrap.config_from_env(preflight.data_dir(data_dir)))
    try:
        await store.migrate()
        return await work(store)
    finally:
        await store.close()


@workspace_app.command("create")
def workspace_create(
    name: str,
    data_dir: DataDir = None,
    login: Annotated[
        bool,
        typer.Option("--login", help="Also log this machine's CLI in to it (slipway login)."),
    ] = False,
    api_url: Annotated[
        str, typer.Option(help="The API the CLI logs in to (with --login).")
    ] = session.DEFAULT_URL,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Create a workspace and its first API key (shown once)."""
    from slipway.services.resources.keys import create_workspace

    async def create(store: Store) -> tuple[str, str, str]:
        ws, key = await create_workspace(store, name)
        return ws.id, ws.name, key

    try:
        ws_id, ws_name, key = _run(_with_store(data_dir, create))
    except DomainError as exc:
        _error(exc.detail)
    saved = session.save(session.Credentials(api_url, key, ws_id)) if login else None
    if as_json:
        typer.echo(json.dumps({"id": ws_id, "name": ws_name, "apiKey": key}))
        return
    console.print(f"Workspace [bold]{ws_name}[/bold] created: {ws_id}", highlight=False)
    console.print(f"API key (shown once): [bold]{key}[/bold]", highlight=False)
    if saved is not None:
        console.print(f"The CLI is logged in to it ({saved}).", highlight=False)
    else:
        console.print(f"Next: slipway login --workspace {ws_id}", highlight=False)


@workspace_app.command("list")
def workspace_list(
    data_dir: DataDir = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Every workspace of the platform."""

    async def listed(store: Store) -> list[dict[str, str]]:
        return [
            {"id": w.id, "name": w.name, "createdAt": w.created_at.isoformat()}
            for w in await store.workspaces.list()
        ]

    rows = _run(_with_store(data_dir, listed))
    if as_json:
        typer.echo(json.dumps(rows))
        return
    for row in rows:
        typer.echo(f"{row['name']}\t{row['id']}\t{row['createdAt']}")


@key_app.command("create")
def workspace_key_create(
    workspace: Annotated[str, typer.Argument(help="The workspace's name or id.")],
    name: Annotated[str, typer.Option(help="The key's name.")] = "recovery",
    data_dir: DataDir = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """A new API key for a workspace (shown once), e.g. one that lost its keys."""
    from slipway.services.resources.keys import add_key

    async def mint(store: Store) -> tuple[str, str, str]:
        found = await store.workspaces.get(workspace) or await store.workspaces.get_by_name(
            workspace
        )
        if found is None:
            raise NotFound(f"no workspace named or numbered {workspace!r}")
        api_key, key = await add_key(store, found.id, name)
        return found.id, api_key.id, key

    try:
        ws_id, key_id, key = _run(_with_store(data_dir, mint))
    except DomainError as exc:
        _error(exc.detail)
    if as_json:
        typer.echo(json.dumps({"workspaceId": ws_id, "id": key_id, "name": name, "key": key}))
        return
    console.print(f"API key {key_id} of {ws_id} (shown once): [bold]{key}[/bold]", highlight=False)


@app.command(rich_help_panel="Platform (run on the server)")
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
        _error(f"{directory} is not a directory")
    app_env = {k: v for k, v in os.environ.items() if k.startswith("NIXPACKS_")}
    for pair in env or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            _error(f"--env takes KEY=VALUE, not {pair!r}")
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
        session.err.print(f"[red]error:[/red] {exc}", highlight=False)
        raise typer.Exit(1) from None
    typer.echo(json.dumps(plan, indent=2))
