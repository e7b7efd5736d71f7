"""Client commands about custom domains: `domains list|add|show|remove APP ...` (issue 16).
`add` prints the DNS record to create; `show --wait` follows the domain until its
certificate is ready (or failed)."""

from __future__ import annotations

import time
from typing import Annotated, Any

import typer

from slipway.cli import render
from slipway.cli.session import client, emit_json, fail, out

JsonOpt = Annotated[bool, typer.Option("--json", help="Print the API's JSON.")]
AppArg = Annotated[str, typer.Argument(help="App name or id.")]
DomainArg = Annotated[str, typer.Argument(help="The hostname (or the domain's id).")]
domains_app = typer.Typer(help="Custom domains of an app, with HTTPS.", no_args_is_help=True)


@domains_app.command("list")
def domains_list(app: AppArg, as_json: JsonOpt = False) -> None:
    """An app's custom domains and the state of their certificates."""
    with client() as c:
        listed = c.list_domains(c.find_app(app)["id"])
    if as_json:
        emit_json(listed)
        return
    rows = [
        (d["hostname"], d.get("tag"), d["status"], _expires(d), d.get("reason")) for d in listed
    ]
    render.table("Domains", ["HOSTNAME", "TAG", "STATUS", "EXPIRES", "REASON"], rows)


@domains_app.command("add")
def domains_add(
    app: AppArg,
    hostname: Annotated[str, typer.Argument(help="e.g. api.example.com")],
    tag: Annotated[
        str | None, typer.Option(help="Serve this tag's revision instead of the split.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Bind a hostname to an app (or a tag); prints the DNS record to create."""
    with client() as c:
        added = c.add_domain(c.find_app(app)["id"], hostname, tag)
    if as_json:
        emit_json(added)
        return
    record = added["dnsRecord"]
    out.print(f"{added['hostname']} added ({added['status']}). Create this DNS record:")
    out.print(f"  {record['name']}  {record['type']}  {record['value']}", highlight=False)
    out.print(
        "Slipway checks it and then obtains the certificate; follow it with "
        f"`slipway domains show {app} {added['hostname']} --wait`.",
        highlight=False,
    )


@domains_app.command("show")
def domains_show(
    app: AppArg,
    domain: DomainArg,
    wait: Annotated[
        bool, typer.Option("--wait", help="Until the certificate is ready or failed.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """One domain: its state, why, its certificate and the record it needs."""
    with client() as c:
        app_id = c.find_app(app)["id"]
        found = c.get_domain(app_id, domain)
        while wait and found["status"] not in ("ready", "failed"):
            time.sleep(2)
            found = c.get_domain(app_id, domain)
    if as_json:
        emit_json(found)
        return
    record = found["dnsRecord"]
    rows = [
        ("hostname", found["hostname"]),
        ("tag", found.get("tag")),
        ("status", found["status"]),
        ("reason", found.get("reason")),
        ("dns record", f"{record['name']} {record['type']} {record['value']}"),
        ("url", found["url"]),
        ("expires", _expires(found)),
        ("issuer", (found.get("certificate") or {}).get("issuer")),
        ("next check", found.get("nextCheckAt")),
    ]
    render.table("Domain", ["FIELD", "VALUE"], rows)
    if wait and found["status"] == "failed":
        fail(f"{found['hostname']}: {found.get('reason')}")


@domains_app.command("remove")
def domains_remove(app: AppArg, domain: DomainArg, as_json: JsonOpt = False) -> None:
    """Stop serving a hostname; its certificate is deleted."""
    with client() as c:
        result = c.remove_domain(c.find_app(app)["id"], domain)
    if as_json:
        emit_json(result)
        return
    out.print(f"domain {domain} removed", highlight=False)


def _expires(domain: dict[str, Any]) -> str | None:
    certificate = domain.get("certificate")
    return certificate["notAfter"] if certificate else None


def register(app: typer.Typer) -> None:
    app.add_typer(domains_app, name="domains", rich_help_panel="Apps")
