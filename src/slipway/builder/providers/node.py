"""Node.js: any app with a package.json (nixpacks' `providers/node`).

The package manager comes from package.json's `packageManager`, else from the lockfile
(pnpm-lock.yaml, yarn.lock, bun.lock[b]), else npm. Install is `npm ci` with a
package-lock.json, `npm i` without, `pnpm i --frozen-lockfile`, `yarn install
--frozen-lockfile` (`--check-cache` for Yarn Berry) or `bun i --no-save`; a `packageManager`
other than npm first enables corepack. With no package.json (a forced provider) there is no
install.

Build and start, in nixpacks' order: a monorepo tool's (moon, Nx, Turborepo:
`monorepo.py`); for start, then Caddy serving a single-page app's build (`spa.py`, with the
Caddyfile in the plan's static assets); then `<pm> run build` / `<pm> run start` when
package.json has that script; for start, else `node <main>` when that file exists, else
`node index.js` (bun runs its own files). Packages with Next.js get their `.next/cache` as a
build cache directory.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from slipway.builder.providers import caddy, monorepo, spa
from slipway.builder.providers.base import (
    ProviderPlan,
    app_subdir,
    glob_files,
    has,
    present,
    quote,
    read_json,
)

CACHE_DIRS = {
    "npm": "/root/.npm",
    "yarn": "/usr/local/share/.cache/yarn/v6",
    "pnpm": "/root/.local/share/pnpm/store/v3",
    "bun": "/root/.bun",
}
INSTALL_INPUTS = (
    "package.json",
    "package-lock.json",
    "npm-shrinkwrap.json",
    "yarn.lock",
    "pnpm-lock.yaml",
    "bun.lockb",
    "bun.lock",
    ".npmrc",
    ".yarnrc",
    ".yarnrc.yml",
    ".yarn",
    ".pnpmfile.cjs",
    "patches",
)
VARIABLES = {"NODE_ENV": "production", "NPM_CONFIG_PRODUCTION": "false", "CI": "true"}


def package_manager(app_dir: Path, package: Mapping[str, Any]) -> str:
    declared = package.get("packageManager")
    if isinstance(declared, str):
        name = declared.split("@", 1)[0]
        if name in CACHE_DIRS:
            return name
    if has(app_dir, "pnpm-lock.yaml"):
        return "pnpm"
    if has(app_dir, "yarn.lock"):
        return "yarn"
    if has(app_dir, "bun.lockb", "bun.lock"):
        return "bun"
    return "npm"


def install_command(app_dir: Path, pm: str) -> str:
    if pm == "pnpm":
        return "pnpm i --frozen-lockfile"
    if pm == "yarn":
        berry = has(app_dir, ".yarnrc.yml")
        return "yarn install --check-cache" if berry else "yarn install --frozen-lockfile"
    if has(app_dir, "package-lock.json"):
        return "npm ci"
    if has(app_dir, "bun.lockb", "bun.lock"):
        return "bun i --no-save"
    return "npm i"


def scripts_of(package: Mapping[str, Any]) -> dict[str, Any]:
    scripts = package.get("scripts")
    return scripts if isinstance(scripts, dict) else {}


def packages_for(pm: str) -> list[str]:
    """The setup phase's nixPkgs for Node with this package manager."""
    tool = {"npm": "npm-10_x", "yarn": "yarn-1_x", "pnpm": "pnpm-9_x", "bun": "bun"}[pm]
    return ["nodejs_20", tool] if pm != "bun" else ["nodejs_20", "bun"]


class NodeProvider:
    name = "node"
    title = "Node.js"

    def detect(self, app_dir: Path, env: Mapping[str, str]) -> bool:
        return has(app_dir, "package.json")

    def plan(self, app_dir: Path, env: Mapping[str, str]) -> ProviderPlan:
        package = read_json(app_dir / "package.json")
        pm = package_manager(app_dir, package)
        install = [install_command(app_dir, pm)] if has(app_dir, "package.json") else []
        declared = package.get("packageManager")
        if isinstance(declared, str) and not declared.startswith("npm"):
            install.insert(0, "npm install -g corepack@0.24.1 && corepack enable")
        scripts = scripts_of(package)
        tool = monorepo.plan(app_dir, env, pm, package)
        build = tool.build or (f"{pm} run build" if "build" in scripts else None)
        served = None if tool.start else spa.detect(app_dir, env, package)
        packages = packages_for(pm)
        variables = dict(VARIABLES)
        assets: dict[str, str] = {}
        if served:
            start: str | None = caddy.START
            packages.append(caddy.PACKAGE)
            variables["NIXPACKS_SPA_OUTPUT_DIR"] = served.output
            assets["Caddyfile"] = caddy.caddyfile(
                served.output, spa=served.fallback, hashed_assets=True
            )
        else:
            start = tool.start or self._start(app_dir, package, pm, scripts)
        return ProviderPlan(
            packages=packages,
            install=install,
            build=[build] if build else [],
            start=start,
            variables=variables,
            install_cache=[CACHE_DIRS[pm]],
            build_cache=[*_next_caches(app_dir), "node_modules/.cache"],
            install_inputs=present(app_dir, INSTALL_INPUTS),
            static_assets=assets,
        )

    @staticmethod
    def _start(
        app_dir: Path, package: Mapping[str, Any], pm: str, scripts: Mapping[str, Any]
    ) -> str | None:
        executor = "bun" if pm == "bun" else "node"
        if "start" in scripts:
            return f"{pm} run start"
        main = package.get("main")
        if isinstance(main, str) and main and (app_dir / main).is_file():
            return f"{executor} {quote(main)}"
        if has(app_dir, "index.js"):
            return f"{executor} index.js"
        if pm == "bun" and has(app_dir, "index.ts"):
            return "bun index.ts"
        return None


def _next_caches(app_dir: Path) -> list[str]:
    """`<dir>/.next/cache` for each package.json (the root's too) that depends on next."""
    found = []
    for path in glob_files(app_dir, "**/package.json", limit=500):
        rel = app_subdir(path.parent.relative_to(app_dir).as_posix())
        if rel and "next" in spa.dependencies(read_json(path)):
            found.append(".next/cache" if rel == "." else f"{rel}/.next/cache")
    return found
