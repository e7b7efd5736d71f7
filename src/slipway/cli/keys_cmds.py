"""Client commands about API keys: `keys list|create|revoke` (a new key is shown once)."""

from __future__ import annotations

from typing import Annotated

import typer

from slipway.cli import render
from slipway.cli.session import client, emit_json, fail, out

JsonOpt = Annotated[bool, typer.Option("--json", help="Print the API's JSON.")]
keys_app = typer.Typer(help="The workspace's API keys.", no_args_is_help=True)


@keys_app.command("list")
def keys_list(as_json: JsonOpt = False) -> None:
    """The workspace's keys (their prefixes, never the keys)."""
    with client() as c:
        listed = c.list_keys()
    if as_json:
        emit_json(listed)
        return
    rows = [(k["name"], k["id"], k["prefix"], k["createdAt"], k.get("lastUsedAt")) for k in listed]
    render.table("API keys", ["NAME", "ID", "PREFIX", "CREATED", "LAST USED"], rows)


@keys_app.command("create")
def keys_create(name: str, as_json: JsonOpt = False) -> None:
    """A new key, shown this once."""
    with client() as c:
        created = c.create_key(name)
    if as_json:
        emit_json(created)
        return
    out.print(f"API key {created['name']} ({created['id']}), shown once:", highlight=False)
    out.print(created["key"], highlight=False, markup=False)


@keys_app.command("revoke")
def keys_revoke(
    key: Annotated[str, typer.Argument(help="The key's id (key_...) or name.")],
    as_json: JsonOpt = False,
) -> None:
    """Revoke a key: it stops working at once. The workspace's last key cannot be revoked."""
    with client() as c:
        key_id = key
        if not key.startswith("key_"):
            named = [k["id"] for k in c.list_keys() if k["name"] == key]
            if len(named) != 1:
                fail(f"{len(named) or 'no'} keys named {key!r}: give the key's id (keys list)")
            key_id = named[0]
        result = c.revoke_key(key_id)
    if as_json:
        emit_json(result)
        return
    out.print(f"API key {key_id} revoked", highlight=False)


def register(app: typer.Typer) -> None:
    app.add_typer(keys_app, name="keys", rich_help_panel="Session")
