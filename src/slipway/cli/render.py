"""Tables for the client commands: rich on a terminal, tab-separated lines (a header, then a
row a line, every value whole) when piped; `--json` prints the API's JSON instead."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

from rich.table import Table

from slipway.cli.session import out, piped

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
    if piped():  # written as they are: rich would turn the tabs into spaces
        lines = ["\t".join(columns)]
        lines += ["\t".join("-" if v is None else _plain(str(v)) for v in row) for row in rows]
        sys.stdout.write("\n".join(lines) + "\n")
        return
    t = Table(title=title, title_justify="left")
    for column in columns:
        t.add_column(column)
    for row in rows:
        t.add_row(*("-" if v is None else str(v) for v in row))
    out.print(t)


def _plain(cell: str) -> str:
    """A cell without the markup `styled_status` adds, tabs and newlines flattened."""
    for style in STATUS_STYLE.values():
        cell = cell.replace(f"[{style}]", "").replace(f"[/{style}]", "")
    return " ".join(cell.split())


def short(sha: str | None) -> str | None:
    return sha[:12] if sha else None
