"""The ordered provider registry: the first provider whose `detect` is true builds the app.

The order is nixpacks' (`src/lib.rs`, `get_providers`): crystal, csharp, dart, elixir,
deno, fsharp, clojure, gleam, go, haskell, java, lunatic, scala, php, ruby, node, python,
rust, swift, staticfile, zig, cobol; railpack's shell provider comes last. Those written so
far keep that relative order. To add one, write a module with a class that has `name`,
`title`, `detect` and `plan` (see `base.Provider`) and insert it at its nixpacks position.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from slipway.builder.providers.base import Provider, ProviderPlan
from slipway.builder.providers.deno import DenoProvider
from slipway.builder.providers.go import GoProvider
from slipway.builder.providers.java import JavaProvider
from slipway.builder.providers.node import NodeProvider
from slipway.builder.providers.php import PhpProvider
from slipway.builder.providers.procfile import procfile_start
from slipway.builder.providers.python import PythonProvider
from slipway.builder.providers.ruby import RubyProvider
from slipway.builder.providers.rust import RustProvider
from slipway.builder.providers.shell import ShellProvider
from slipway.builder.providers.staticfile import StaticfileProvider

PROVIDERS: tuple[Provider, ...] = (
    DenoProvider(),
    GoProvider(),
    JavaProvider(),
    PhpProvider(),
    RubyProvider(),
    NodeProvider(),
    PythonProvider(),
    RustProvider(),
    StaticfileProvider(),
    ShellProvider(),
)


def by_name(name: str) -> Provider | None:
    return next((p for p in PROVIDERS if p.name == name), None)


def detect(app_dir: Path, env: Mapping[str, str]) -> Provider | None:
    return next((p for p in PROVIDERS if p.detect(app_dir, env)), None)


__all__ = ["PROVIDERS", "Provider", "ProviderPlan", "by_name", "detect", "procfile_start"]
