"""Procfile: `name: command` lines. Not a language, but it names the start command.

The `web` process wins, then `worker`, then the first entry (in file order; `release` is
never a start command, as in nixpacks). A Procfile overrides any provider's start command,
and on its own makes an app buildable.
"""

from __future__ import annotations

from pathlib import Path


def procfile_start(app_dir: Path) -> str | None:
    path = app_dir / "Procfile"
    if path.is_symlink():  # planning runs on the host: never follow the repository's links
        return None
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    entries: dict[str, str] = {}
    for raw in text.splitlines():
        name, sep, command = raw.partition(":")
        name, command = name.strip(), command.strip()
        if sep and name and command and not name.startswith("#") and name != "release":
            entries.setdefault(name, command)
    for wanted in ("web", "worker"):
        if wanted in entries:
            return entries[wanted]
    return next(iter(entries.values()), None)
