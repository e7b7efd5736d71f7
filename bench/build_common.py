"""Shared pieces of the build benchmarks: a throwaway git repo, an app, a timed build.

Everything happens under one temporary directory; the only network traffic is the npm
registry (package downloads), and every loop is bounded by `--rounds`.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

from slipway.builder.local import LocalBuilder
from slipway.builder.source import GitSource
from slipway.domain.models import App, Image, Workspace

WORKSPACE = Workspace("ws_bench", "bench", datetime.now(UTC))
GIT_ENV = {
    "GIT_AUTHOR_NAME": "b",
    "GIT_AUTHOR_EMAIL": "b@example.com",
    "GIT_COMMITTER_NAME": "b",
    "GIT_COMMITTER_EMAIL": "b@example.com",
    "GIT_CONFIG_NOSYSTEM": "1",
    "HOME": "/nonexistent",
    "PATH": "/usr/local/bin:/usr/bin:/bin",
}
# ~50 direct dependencies, small and long-lived packages.
DEPENDENCIES = [
    "ansi-styles",
    "async",
    "axios",
    "bcryptjs",
    "bluebird",
    "body-parser",
    "chalk",
    "classnames",
    "colorette",
    "commander",
    "cookie",
    "cors",
    "dayjs",
    "debug",
    "depd",
    "dotenv",
    "escape-html",
    "etag",
    "express",
    "fresh",
    "glob",
    "has-flag",
    "inherits",
    "is-number",
    "jsonwebtoken",
    "kind-of",
    "kleur",
    "left-pad",
    "lodash",
    "mime",
    "minimist",
    "mkdirp",
    "moment",
    "morgan",
    "ms",
    "nanoid",
    "on-finished",
    "once",
    "picocolors",
    "qs",
    "rimraf",
    "safe-buffer",
    "semver",
    "strip-ansi",
    "supports-color",
    "underscore",
    "uuid",
    "validator",
    "vary",
    "wrappy",
    "ws",
    "yargs",
]
SERVER_JS = "require('lodash'); require('express'); console.log('v%d');\n"


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", *args], cwd=repo, env=GIT_ENV, check=True, capture_output=True, text=True
    )
    return done.stdout.strip()


def node_repo(root: Path) -> Path:
    """A git repo with a ~50-dependency Node app and its package-lock.json."""
    repo = root / "node-app"
    repo.mkdir(parents=True)
    package = {
        "name": "bench-app",
        "version": "1.0.0",
        "private": True,
        "scripts": {"build": "node -e \"require('fs').writeFileSync('built.txt', 'ok')\"",
                    "start": "node server.js"},
        "dependencies": {name: "*" for name in DEPENDENCIES},
    }  # fmt: skip
    (repo / "package.json").write_text(json.dumps(package, indent=2))
    (repo / "server.js").write_text(SERVER_JS % 0)
    subprocess.run(
        ["npm", "install", "--package-lock-only", "--ignore-scripts", "--no-audit", "--no-fund",
         "--cache", str(root / "lock-cache")],
        cwd=repo, check=True, capture_output=True, timeout=600,
    )  # fmt: skip
    git(repo, "init", "-q", "-b", "main")
    commit(repo, "first")
    return repo


def commit(repo: Path, message: str, files: dict[str, str] | None = None) -> None:
    for name, text in (files or {}).items():
        (repo / name).write_text(text)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "--allow-empty", "-m", message)


def make_app(url: str, **kwargs: object) -> App:
    now = datetime.now(UTC)
    app = App("app_bench", "ws_bench", "web", url, now, now, serial=1)
    for key, value in kwargs.items():
        setattr(app, key, value)
    return app


class Recorder:
    def __init__(self) -> None:
        self.lines: list[str] = []

    async def __call__(self, line: str) -> None:
        self.lines.append(line)


async def timed_build(builder: LocalBuilder, app: App) -> tuple[float, Image, list[str]]:
    assert isinstance(builder.source, GitSource)
    commit_ = await builder.source.resolve(app, branch=None, sha=None)
    log = Recorder()
    started = time.perf_counter()
    image = await builder.build(workspace=WORKSPACE, app=app, commit=commit_, log=log)
    return time.perf_counter() - started, image, log.lines


def summary(values: list[float], unit: str = "s", digits: int = 2) -> str:
    def fmt(value: float) -> str:
        return f"{value:.{digits}f}"

    med = statistics.median(values)
    return f"median {fmt(med)}{unit} (min {fmt(min(values))}, max {fmt(max(values))})"
