"""A plan's `staticAssets` (nixpacks' field: files a provider ships, such as the Caddyfile of
a static site) written into the built tree at `/app/.slipway/assets/<name>`.

The tree was written by the tenant's build commands, so the host writes there without
following any link: whatever `.slipway` the build left (a symlink to a host file, a file, a
directory) is removed first, then the directories are made and the files created through
directory descriptors opened with `O_NOFOLLOW`, each file `O_EXCL`. No build command runs at
that point (each phase's sandbox is gone), and `shutil.rmtree` resists symlink swaps.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
from collections.abc import Mapping
from pathlib import Path

from slipway.domain.errors import DeployFailed

ASSETS_DIR = ".slipway/assets"  # under /app; start commands name /app/.slipway/assets/<name>
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def write_assets(app_dir: Path, assets: Mapping[str, str]) -> None:
    """Write `assets` (name → text) to `app_dir/.slipway/assets/`, replacing `.slipway`."""
    if not assets:
        return
    for name in assets:
        if not _NAME.fullmatch(name):
            raise DeployFailed(f"the plan names a static asset with an unusable name: {name!r}.")
    app_fd = os.open(app_dir, _DIR_FLAGS)
    try:
        _remove(app_fd, ".slipway", app_dir / ".slipway")
        slipway_fd = _make_dir(app_fd, ".slipway")
        try:
            assets_fd = _make_dir(slipway_fd, "assets")
            try:
                for name, text in assets.items():
                    _write(assets_fd, name, text.encode("utf-8"))
            finally:
                os.close(assets_fd)
        finally:
            os.close(slipway_fd)
    finally:
        os.close(app_fd)


def _remove(parent_fd: int, name: str, path: Path) -> None:
    try:
        found = os.stat(name, dir_fd=parent_fd, follow_symlinks=False)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(found.st_mode):
        shutil.rmtree(path)  # fd-based on Linux: never follows a link inside
    else:
        os.unlink(name, dir_fd=parent_fd)


def _make_dir(parent_fd: int, name: str) -> int:
    os.mkdir(name, 0o755, dir_fd=parent_fd)
    return os.open(name, _DIR_FLAGS, dir_fd=parent_fd)


def _write(dir_fd: int, name: str, data: bytes) -> None:
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(name, flags, 0o644, dir_fd=dir_fd)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
