"""The setup phase: does this host have the toolchains the plan's `nixPkgs` name?

nixpacks installs `nixPkgs` from Nix; this platform runs builds on the host's toolchains,
bound read-only into the sandbox. So the setup phase only checks: each package it knows
maps to the commands that must be on the sandbox's PATH (`node` for `nodejs_20`, `go` for
`go`, ...), and a missing one fails the build with an error naming it. Packages it does not
know (libraries such as `openssl`, extra `NIXPACKS_PKGS`) are not checked: a build that
needs them fails in the phase that uses them, with that command's output in the log.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable

from slipway.sandbox import toolchain_path

_COMMANDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("nodejs", ("node",)),
    ("npm", ("npm",)),
    ("yarn", ("yarn",)),
    ("pnpm", ("pnpm",)),
    ("bun", ("bun",)),
    ("python", ("python3",)),
    ("pipenv", ("pipenv",)),
    ("go", ("go",)),
    ("deno", ("deno",)),
    ("ruby", ("ruby",)),
    ("bundler", ("bundle",)),
    ("rustc", ("rustc",)),
    ("cargo", ("cargo",)),
    ("php", ("php",)),
    ("composer", ("composer",)),
    ("jdk", ("java", "javac")),
    ("maven", ("mvn",)),
    ("gradle", ("gradle",)),
    ("bash", ("bash",)),
)


def commands_for(package: str) -> tuple[str, ...]:
    """The commands a nixPkgs entry stands for ("nodejs_20" → ("node",)); () if unknown."""
    for prefix, commands in _COMMANDS:
        if package.startswith(prefix):
            return commands
    return ()


def missing(packages: Iterable[str], *, path: str | None = None) -> list[str]:
    """Descriptions of the packages whose commands the sandbox's PATH lacks, in order."""
    search = path if path is not None else _host_visible_path()
    gone: list[str] = []
    for package in packages:
        absent = [c for c in commands_for(package) if shutil.which(c, path=search) is None]
        if absent:
            gone.append(f"{package} ({', '.join(absent)})")
    return gone


def _host_visible_path() -> str:
    """The sandbox's PATH, minus the app's own directories (they do not exist yet)."""
    parts = [p for p in toolchain_path().split(os.pathsep) if not p.startswith("/app")]
    return os.pathsep.join(parts)


def setup_error(packages: Iterable[str]) -> str | None:
    gone = missing(packages)
    if not gone:
        return None
    return f"this host has no toolchain for {', '.join(gone)}: install it or pick a provider."
