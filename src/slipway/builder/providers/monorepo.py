"""Node monorepo tools, as nixpacks' node provider plans them: moon, Nx, Turborepo.

Each gives the build and start commands of one app of the repository, ahead of the root
package.json's scripts (npm/yarn/pnpm workspaces without one of these tools build like any
package: the root's `build` and `start` scripts).

- moon: `MOON_APP_NAME` and a `.moon/workspace.yml` → `<dlx> @moonrepo/cli run
  <app>:<MOON_BUILD_TASK|build>` and `…:<MOON_START_TASK|start>`.
- Nx: an nx.json, an app (`NX_APP_NAME`, else nx.json's `defaultProject`) with an
  `apps/<app>/project.json` whose `targets.build` names an executor → build `<dlx> nx run
  <app>:build:production`; start `<dlx> nx run <app>:start[:production]` when the project
  has a start target, `cd <outputPath> && npm run start` for a Next.js build, else `node
  <outputPath>/<main's name>.js` (`outputPath` defaults to dist/apps/<app>).
- Turborepo: a turbo.json whose `pipeline` (or `tasks`) has `build` → `npx turbo run
  build` (else with `TURBO_APP_NAME`, `<dlx> turbo run <app>:build`); start: with
  `TURBO_APP_NAME` naming a workspace directory, that workspace's start script (`pnpm
  --filter <app> run start`, `yarn workspace <app> run start`, `npm --workspace <app> run
  start`), else `npx turbo run start` when the pipeline has `start`.

`<dlx>` is `pnpx` for pnpm, `yarn` for yarn, else `npx`. App names from the repository or
the environment are quoted for the sandbox's `sh -c`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from slipway.builder.providers.base import config_var, has, quote, read_json, read_text

_NAME = re.compile(r"^[A-Za-z0-9_.@/-]+$")
_YAML_ITEM = re.compile(r"^\s*-\s*['\"]?([^'\"\n#]+?)['\"]?\s*$", re.M)


@dataclass
class Commands:
    build: str | None = None
    start: str | None = None


def dlx(pm: str) -> str:
    return {"pnpm": "pnpx", "yarn": "yarn"}.get(pm, "npx")


def plan(app_dir: Path, env: Mapping[str, str], pm: str, package: Mapping[str, Any]) -> Commands:
    """The monorepo tool's commands (None for each it leaves to the package's scripts)."""
    moon = config_var(env, "MOON_APP_NAME")
    if moon and _NAME.fullmatch(moon) and has(app_dir, ".moon/workspace.yml"):
        build_task = config_var(env, "MOON_BUILD_TASK") or "build"
        start_task = config_var(env, "MOON_START_TASK") or "start"
        run = f"{dlx(pm)} @moonrepo/cli run"
        return Commands(
            build=f"{run} {quote(f'{moon}:{build_task}')}",
            start=f"{run} {quote(f'{moon}:{start_task}')}",
        )
    found = Commands()
    nx = _nx(app_dir, env, pm)
    if nx:
        found = nx
    if has(app_dir, "turbo.json"):
        turbo = _turbo(app_dir, env, pm, package)
        found.build = found.build or turbo.build
        found.start = found.start or turbo.start
    return found


def _nx(app_dir: Path, env: Mapping[str, str], pm: str) -> Commands | None:
    if not has(app_dir, "nx.json"):
        return None
    name = config_var(env, "NX_APP_NAME") or read_json(app_dir / "nx.json").get("defaultProject")
    if not isinstance(name, str) or not _NAME.fullmatch(name) or ".." in name.split("/"):
        return None
    targets = _table(read_json(app_dir / "apps" / name / "project.json").get("targets"))
    build = _table(targets.get("build"))
    executor = build.get("executor")
    if not isinstance(executor, str):
        return None  # nixpacks reads project.json only when it has a build executor
    run = f"{dlx(pm)} nx run"
    options = _table(build.get("options"))
    output = options.get("outputPath")
    output = output if isinstance(output, str) else f"dist/apps/{name}"
    start_target = targets.get("start")
    if isinstance(start_target, dict):
        production = "production" in _table(start_target.get("configurations"))
        start = f"{run} {quote(f'{name}:start' + (':production' if production else ''))}"
    elif executor in ("@nx/next:build", "@nrwl/next:build"):
        start = f"cd {quote(output)} && npm run start"
    else:
        main = options.get("main")
        stem = PurePosixPath(main).stem if isinstance(main, str) and main else "index"
        start = f"node {quote(f'{output}/{stem}.js')}"
    return Commands(build=f"{run} {quote(f'{name}:build:production')}", start=start)


def _table(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _turbo(app_dir: Path, env: Mapping[str, str], pm: str, package: Mapping[str, Any]) -> Commands:
    config = read_json(app_dir / "turbo.json")
    tasks: set[str] = set()
    for key in ("pipeline", "tasks"):
        if isinstance(config.get(key), dict):
            tasks |= set(config[key])
    name = config_var(env, "TURBO_APP_NAME")
    name = name if name and _NAME.fullmatch(name) else None
    found = Commands()
    if "build" in tasks:
        found.build = "npx turbo run build"
    elif name:
        found.build = f"{dlx(pm)} turbo run {quote(f'{name}:build')}"
    if name and _has_workspace(app_dir, _workspace_globs(app_dir, pm, package), name):
        if pm == "pnpm":
            found.start = f"pnpm --filter {quote(name)} run start"
        elif pm == "yarn":
            found.start = f"yarn workspace {quote(name)} run start"
        else:
            found.start = f"{pm} --workspace {quote(name)} run start"
    elif "start" in tasks:
        found.start = "npx turbo run start"
    return found


def _workspace_globs(app_dir: Path, pm: str, package: Mapping[str, Any]) -> list[str]:
    if pm == "pnpm":  # pnpm-workspace.yaml: "packages:" then "- 'glob'" lines
        return _YAML_ITEM.findall(read_text(app_dir / "pnpm-workspace.yaml"))
    workspaces = package.get("workspaces")
    if isinstance(workspaces, dict):  # yarn's {"packages": [...]}
        workspaces = workspaces.get("packages")
    return [w for w in workspaces if isinstance(w, str)] if isinstance(workspaces, list) else []


def _has_workspace(app_dir: Path, globs: list[str], name: str) -> bool:
    """Whether a directory matched by one of the workspace globs ends with `name`."""
    root = app_dir.resolve()
    for pattern in globs:
        if pattern.startswith("/") or ".." in pattern.split("/"):
            continue
        for i, path in enumerate(app_dir.glob(pattern.rstrip("/"))):
            if i >= 500:
                break
            if "node_modules" in path.parts or path.is_symlink() or not path.is_dir():
                continue
            if path.resolve().is_relative_to(root) and path.as_posix().endswith(name):
                return True
    return False
