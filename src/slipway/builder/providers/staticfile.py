"""Static sites (nixpacks' `providers/staticfile.rs`): a Staticfile, an index.html, or a
public/, dist/ or index/ directory.

The document root is `NIXPACKS_STATICFILE_ROOT`, else the Staticfile's `root:`, else
public/, dist/ or index/, else the app. nixpacks serves it with nginx from its own assets;
Slipway serves it with Caddy (`caddy.py`): the plan's `staticAssets` hold the Caddyfile,
the start command runs it. No install or build phase either way. The Staticfile's other
keys keep their meaning: `directory: visible` lists directories, `gzip: off` turns
compression off, `status_code: {404: /404.html}` names error pages, and a
`Staticfile.auth` (htpasswd lines) asks for HTTP basic auth. Caddy checks only bcrypt
hashes (`htpasswd -B`): with any other hash the plan is refused rather than the site served
without its password.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from slipway.builder.providers import caddy
from slipway.builder.providers.base import ProviderPlan, app_subdir, config_var, has, read_text
from slipway.domain.errors import DeployFailed

_KEY_LINE = re.compile(r"(\w+):\s*(.*?)\s*")
_STATUS_LINE = re.compile(r"\s+(\d{3}):\s*(\S+)\s*")


def _staticfile(app_dir: Path) -> tuple[dict[str, str], dict[int, str]]:
    """The Staticfile's top-level `key: value` pairs and its `status_code:` entries."""
    keys: dict[str, str] = {}
    pages: dict[int, str] = {}
    section = None
    for line in read_text(app_dir / "Staticfile").splitlines():
        top = _KEY_LINE.fullmatch(line)
        if top:
            section = top.group(1)
            keys[section] = top.group(2).strip("'\"")
            continue
        nested = _STATUS_LINE.fullmatch(line)
        if nested and section == "status_code":
            pages[int(nested.group(1))] = nested.group(2).strip("'\"")
    return keys, pages


def document_root(app_dir: Path, env: Mapping[str, str]) -> str:
    configured = config_var(env, "STATICFILE_ROOT") or _staticfile(app_dir)[0].get("root")
    if configured:
        return configured
    for name in ("public", "dist", "index"):
        if (app_dir / name).is_dir():
            return name
    return "."


def _users(app_dir: Path) -> list[tuple[str, str]]:
    users = []
    for line in read_text(app_dir / "Staticfile.auth").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, _, hashed = line.partition(":")
        if not caddy.BCRYPT.fullmatch(hashed) or not re.fullmatch(r"[A-Za-z0-9_.@+-]+", name):
            raise DeployFailed(
                "Staticfile.auth: Caddy, which serves static sites, checks only bcrypt "
                "password hashes; write the file with `htpasswd -B -c Staticfile.auth USER`."
            )
        users.append((name, hashed))
    return users


class StaticfileProvider:
    name = "staticfile"
    title = "static site"

    def detect(self, app_dir: Path, env: Mapping[str, str]) -> bool:
        dirs = ("public", "index", "dist")
        return has(app_dir, "Staticfile", "index.html") or any((app_dir / d).is_dir() for d in dirs)

    def plan(self, app_dir: Path, env: Mapping[str, str]) -> ProviderPlan:
        configured = document_root(app_dir, env)
        root = app_subdir(configured)
        if root is None:
            raise DeployFailed(
                f"the static site's root {configured!r} must be a directory of the app "
                "(letters, digits, spaces and ._@+- only)."
            )
        keys, pages = _staticfile(app_dir)
        pages = {code: page for code, page in pages.items() if app_subdir(page.lstrip("/"))}
        text = caddy.caddyfile(
            root,
            spa=False,
            browse=keys.get("directory", "").lower() == "visible",
            compress=keys.get("gzip", "on").lower() not in ("off", "false"),
            users=_users(app_dir),
            error_pages={code: "/" + page.lstrip("/") for code, page in pages.items()},
        )
        return ProviderPlan(
            packages=[caddy.PACKAGE],
            start=caddy.START,
            static_assets={"Caddyfile": text},
        )
