"""Go (nixpacks' `providers/go.rs`): a go.mod or a main.go.

Install is `go mod download` for a module. Build is `go build -o out` (with
`NIXPACKS_GO_BIN=name` → `./cmd/name`; a module with no root .go files but a `cmd/<name>`
directory builds the first of those; a lone main.go builds that file). Start is `./out`.
`CGO_ENABLED=0` as in nixpacks.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from slipway.builder.providers.base import ProviderPlan, config_var, glob_files, has, present

GO_CACHE = "/root/.cache/go-build"


class GoProvider:
    name = "go"
    title = "Go"

    def detect(self, app_dir: Path, env: Mapping[str, str]) -> bool:
        return has(app_dir, "main.go", "go.mod")

    def plan(self, app_dir: Path, env: Mapping[str, str]) -> ProviderPlan:
        module = has(app_dir, "go.mod")
        build = self._build(app_dir, env, module=module)
        return ProviderPlan(
            packages=["go"],
            install=["go mod download"] if module else [],
            build=[build] if build else [],
            start="./out" if glob_files(app_dir, "**/*.go", limit=500) else None,
            variables={"CGO_ENABLED": "0"},
            install_cache=[GO_CACHE] if module else [],
            build_cache=[GO_CACHE],
            install_inputs=present(app_dir, ("go.mod", "go.sum")) if module else None,
        )

    @staticmethod
    def _build(app_dir: Path, env: Mapping[str, str], *, module: bool) -> str | None:
        binary = config_var(env, "GO_BIN")
        if binary and binary.replace("-", "").replace("_", "").isalnum():
            return f"go build -o out ./cmd/{binary}"
        if module and any(app_dir.glob("*.go")):
            return "go build -o out"
        cmd = app_dir / "cmd"
        if cmd.is_dir():
            names = sorted(d.name for d in cmd.iterdir() if d.is_dir())
            if names and names[0].replace("-", "").replace("_", "").isalnum():
                return f"go build -o out ./cmd/{names[0]}"
        if module:
            return "go build -o out"
        return "go build -o out main.go" if has(app_dir, "main.go") else None
