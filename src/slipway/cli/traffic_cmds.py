"""Client commands about replicas and traffic: `scale`, `revisions`, `traffic`, `promote`."""

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
    splits: Annotated[list[str], typer.Argument(help="REVISION=PERCENT[@tag] ...")],
    as_json: JsonOpt = False,
) -> None:
    """Split an app's traffic between revisions (percents sum to 100)."""
    body = [parse_split(s) for s in splits]
    with client() as c:
        result = c.set_traffic(c.find_app(app)["id"], body)
    _print_splits(result, as_json)


def promote(revision: str, as_json: JsonOpt = False) -> None:
    """Send 100% of traffic to one revision."""
    with client() as c:
        result = c.promote(revision)
    _print_splits(result, as_json)


def _print_splits(result: dict[str, Any], as_json: bool) -> None:
    if as_json:
        emit_json(result)
        return
    rows = [(s["revisionName"], s["percent"], s.get("tag")) for s in result["splits"]]
    render.table("Traffic", ["REVISION", "PERCENT", "TAG"], rows)


def register(app: typer.Typer) -> None:
    app.command()(scale)
    app.command()(revisions)
    app.command()(traffic)
    app.command()(promote)
