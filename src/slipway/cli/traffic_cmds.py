"""Client commands about replicas and traffic: `scale`, `revisions`, `traffic APP [SPLIT...]`
(shows the split, or sets it), `promote APP REVISION`."""

from __future__ import annotations

import re
from typing import Annotated, Any

import typer

from slipway.cli import render
from slipway.cli.session import client, emit_json, fail, out

JsonOpt = Annotated[bool, typer.Option("--json", help="Print the API's JSON.")]
AppArg = Annotated[str, typer.Argument(help="App name or id.")]
_SPLIT = re.compile(r"^(?P<rev>[^=@\s]+)=(?P<pct>\d{1,3})(@(?P<tag>[^=@\s]+))?$")


def parse_split(text: str) -> dict[str, Any]:
    """`REV=PCT[@tag]` -> `{revisionName, percent[, tag]}`; the API checks the rest."""
    m = _SPLIT.fullmatch(text)
    if m is None:
        fail(f"a split is REVISION=PERCENT[@tag], not {text!r}", 2)
    split: dict[str, Any] = {"revisionName": m["rev"], "percent": int(m["pct"])}
    if m["tag"]:
        split["tag"] = m["tag"]
    return split


def scale(app: AppArg, replicas: int, as_json: JsonOpt = False) -> None:
    """Set an app's desired replicas (0 stops it)."""
    with client() as c:
        result = c.scale(c.find_app(app)["id"], replicas)
    if as_json:
        emit_json(result)
        return
    out.print(
        f"{result['name']}: {result['currentReplicas']} -> {result['requestedReplicas']}"
        f" replicas ({result['status']})"
    )


def revisions(app: AppArg, as_json: JsonOpt = False) -> None:
    """An app's revisions, newest first, with their traffic."""
    with client() as c:
        listed = c.revisions(c.find_app(app)["id"])
    if as_json:
        emit_json(listed)
        return
    rows = [
        (r["revisionName"], r.get("trafficPercent"), r.get("tag"), r.get("ready"),
         r.get("total"), r.get("createdAt"))
        for r in listed
    ]  # fmt: skip
    render.table("Revisions", ["REVISION", "TRAFFIC %", "TAG", "READY", "TOTAL", "CREATED"], rows)


def traffic(
    app: AppArg,
    splits: Annotated[
        list[str] | None, typer.Argument(help="REVISION=PERCENT[@tag] ... (none: show it)")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Show an app's traffic split, or set it (percents sum to 100)."""
    body = [parse_split(s) for s in splits or []]
    with client() as c:
        app_id = c.find_app(app)["id"]
        if body:
            result = c.set_traffic(app_id, body)
        else:
            result = {"splits": [
                {"revisionName": r["revisionName"], "percent": r.get("trafficPercent") or 0}
                | ({"tag": r["tag"]} if r.get("tag") else {})
                for r in c.revisions(app_id)
                if r.get("trafficPercent") or r.get("tag")
            ]}  # fmt: skip
    _print_splits(result, as_json)


def promote(
    app: AppArg,
    revision: Annotated[str | None, typer.Argument(help="The revision to serve.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Send 100% of an app's traffic to one of its revisions."""
    with client() as c:
        if revision is None:
            result = c.promote(app)  # `promote REVISION`, as before
        else:
            c.find_app(app)  # the app must exist in this workspace
            result = c.promote(revision)
    _print_splits(result, as_json)


def _print_splits(result: dict[str, Any], as_json: bool) -> None:
    if as_json:
        emit_json(result)
        return
    rows = [(s["revisionName"], s["percent"], s.get("tag")) for s in result["splits"]]
    render.table("Traffic", ["REVISION", "PERCENT", "TAG"], rows)


def register(app: typer.Typer) -> None:
    panel = "Traffic and replicas"
    app.command(rich_help_panel=panel)(scale)
    app.command(rich_help_panel=panel)(revisions)
    app.command(rich_help_panel=panel)(traffic)
    app.command(rich_help_panel=panel)(promote)
