"""Helpers of the builder integration tests: real git repositories and sample apps.

(A uniquely named module, so it cannot collide with other packages' test helpers.)
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

from slipway.domain.models import App, Workspace
from slipway.sandbox import REPLICA_LIMITS, Jail, SandboxHost

APPS = Path(__file__).resolve().parents[2] / "fixtures" / "apps"
GIT_ENV = {
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@example.com",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@example.com",
    "GIT_CONFIG_NOSYSTEM": "1",
    "HOME": "/nonexistent",
    "PATH": "/usr/local/bin:/usr/bin:/bin",
}
WORKSPACE = Workspace("ws_test1", "acme", datetime.now(UTC))


class Repo:
    """A working repository on disk; `url` is what an app points at."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.url = str(path)
        path.mkdir(parents=True)
        self.git("init", "-q", "-b", "main")

    def git(self, *args: str) -> str:
        out = subprocess.run(
            ["git", *args], cwd=self.path, env=GIT_ENV, check=True, capture_output=True, text=True
        )
        return out.stdout.strip()

    def commit(self, message: str, files: dict[str, str] | None = None) -> str:
        for name, text in (files or {}).items():
            (self.path / name).parent.mkdir(parents=True, exist_ok=True)
            (self.path / name).write_text(text)
        self.git("add", "-A")
        self.git("commit", "-q", "--allow-empty", "-m", message)
        return self.git("rev-parse", "HEAD")

    def add_fixture(self, name: str, under: str = "") -> None:
        shutil.copytree(APPS / name, self.path / under if under else self.path, dirs_exist_ok=True)


def make_app(url: str, **kwargs: object) -> App:
    now = datetime.now(UTC)
    app = App("app_test1", "ws_test1", "web", url, now, now, serial=1)
    for key, value in kwargs.items():
        setattr(app, key, value)
    return app


async def run_in_image(app_dir: str, argv: list[str]) -> str:
    """Run `argv` in a replica's sandbox over the image's `/app`; its output (it must
    succeed)."""
    host = SandboxHost()
    jail = Jail(uid=host.uid_for(1), app_dir=Path(app_dir), env={}, limits=REPLICA_LIMITS)
    box = await host.start(argv, jail, stderr=asyncio.subprocess.STDOUT)
    try:
        assert box.proc.stdout is not None
        out = (await box.proc.stdout.read()).decode()
        assert await box.proc.wait() == 0, out
    finally:
        await box.release()
    return out
