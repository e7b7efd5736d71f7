"""Caddy, the static server of SPAs and static sites: the Caddyfile a plan ships.

nixpacks serves SPAs with Caddy (and static sites with nginx); Slipway serves both with
Caddy (Debian's `caddy` 2.6, `/usr/bin/caddy`). A plan carries the Caddyfile in its
`staticAssets`; the builder writes each asset to `/app/.slipway/assets/<name>` (nixpacks:
`/assets/<name>`), so the start command reads it from there.

The Caddyfile listens on `$PORT` (80 when unset) with no admin API and no automatic HTTPS,
logs to stdout/stderr, and serves `/app/<root>` compressed (zstd, gzip), never the
`.slipway` directory. (Caddy 2.6 knows neither `persist_config` nor `trusted_proxies`: its
config autosave goes to the sandbox's `$HOME`, which nothing keeps.) An SPA answers a path
with no file with `/index.html` (its client-side router takes over) and caches its
bundler's hashed asset directories for a year; `index.html` is never cached. Every value
placed in it is checked first: a root is a plain directory of the app (`base.app_subdir`),
a user name and a bcrypt hash have no space, quote or brace.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

ASSETS_DIR = "/app/.slipway/assets"
START = f"exec caddy run --config {ASSETS_DIR}/Caddyfile --adapter caddyfile 2>&1"
PACKAGE = "caddy"  # nixPkgs entry; toolchains maps it to the `caddy` command
HASHED_DIRS = ("/assets/*", "/static/*", "/_app/immutable/*")  # Vite, CRA, SvelteKit
BCRYPT = re.compile(r"^\$2[abxy]?\$\d\d\$[./A-Za-z0-9]{53}$")
_USER = re.compile(r"^[A-Za-z0-9_.@+-]+$")


def caddyfile(
    root: str,
    *,
    spa: bool,
    hashed_assets: bool = False,
    browse: bool = False,
    compress: bool = True,
    users: Sequence[tuple[str, str]] = (),
    error_pages: Mapping[int, str] | None = None,
) -> str:
    """The Caddyfile serving `/app/<root>` (`root` already checked by `base.app_subdir`).

    `spa`: unknown paths get `/index.html`; `hashed_assets`: a year of caching for the
    bundler's hashed directories; `browse`: directory listings; `users`: (name, bcrypt
    hash) pairs for HTTP basic auth; `error_pages`: status -> page, e.g. {404: "/404.html"}.
    """
    path = "/app" if root == "." else f"/app/{root}"
    lines = [
        "# Written by Slipway's planner: serves the static files of this app.",
        "{",
        "\tadmin off",
        "\tauto_https off",
        "\tlog {",
        "\t\toutput stderr",
        "\t}",
        "}",
        "",
        ":{$PORT:80} {",
        "\tlog {",
        "\t\toutput stdout",
        "\t}",
        f"\troot * {_word(path)}",
    ]
    if compress:
        lines.append("\tencode zstd gzip")
    if users:
        lines.append("\tbasicauth {")
        for name, hashed in users:
            if not (_USER.fullmatch(name) and BCRYPT.fullmatch(hashed)):
                raise ValueError(f"not a user and bcrypt hash: {name!r}")
            lines.append(f"\t\t{name} {hashed}")
        lines.append("\t}")
    lines.append("\t@document path / /index.html")
    if hashed_assets:
        lines.append(f"\t@hashed path {' '.join(HASHED_DIRS)}")
    lines.append("\troute {")
    if spa:
        lines.append("\t\ttry_files {path} /index.html")
    lines.append('\t\theader @document Cache-Control "no-cache"')
    if hashed_assets:
        lines.append('\t\theader @hashed Cache-Control "public, max-age=31536000, immutable"')
    lines.append("\t}")
    lines.append("\tfile_server {")
    lines.append("\t\thide .slipway .git")
    if browse:
        lines.append("\t\tbrowse")
    lines.append("\t}")
    if error_pages:
        lines.append("\thandle_errors {")
        for status, page in sorted(error_pages.items()):
            lines.append(f"\t\t@error{status} expression {{err.status_code}} == {status}")
            lines.append(f"\t\trewrite @error{status} {_word(page)}")
        lines.append("\t\tfile_server")
        lines.append("\t}")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _word(text: str) -> str:
    """A Caddyfile token: quoted when it holds a space (callers allow no quote or brace)."""
    if any(c in text for c in '"{}\n\\'):
        raise ValueError(f"not a plain Caddyfile word: {text!r}")
    return f'"{text}"' if " " in text else text
