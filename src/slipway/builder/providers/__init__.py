"""The ordered provider registry: the first provider whose `detect` is true builds the app.

The order is nixpacks' (`src/providers/mod.rs`):
crystal, csharp, dart, elixir, deno, fsharp, clojure, gleam, go, haskell, java, lunatic,
scala, php, ruby, node, python, rust, swift, staticfile, zig, cobol.
Only node and python exist so far; to add one, write a module with a class that has `name`,
`title`, `detect` and `plan` (see `base.Provider`) and insert it in `PROVIDERS` at its
nixpacks position.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from slipway.builder.providers.base import Provider, ProviderPlan
from slipway.builder.providers.node import NodeProvider
from slipway.builder.providers.procfile import procfile_start
from slipway.builder.providers.python import PythonProvider

PROVIDERS: tuple[Provider, ...] = (
    NodeProvider(),
    PythonProvider(),
)


def by_name(name: str) -> Provider | None:
    return next((p for p in PROVIDERS if p.name == name), None)


def detect(app_dir: Path, env: Mapping[str, str]) -> Provider | None:
    return next((p for p in PROVIDERS if p.detect(app_dir, env)), None)


__all__ = ["PROVIDERS", "Provider", "ProviderPlan", "by_name", "detect", "procfile_start"]
