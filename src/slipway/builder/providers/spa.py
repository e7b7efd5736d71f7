"""Single-page apps and static builds of a Node app, served by Caddy once built.

nixpacks (`providers/node/spa`) serves a Vite app with Caddy when it uses React (not
Remix or React Router's framework mode), Vue, Svelte (not SvelteKit), Preact, Lit, Solid or
Qwik, or when `NIXPACKS_SPA_OUT_DIR` names its output; the output directory is vite.config's
`outDir`, else `vite build --outDir X` in the build script, else dist. Slipway does the
same, and, as railpack does, also serves these builds:

- a plain Vite app (no framework) that has nothing else to start: no `start` script, no
  `main`, no index.js;

- create-react-app (`react-scripts`): build/;
- React Router v7 / Remix in SPA mode (`ssr: false` in react-router.config or vite.config):
  build/client/;
- Astro without a server adapter or `output: "server"`: dist/ (a static site: no fallback
  to index.html);
- Angular without `@angular/ssr`: angular.json's `outputPath` (with `/browser` for the
  application builder), else dist/<project>.

Two switches: `NIXPACKS_SPA_CADDY=false` (or 0) turns this off, `NIXPACKS_SPA_OUT_DIR` names
the output. A package whose `start` script runs its own server (not the bundler's dev or
preview server, nor a static file server) is not served by Caddy: it starts with its
script, where nixpacks would serve the Vite output and ignore the server.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from slipway.builder.providers.base import app_subdir, config_var, has, read_json, read_text

_VITE_ALLOW = ("vue", "preact", "lit", "solid-js", "@builder.io/qwik")
_OUT_DIR = re.compile(r"""outDir:\s*['"`](.*?)['"`]""")
_OUT_FLAG = re.compile(r"vite\s+build(?:\s+-[^\s]*)*\s+(?:--outDir)\s+([^-\s;]+)")
_SSR_OFF = re.compile(r"\bssr\s*:\s*false\b")
_DEV_SERVER = re.compile(
    r"^\s*(?:npx\s+)?(?:vite|react-scripts\s+start|ng\s+serve|astro\b|serve\b|http-server\b"
    r"|sirv\b|react-router\s+dev|remix\s+vite:dev)"
)
_ASTRO_ADAPTERS = ("@astrojs/node", "@astrojs/vercel", "@astrojs/netlify", "@astrojs/cloudflare")


@dataclass
class Spa:
    output: str  # a directory of the app, checked by base.app_subdir
    fallback: bool  # unknown paths get /index.html (client-side routing)


def dependencies(package: Mapping[str, Any]) -> set[str]:
    names: set[str] = set()
    for key in ("dependencies", "devDependencies"):
        deps = package.get(key)
        if isinstance(deps, dict):
            names |= set(deps)
    return names


def detect(app_dir: Path, env: Mapping[str, str], package: Mapping[str, Any]) -> Spa | None:
    """The build to serve with Caddy, None when the app is not served that way."""
    if (config_var(env, "SPA_CADDY") or "").lower() in ("false", "0"):
        return None
    scripts = package.get("scripts")
    scripts = scripts if isinstance(scripts, dict) else {}
    start = scripts.get("start")
    if isinstance(start, str) and not _DEV_SERVER.match(start):
        return None  # the app runs its own server
    found = _find(app_dir, env, package, dependencies(package), scripts)
    if found is None:
        return None
    out = app_subdir(config_var(env, "SPA_OUT_DIR") or found.output)
    if out is None or out == ".":
        return None  # an output outside the app (or the app itself) is not served
    found.output = out
    return found


def _find(
    app_dir: Path,
    env: Mapping[str, str],
    package: Mapping[str, Any],
    deps: set[str],
    scripts: Mapping[str, Any],
) -> Spa | None:
    build = scripts.get("build")
    build = build if isinstance(build, str) else ""
    if _spa_mode(app_dir, deps):
        return Spa("build/client", True)
    vite = (
        "vite" in deps
        or has(app_dir, "vite.config.js", "vite.config.ts", "vite.config.mjs", "vite.config.mts")
        or "vite build" in build.lower()
    )
    if vite and (
        _vite_allowed(deps)
        or config_var(env, "SPA_OUT_DIR")
        or _nothing_else(app_dir, package, scripts)
    ):
        return Spa(_vite_output(app_dir, build), True)
    if "react-scripts" in deps:
        return Spa("build", True)
    if "astro" in deps and _astro_static(app_dir, deps):
        return Spa("dist", False)
    if "@angular/core" in deps and "@angular/ssr" not in deps and has(app_dir, "angular.json"):
        output = _angular_output(app_dir)
        return Spa(output, True) if output else None
    return None


def _nothing_else(app_dir: Path, package: Mapping[str, Any], scripts: Mapping[str, Any]) -> bool:
    """A Vite app with no start script, no `main` and no index.js has nothing to run but its
    build (plain Vite, no framework): nixpacks would find no start command; Slipway serves it."""
    main = package.get("main")
    has_main = isinstance(main, str) and bool(main) and (app_dir / main).is_file()
    return "start" not in scripts and not has_main and not has(app_dir, "index.js")


def _vite_allowed(deps: set[str]) -> bool:
    """nixpacks' allowlist of Vite frameworks that build a client-only app."""
    react = "react" in deps and not {"@remix-run/react", "@react-router/node"} & deps
    svelte = "svelte" in deps and "@sveltejs/kit" not in deps
    return react or svelte or any(name in deps for name in _VITE_ALLOW)


def _vite_output(app_dir: Path, build: str) -> str:
    for name in ("vite.config.js", "vite.config.ts", "vite.config.mjs", "vite.config.mts"):
        found = _OUT_DIR.search(read_text(app_dir / name))
        if found:
            return found.group(1)
    flag = _OUT_FLAG.search(build)
    return flag.group(1) if flag else "dist"


def _spa_mode(app_dir: Path, deps: set[str]) -> bool:
    """React Router v7 framework or Remix with `ssr: false`: a static client build."""
    configs: tuple[str, ...]
    if "@react-router/dev" in deps:
        configs = ("react-router.config.ts", "react-router.config.js")
    elif "@remix-run/dev" in deps:
        configs = ("vite.config.ts", "vite.config.js", "vite.config.mts", "vite.config.mjs")
    else:
        return False
    return any(_SSR_OFF.search(read_text(app_dir / name)) for name in configs)


def _astro_static(app_dir: Path, deps: set[str]) -> bool:
    if any(adapter in deps for adapter in _ASTRO_ADAPTERS):
        return False
    config = "".join(read_text(app_dir / f"astro.config.{ext}") for ext in ("mjs", "ts", "js"))
    return not re.search(r"""output\s*:\s*['"](?:server|hybrid)['"]""", config)


def _angular_output(app_dir: Path) -> str | None:
    config = read_json(app_dir / "angular.json")
    projects = _table(config.get("projects"))
    if not projects:
        return None
    name = config.get("defaultProject")
    name = name if isinstance(name, str) and name in projects else next(iter(projects))
    project = _table(projects[name])
    build = _table(_table(project.get("architect") or project.get("targets")).get("build"))
    builder = build.get("builder")
    output = _table(build.get("options")).get("outputPath")
    browser = "browser"
    if isinstance(output, dict):  # {"base": "dist/x", "browser": ""}
        given = output.get("browser")
        browser = given if isinstance(given, str) else browser
        output = output.get("base")
    if not isinstance(output, str):
        output = f"dist/{name}"
    if isinstance(builder, str) and builder.endswith(":application") and browser:
        output = f"{output}/{browser}"
    return output


def _table(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}
