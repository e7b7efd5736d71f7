"""The build plan, in nixpacks' JSON shape (what `slipway plan DIR` prints).

A plan is assembled in layers, each overriding the one before, as nixpacks does:
1. the first provider of the registry that detects the app (`providers.PROVIDERS`),
2. the Procfile's start command,
3. `nixpacks.toml` or `nixpacks.json` (or the file `NIXPACKS_CONFIG_FILE` names):
   `providers`, `variables`, `[phases.<name>] cmds|nixPkgs|cacheDirectories`, `[start] cmd`;
   a `"..."` item in a list stands for the layer below's items,
4. `NIXPACKS_INSTALL_CMD`, `NIXPACKS_BUILD_CMD`, `NIXPACKS_START_CMD`, `NIXPACKS_PKGS`,
   `NIXPACKS_INSTALL_CACHE_DIRS`, `NIXPACKS_BUILD_CACHE_DIRS` from the app's environment,
5. the app's own `installCommand` / `buildCommand` / `startCommand` (the arguments).

Providers see the config file's `variables` beneath the app's environment (as nixpacks
does), so a switch such as `NIXPACKS_SPA_OUT_DIR` may live in nixpacks.toml. `variables`
holds only the provider's and the config file's variables (and `NIXPACKS_METADATA`), never
the app's environment: the plan ends up in the image config, and app variables may be
secrets. Once any layer replaces the install commands, the install phase loses its
`onlyIncludeFiles` (what it reads is no longer known), so its output is never reused across
builds.

Besides nixpacks' keys the plan has `notes`: sentences for the build log, e.g. that the
provider guessed the start command (kept only while that command is the plan's). And
`staticAssets` (nixpacks' name) maps file names to the text the builder writes to
`/app/.slipway/assets/<name>` (a static site's Caddyfile); it is present only when a
provider ships some.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from slipway.builder import providers
from slipway.builder.providers import ProviderPlan
from slipway.domain.errors import DeployFailed

BUILD_IMAGE = "ghcr.io/railwayapp/nixpacks:ubuntu-1745885067"
NO_PROVIDER = (
    "no provider detected: add a package.json, a requirements.txt, a go.mod, an index.html "
    "or a Procfile (or another file nixpacks detects), or set a start command."
)


def make_plan(
    app_dir: Path,
    *,
    env: Mapping[str, str],
    install_cmd: str | None = None,
    build_cmd: str | None = None,
    start_cmd: str | None = None,
) -> dict[str, Any]:
    """The plan for the app checked out at `app_dir`. DeployFailed when nothing can run it."""
    plan = repository_plan(app_dir, env=env, install_cmd=install_cmd, build_cmd=build_cmd)
    return with_start(plan, start_cmd)


def repository_plan(
    app_dir: Path,
    *,
    env: Mapping[str, str],
    install_cmd: str | None = None,
    build_cmd: str | None = None,
) -> dict[str, Any]:
    """The plan before the app's own start command: its `start.cmd` is what the repository
    says (None when nothing does). The builder keeps it for the image."""
    config = _read_config(app_dir, env)
    seen = {**_config_variables(config), **env}  # what providers read their switches from
    provider = _choose_provider(app_dir, seen, config)
    base = provider.plan(app_dir, seen) if provider else ProviderPlan()
    if provider:
        base.variables["NIXPACKS_METADATA"] = ",".join([provider.name, *base.metadata])
    guessed = base.start if base.guess else None
    base.start = providers.procfile_start(app_dir) or base.start
    provider_install = list(base.install)
    _apply_config(base, config)
    _apply_env(base, env)
    if install_cmd:
        base.install = [install_cmd]
    if base.install != provider_install:
        base.install_inputs = None
    if build_cmd:
        base.build = [build_cmd]
    if base.start != guessed:
        base.guess = None  # the Procfile or config chose the start command
    return _shape([provider.name] if provider else [], base)


def with_start(plan: Mapping[str, Any], start_cmd: str | None) -> dict[str, Any]:
    """`plan` with the app's own start command, if any; DeployFailed when nothing starts it."""
    own = plan["start"]["cmd"]
    out = {**plan, "start": {"cmd": start_cmd or own}}
    if not out["providers"] and not out["start"]["cmd"]:
        raise DeployFailed(NO_PROVIDER)
    if start_cmd and start_cmd != own:
        out["notes"] = []  # the guess was about a start command no longer used
    return out


def provider_title(plan: Mapping[str, Any]) -> str | None:
    """How the log names the plan's provider ("Python"), None when there is none."""
    names = plan.get("providers") or []
    found = providers.by_name(names[0]) if names else None
    return found.title if found else None


def _shape(names: list[str], p: ProviderPlan) -> dict[str, Any]:
    install: dict[str, Any] = {"name": "install", "dependsOn": ["setup"], "cmds": p.install}
    if p.install_cache:
        install["cacheDirectories"] = p.install_cache
    if p.install_inputs is not None:
        install["onlyIncludeFiles"] = p.install_inputs
    build: dict[str, Any] = {"name": "build", "dependsOn": ["install"], "cmds": p.build}
    if p.build_cache:
        build["cacheDirectories"] = p.build_cache
    plan: dict[str, Any] = {
        "providers": names,
        "buildImage": BUILD_IMAGE,
        "variables": dict(sorted(p.variables.items())),
    }
    if p.static_assets:
        plan["staticAssets"] = dict(sorted(p.static_assets.items()))
    plan["phases"] = {
        "setup": {"name": "setup", "nixPkgs": list(p.packages)},
        "install": install,
        "build": build,
    }
    plan["start"] = {"cmd": p.start}
    plan["notes"] = [p.guess] if p.guess else []
    return plan


def _config_path(app_dir: Path, env: Mapping[str, str]) -> Path | None:
    named = env.get("NIXPACKS_CONFIG_FILE", "").strip()
    if named:
        if named.startswith("/") or ".." in Path(named).parts:
            raise DeployFailed("NIXPACKS_CONFIG_FILE must be a path inside the repository.")
        return app_dir / named
    for name in ("nixpacks.toml", "nixpacks.json"):
        if (app_dir / name).is_file():
            return app_dir / name
    return None


def _read_config(app_dir: Path, env: Mapping[str, str]) -> dict[str, Any]:
    path = _config_path(app_dir, env)
    if path is None:
        return {}
    kind = "JSON" if path.suffix == ".json" else "TOML"
    if path.is_symlink():  # planning runs on the host: never follow the repository's links
        raise DeployFailed(f"{path.name} must be a file of the repository, not a symlink.")
    try:
        text = path.read_text(encoding="utf-8")
        data = json.loads(text) if kind == "JSON" else tomllib.loads(text)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise DeployFailed(f"{path.name} is not valid {kind}.") from exc
    if not isinstance(data, dict):
        raise DeployFailed(f"{path.name} must hold a table of settings.")
    return data


def _config_variables(config: Mapping[str, Any]) -> dict[str, str]:
    variables = config.get("variables")
    if not isinstance(variables, dict):
        return {}
    return {str(k): str(v) for k, v in variables.items()}


def _choose_provider(
    app_dir: Path, env: Mapping[str, str], config: Mapping[str, Any]
) -> providers.Provider | None:
    forced = config.get("providers")
    if isinstance(forced, list):
        for name in forced:
            found = providers.by_name(name) if isinstance(name, str) else None
            if found:
                return found
    return providers.detect(app_dir, env)


def _merge(below: list[str], given: object) -> list[str]:
    """A list from config; the item "..." stands for the items of the layer below."""
    if not isinstance(given, list):
        return below
    out: list[str] = []
    for item in given:
        if item == "...":
            out += below
        elif isinstance(item, str):
            out.append(item)
    return out


def _apply_config(p: ProviderPlan, config: Mapping[str, Any]) -> None:
    phases = config.get("phases")
    phases = phases if isinstance(phases, dict) else {}
    for name in ("install", "build"):
        phase = phases.get(name)
        if isinstance(phase, dict):
            setattr(p, name, _merge(getattr(p, name), phase.get("cmds")))
            cache = f"{name}_cache"
            setattr(p, cache, _merge(getattr(p, cache), phase.get("cacheDirectories")))
    setup = phases.get("setup")
    if isinstance(setup, dict):
        p.packages = _merge(p.packages, setup.get("nixPkgs"))
    start = config.get("start")
    if isinstance(start, dict) and isinstance(start.get("cmd"), str):
        p.start = start["cmd"]
    p.variables.update(_config_variables(config))


def _apply_env(p: ProviderPlan, env: Mapping[str, str]) -> None:
    if env.get("NIXPACKS_INSTALL_CMD"):
        p.install = [env["NIXPACKS_INSTALL_CMD"]]
    if env.get("NIXPACKS_BUILD_CMD"):
        p.build = [env["NIXPACKS_BUILD_CMD"]]
    if env.get("NIXPACKS_START_CMD"):
        p.start = env["NIXPACKS_START_CMD"]
    if env.get("NIXPACKS_PKGS"):
        p.packages = p.packages + env["NIXPACKS_PKGS"].split()
    if env.get("NIXPACKS_INSTALL_CACHE_DIRS"):
        p.install_cache = p.install_cache + env["NIXPACKS_INSTALL_CACHE_DIRS"].split(",")
    if env.get("NIXPACKS_BUILD_CACHE_DIRS"):
        p.build_cache = p.build_cache + env["NIXPACKS_BUILD_CACHE_DIRS"].split(",")
