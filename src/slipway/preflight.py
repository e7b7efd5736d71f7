"""What `slipway up` / `slipway serve` check before they start anything, and where their data
lives by default.

- **Data directory**: `--data-dir`, else `$SLIPWAY_DATA_DIR`, else the XDG data directory
  (`$XDG_DATA_HOME/slipway`, `~/.local/share/slipway`): the same for `up` and every
  server-side command whatever directory they run in (a relative `./.slipway` gave a second
  terminal a second, empty database).
- **Host**: every program the roles will run (the sandbox's, git) and root, each missing one
  named with the command that installs it; caddy only warned about (static sites need it).
- **Ports**: the API's and the router's (HTTP and HTTPS), bound once and let go, so a clash
  is one line naming the port and the flag that changes it, before anything is announced.
- **Certificate**: the operator's default one (`--tls-cert`) loads, with its key.
"""

from __future__ import annotations

import errno
import os
import shutil
import socket
import ssl
from collections.abc import Iterable
from pathlib import Path

from slipway.router.tls import load_context
from slipway.sandbox import SandboxHost

DATA_DIR_ENV = "SLIPWAY_DATA_DIR"


def default_data_dir() -> Path:
    configured = os.environ.get(DATA_DIR_ENV)
    if configured:
        return Path(configured).expanduser()
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "slipway"


def data_dir(given: Path | None) -> Path:
    """The data directory a command uses: `given` (its `--data-dir`), else the default."""
    return (given if given is not None else default_data_dir()).expanduser().resolve()


def host_problems(roles: Iterable[str]) -> list[str]:
    """What this host lacks for `roles` (empty when nothing), one sentence each."""
    roles = set(roles)
    found: list[str] = []
    if "worker" in roles:
        found += SandboxHost.problems()
    if roles & {"api", "worker"} and shutil.which("git") is None:
        found.append("git is missing (apt-get install git)")
    return found


def host_warnings(roles: Iterable[str]) -> list[str]:
    if "worker" in set(roles) and shutil.which("caddy") is None:
        return ["caddy is missing: static sites and single-page apps will not build "
                "(apt-get install caddy)"]  # fmt: skip
    return []


def port_problems(host: str, ports: Iterable[tuple[int, str, str]]) -> list[str]:
    """Each (port, whose, flag) that cannot be listened on, as one line."""
    found = []
    for port, whose, flag in ports:
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s.bind((host, port))
        except OSError as exc:
            in_use = exc.errno == errno.EADDRINUSE
            why = "is in use" if in_use else f"cannot be used ({exc.strerror})"
            found.append(f"port {port} ({whose}) {why} on {host}: start with {flag} PORT")
    return found


def certificate_problems(cert: str, key: str | None) -> list[str]:
    """The operator's default certificate (`--tls-cert/--tls-key`), if it cannot serve."""
    try:
        load_context(cert, key)
    except (OSError, ssl.SSLError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        return [f"the certificate {cert} cannot be used: {reason} (--tls-cert, --tls-key)"]
    return []
