"""Deno (nixpacks' `providers/deno.rs`): deno.json(c), or a script importing from deno.land.

Build is `deno cache <first index.{ts,tsx,js,jsx}>`; start is the `start` task of deno.json
or deno.jsonc (comments and trailing commas allowed), else `deno run --allow-all <that file>`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from slipway.builder.providers.base import ProviderPlan, glob_files, has, read_jsonc, read_text

_IMPORT = re.compile(r"""import .+ from ["'`]https://deno\.land/[^"'`]+\.(?:ts|js|tsx|jsx)["'`]""")
_SOURCES = ("**/*.ts", "**/*.tsx", "**/*.js", "**/*.jsx")


def _index(app_dir: Path) -> str | None:
    found = [
        p for ext in ("ts", "tsx", "js", "jsx") for p in glob_files(app_dir, f"**/index.{ext}")
    ]
    if not found:
        return None
    first = min(found, key=lambda p: (len(p.relative_to(app_dir).parts), str(p)))
    return first.relative_to(app_dir).as_posix()


def _start_task(app_dir: Path) -> str | None:
    """The `start` task of deno.json, else of deno.jsonc (comments and trailing commas
    allowed in either)."""
    for name in ("deno.json", "deno.jsonc"):
        if not has(app_dir, name):
            continue
        tasks = read_jsonc(app_dir / name).get("tasks")
        start = tasks.get("start") if isinstance(tasks, dict) else None
        return start if isinstance(start, str) else None
    return None


class DenoProvider:
    name = "deno"
    title = "Deno"

    def detect(self, app_dir: Path, env: Mapping[str, str]) -> bool:
        if has(app_dir, "deno.json", "deno.jsonc"):
            return True
        return any(
            _IMPORT.search(read_text(p))
            for pattern in _SOURCES
            for p in glob_files(app_dir, pattern, limit=200)
        )

    def plan(self, app_dir: Path, env: Mapping[str, str]) -> ProviderPlan:
        index = _index(app_dir)
        start = _start_task(app_dir) or (f"deno run --allow-all {index}" if index else None)
        return ProviderPlan(
            packages=["deno"],
            build=[f"deno cache {index}"] if index else [],
            start=start,
            variables={"DENO_DIR": "/root/.cache/deno"},
            build_cache=["/root/.cache/deno"],
        )
