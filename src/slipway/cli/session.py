"""Where client commands get their API URL, key and workspace, and how they report errors.

Order: `SLIPWAY_API_URL`, `SLIPWAY_API_KEY` and `SLIPWAY_WORKSPACE` from the environment,
then the file `slipway login` wrote (`$XDG_CONFIG_HOME/slipway/credentials.json`, mode 0600).
The key is never printed: errors name the problem and the URL that was called, not the
credentials.

Output: lines are never wrapped or cut by us (`soft_wrap`: a terminal wraps them itself, a
pipe gets them whole); tables become tab-separated lines when stdout is not a terminal.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import httpx
import typer
from rich.console import Console

from slipway.client import ApiError, Client, StreamClosed

err = Console(stderr=True, soft_wrap=True)
out = Console(soft_wrap=True)
DEFAULT_URL = "http://127.0.0.1:8000/api/v1"


def credentials_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "slipway" / "credentials.json"


@dataclass(frozen=True)
class Credentials:
    api_url: str
    api_key: str
    workspace_id: str


def save(creds: Credentials) -> Path:
    path = credentials_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    data = {"apiUrl": creds.api_url, "apiKey": creds.api_key, "workspaceId": creds.workspace_id}
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(data, f)
    path.chmod(0o600)
    return path


def load() -> Credentials:
    stored: dict[str, Any] = {}
    with contextlib.suppress(OSError, ValueError):
        stored = json.loads(credentials_path().read_text())
    env = os.environ
    url = env.get("SLIPWAY_API_URL") or stored.get("apiUrl") or DEFAULT_URL
    key = env.get("SLIPWAY_API_KEY") or stored.get("apiKey")
    workspace = env.get("SLIPWAY_WORKSPACE") or stored.get("workspaceId")
    if not key or not workspace:
        fail("not logged in: run `slipway login` or set SLIPWAY_API_KEY and SLIPWAY_WORKSPACE")
    return Credentials(str(url), str(key), str(workspace))


def fail(message: str, code: int = 1) -> NoReturn:
    err.print(f"[red]error:[/red] {message}", highlight=False)
    raise typer.Exit(code)


@contextlib.contextmanager
def client() -> Iterator[Client]:
    """A client from the credentials; API and connection errors end the command."""
    creds = load()
    try:
        with Client(creds.api_url, creds.api_key, creds.workspace_id) as c:
            yield c
    except ApiError as exc:
        details = "; ".join(f"{e.get('field')}: {e.get('message')}" for e in exc.errors)
        called = f" from {exc.request}" if exc.request else ""
        fail(f"{details or exc.detail} ({exc.status}{called})")
    except StreamClosed as exc:
        fail(str(exc))
    except (httpx.HTTPError, OSError) as exc:
        fail(f"cannot reach the Slipway API at {creds.api_url} ({type(exc).__name__})")


def emit_json(data: object) -> None:
    sys.stdout.write(json.dumps(data, indent=2) + "\n")


def piped() -> bool:
    """Whether stdout is not a terminal (a pipe, a file, CI's log)."""
    return not sys.stdout.isatty()
