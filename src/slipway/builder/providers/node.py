"""Node.js: any app with a package.json.

npm only for now (`npm ci` with a package-lock.json, `npm install` otherwise); the build
phase runs `npm run build` when the package has a build script, and the app starts with
`npm start` when it has a start script, else `node <main or index.js>`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from slipway.builder.providers.base import ProviderPlan, read_json


class NodeProvider:
    name = "node"
    title = "Node.js"

    def detect(self, app_dir: Path, env: Mapping[str, str]) -> bool:
        return (app_dir / "package.json").is_file()

    def plan(self, app_dir: Path, env: Mapping[str, str]) -> ProviderPlan:
        package = read_json(app_dir / "package.json")
        scripts = package.get("scripts")
        scripts = scripts if isinstance(scripts, dict) else {}
        install = "npm ci" if (app_dir / "package-lock.json").is_file() else "npm install"
        return ProviderPlan(
            packages=["nodejs_20", "npm-10_x"],
            install=[install],
            build=["npm run build"] if isinstance(scripts.get("build"), str) else [],
            start=self._start(package, scripts),
            variables={
                "NIXPACKS_METADATA": "node",
                "NODE_ENV": "production",
                "NPM_CONFIG_PRODUCTION": "false",
                "CI": "true",
            },
        )

    @staticmethod
    def _start(package: dict[str, object], scripts: dict[str, object]) -> str:
        if isinstance(scripts.get("start"), str):
            return "npm start"
        main = package.get("main")
        if isinstance(main, str) and main and not main.startswith("-"):
            return f"node {_quote(main)}"
        return "node index.js"


def _quote(word: str) -> str:
    """Single-quote `word` for the sandbox's `sh -c` (package.json is the user's own)."""
    return "'" + word.replace("'", "'\\''") + "'"
