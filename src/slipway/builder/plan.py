"""The build plan, in nixpacks' JSON shape (what `slipway plan DIR` prints).

A plan is assembled in layers, each overriding the one before, as nixpacks does:
1. the first provider of the registry that detects the app (`providers.PROVIDERS`),
2. the Procfile's start command,
3. `nixpacks.toml` (`providers`, `variables`, `[phases.<name>] cmds|nixPkgs`, `[start] cmd`;
   a `"..."` item in a list stands for the layer below's items),
4. `NIXPACKS_INSTALL_CMD`, `NIXPACKS_BUILD_CMD`, `NIXPACKS_START_CMD`, `NIXPACKS_PKGS`
   from the app's environment,
5. the app's own `installCommand` / `buildCommand` / `startCommand` (the arguments).

`variables` holds only the provider's and nixpacks.toml's variables, never the app's
environment: the plan ends up in the image config, and app variables may be secrets.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from slipway.builder import providers
from slipway.builder.providers import ProviderPlan
from slipway.domain.errors import DeployFailed

BUILD_IMAGE = "ghcr.io/railwayapp/nixpacks:ubuntu-1745885067"
NO_PROVIDER = (
    "no provider detected: add a package.json, a requirements.txt, a main.py or a Procfile, "
    "or set a start command."
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
    config = _read_config(app_dir)
    provider = _choose_provider(app_dir, env, config)
    base = provider.plan(app_dir, env) if provider else ProviderPlan()
    base.start = providers.procfile_start(app_dir) or base.start
    _apply_config(base, config)
    _apply_env(base, env)
    if install_cmd:
        base.install = [install_cmd]
    if build_cmd:
        base.build = [build_cmd]
    base.start = start_cmd or base.start
    if provider is None and not base.start:
        raise DeployFailed(NO_PROVIDER)
    return _shape([provider.name] if provider else [], base)


def provider_title(plan: Mapping[str, Any]) -> str | None:
    """How the log names the plan's provider ("Python"), None when there is none."""
    names = plan.get("providers") or []
    found = providers.by_name(names[0]) if names else None
    return found.title if found else None


def _shape(names: list[str], p: ProviderPlan) -> dict[str, Any]:
    return {
        "providers": names,
        "buildImage": BUILD_IMAGE,
        "variables": dict(sorted(p.variables.items())),
        "phases": {
            "setup": {"name": "setup", "nixPkgs": list(p.packages)},
            "install": {"name": "install", "dependsOn": ["setup"], "cmds": list(p.install)},
            "build": {"name": "build", "dependsOn": ["install"], "cmds": list(p.build)},
        },
        "start": {"cmd": p.start},
    }


def _read_config(app_dir: Path) -> dict[str, Any]:
    path = app_dir / "nixpacks.toml"
    if not path.is_file():
        return {}
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise DeployFailed("nixpacks.toml is not valid TOML.") from exc


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
    for name, attr in (("install", "install"), ("build", "build")):
        phase = phases.get(name)
        if isinstance(phase, dict):
            setattr(p, attr, _merge(getattr(p, attr), phase.get("cmds")))
    setup = phases.get("setup")
    if isinstance(setup, dict):
        p.packages = _merge(p.packages, setup.get("nixPkgs"))
    start = config.get("start")
    if isinstance(start, dict) and isinstance(start.get("cmd"), str):
        p.start = start["cmd"]
    variables = config.get("variables")
    if isinstance(variables, dict):
        p.variables.update({str(k): str(v) for k, v in variables.items()})


def _apply_env(p: ProviderPlan, env: Mapping[str, str]) -> None:
    if env.get("NIXPACKS_INSTALL_CMD"):
        p.install = [env["NIXPACKS_INSTALL_CMD"]]
    if env.get("NIXPACKS_BUILD_CMD"):
        p.build = [env["NIXPACKS_BUILD_CMD"]]
    if env.get("NIXPACKS_START_CMD"):
        p.start = env["NIXPACKS_START_CMD"]
    if env.get("NIXPACKS_PKGS"):
        p.packages = p.packages + env["NIXPACKS_PKGS"].split()
