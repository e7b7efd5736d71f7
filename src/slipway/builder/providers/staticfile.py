"""Static sites (nixpacks' `providers/staticfile.rs`): a Staticfile, an index.html, or a
public/, dist/ or index/ directory.

The document root is `NIXPACKS_STATICFILE_ROOT`, else the Staticfile's `root:`, else
public/, dist/ or index/, else the app. nixpacks serves it with nginx from its own assets;
this platform serves it with Python's `http.server` on `$PORT` (the Python Slipway runs on
is in every sandbox): a documented difference with no install or build phase either way.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from slipway.builder.providers.base import ProviderPlan, config_var, has, quote, read_text

_ROOT_LINE = re.compile(r"^root:\s*(\S+)\s*$", re.M)


def document_root(app_dir: Path, env: Mapping[str, str]) -> str:
    configured = config_var(env, "STATICFILE_ROOT")
    if not configured:
        found = _ROOT_LINE.search(read_text(app_dir / "Staticfile"))
        configured = found.group(1).strip("'\"") if found else None
    if configured:
        return configured
    for name in ("public", "dist", "index"):
        if (app_dir / name).is_dir():
            return name
    return "."


class StaticfileProvider:
    name = "staticfile"
    title = "static site"

    def detect(self, app_dir: Path, env: Mapping[str, str]) -> bool:
        dirs = ("public", "index", "dist")
        return has(app_dir, "Staticfile", "index.html") or any((app_dir / d).is_dir() for d in dirs)

    def plan(self, app_dir: Path, env: Mapping[str, str]) -> ProviderPlan:
        root = quote(document_root(app_dir, env))
        return ProviderPlan(
            packages=["nginx"],
            start=f"python3 -m http.server ${{PORT:-80}} --bind 0.0.0.0 --directory {root}",
        )
