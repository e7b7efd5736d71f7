"""Rich tables for the client commands (`--json` prints the API's JSON instead)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.table import Table

from slipway.cli.session import out

STATUS_STYLE = {
    "succeeded": "green",
    "failed": "red",
    "cancelled": "yellow",
    "building": "cyan",
    "deploying": "cyan",
    "queued": "dim",
}


def styled_status(status: str | None) -> str:
    if status is None:
        return "-"
    style = STATUS_STYLE.get(status)
    return f"[{style}]{status}[/{style}]" if style else status


def table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    t = Table(title=title, title_justify="left")
    for column in columns:
        t.add_column(column)
    for row in rows:
        t.add_row(*("-" if v is None else str(v) for v in row))
    out.print(t)


def short(sha: str | None) -> str | None:
    return sha[:12] if sha else None
