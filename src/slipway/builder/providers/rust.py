"""Rust (nixpacks' `providers/rust.rs`): a Cargo.toml.

Build is `mkdir -p bin`, `cargo build --release` and a copy of each binary into `bin/`
(the package name, or every `[[bin]]`); start is `./bin/<first binary>`. Workspaces
build their `NIXPACKS_CARGO_WORKSPACE` member.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from slipway.builder.providers.base import ProviderPlan, config_var, has, read_text

_NAME = re.compile(r"^[A-Za-z0-9_-]+$")


def _manifest(app_dir: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(read_text(app_dir / "Cargo.toml"))
    except tomllib.TOMLDecodeError:
        return {}


def _bins(manifest: Mapping[str, Any]) -> list[str]:
    declared = manifest.get("bin")
    if isinstance(declared, list):
        names = [b.get("name") for b in declared if isinstance(b, dict)]
        found = [n for n in names if isinstance(n, str) and _NAME.fullmatch(n)]
        if found:
            return found
    package = manifest.get("package")
    name = package.get("name") if isinstance(package, dict) else None
    return [name] if isinstance(name, str) and _NAME.fullmatch(name) else []


class RustProvider:
    name = "rust"
    title = "Rust"

    def detect(self, app_dir: Path, env: Mapping[str, str]) -> bool:
        return has(app_dir, "Cargo.toml")

    def plan(self, app_dir: Path, env: Mapping[str, str]) -> ProviderPlan:
        member = config_var(env, "CARGO_WORKSPACE")
        bins = [member] if member and _NAME.fullmatch(member) else _bins(_manifest(app_dir))
        build = ["mkdir -p bin"]
        if member and bins:
            build.append(f"cargo build --release --package {member}")
        else:
            build.append("cargo build --release")
        build += [f"cp target/release/{b} bin" for b in bins]
        return ProviderPlan(
            packages=["rustc", "cargo"],
            build=build,
            start=f"./bin/{bins[0]}" if bins else None,
            variables={"ROCKET_ADDRESS": "0.0.0.0"},
            build_cache=["/root/.cargo/git", "/root/.cargo/registry", "target"],
        )
