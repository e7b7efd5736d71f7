"""What survives from one build of an app to the next: caches and installed dependencies.

Cache directories. Each phase's `cacheDirectories` get a directory of their own under
`data_dir/cache/<app>/dirs/`, bound into the sandbox at the path the plan names: absolute
ones (`/root/.npm`, `/root/.cache/pip`) for every phase, relative ones
(`node_modules/.cache`) under `/app` for their own phase only, as nixpacks' cache mounts.
Builds run with `HOME=/tmp`, so the package managers are pointed at those paths through their
own variables (`npm_config_cache`, `PIP_CACHE_DIR`, `GOCACHE`, ...). Only paths under
`/root/`, `/usr/local/share/.cache/` or the app may be cache directories: a config file
cannot mount over the toolchains.

Installed dependencies. When the install phase has `onlyIncludeFiles` (the plan knows every
file it reads), its key is a hash of those files' contents, the install commands, the setup
packages, the plan's variables and the app's environment (hashed, never stored). After an
install, the top-level entries it created (`node_modules`, `.venv`) are copied to
`data_dir/cache/<app>/install/<key>/`; the next build with the same key copies them back and
runs no install command. One snapshot per app is kept.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import secrets
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from slipway.domain.errors import DeployFailed

_ENV_FOR = {
    "/root/.npm": ("npm_config_cache",),
    "/root/.cache/pip": ("PIP_CACHE_DIR",),
    "/usr/local/share/.cache/yarn/v6": ("YARN_CACHE_FOLDER",),
    "/root/.local/share/pnpm/store/v3": ("npm_config_store_dir",),
    "/root/.bun": ("BUN_INSTALL_CACHE_DIR",),
    "/root/.cache/go-build": ("GOCACHE",),
    "/root/.cache/uv": ("UV_CACHE_DIR",),
    "/root/.cache/pdm": ("PDM_CACHE_DIR",),
    "/root/.cache/deno": ("DENO_DIR",),
    "/root/.cache/composer": ("COMPOSER_CACHE_DIR",),
    "/root/.bundle/cache": ("BUNDLE_USER_CACHE",),
    "/root/.gradle": ("GRADLE_USER_HOME",),
}
_USR_CACHE = "/usr/local/share/.cache/"
_USR_CACHE_INSIDE = "/root/.cache/usr-local-share/"
_ALLOWED_ROOTS = ("/root/", _USR_CACHE)
_SAFE = re.compile(r"^[A-Za-z0-9_./@+-]+$")


class Caches:
    """The cache and dependency snapshots of one app, under `root`; its cache directories
    belong to the app's sandbox uid `uid`, which writes them."""

    def __init__(self, root: Path, *, uid: int) -> None:
        self.root = root
        self.uid = uid

    def binds(self, phase: Mapping[str, Any], all_dirs: list[str]) -> dict[str, Path]:
        """Sandbox path → host directory for one phase; every absolute cache dir of the plan."""
        own = [d for d in phase.get("cacheDirectories", []) if not d.startswith("/")]
        binds: dict[str, Path] = {}
        for inside in [*(d for d in all_dirs if d.startswith("/")), *own]:
            target = check_cache_dir(inside)
            host = self.root / "dirs" / hashlib.sha256(target.encode()).hexdigest()[:16]
            host.mkdir(parents=True, exist_ok=True)
            os.chown(host, self.uid, self.uid)
            binds[target] = host
        return binds

    # ------------------------------------------------------------------ installs

    def install_key(self, app_dir: Path, plan: Mapping[str, Any], env: Mapping[str, str]) -> str:
        install = plan["phases"]["install"]
        files = {name: _digest_path(app_dir / name) for name in install["onlyIncludeFiles"]}
        material = {
            "cmds": install["cmds"],
            "pkgs": plan["phases"]["setup"]["nixPkgs"],
            "variables": plan["variables"],
            "files": files,
            "env": hashlib.sha256(_canonical(dict(env))).hexdigest(),
        }
        return hashlib.sha256(_canonical(material)).hexdigest()

    def restore(self, key: str, app_dir: Path) -> list[str] | None:
        """Copy the snapshot for `key` into the app; its entry names, None when there is none."""
        snap = self.root / "install" / key
        try:
            names = json.loads((snap / "entries.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(names, list) or any(_unsafe_name(n) for n in names):
            return None
        _copy([snap / "tree" / n for n in names], app_dir)
        return names

    def save(self, key: str, app_dir: Path, names: list[str]) -> None:
        """Keep the install's new top-level entries as the app's one snapshot."""
        names = sorted(n for n in names if not _unsafe_name(n))
        if not names:
            return
        installs = self.root / "install"
        tmp = installs / f".tmp-{secrets.token_hex(6)}"
        (tmp / "tree").mkdir(parents=True)
        try:
            _copy([app_dir / n for n in names], tmp / "tree")
            (tmp / "entries.json").write_text(json.dumps(names), encoding="utf-8")
            for old in installs.iterdir():
                if old != tmp:
                    shutil.rmtree(old, ignore_errors=True)
            tmp.rename(installs / key)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


def check_cache_dir(path: str) -> str:
    """The sandbox path of a cache directory, or DeployFailed when it may not be one."""
    parts = Path(path).parts
    ok = bool(_SAFE.fullmatch(path)) and not {"..", "."} & set(path.split("/"))
    if path.startswith("/"):
        ok = ok and path.startswith(_ALLOWED_ROOTS) and len(parts) > 2
        inside = sandbox_path(path)
    else:
        top = parts[0] if parts else ""
        nested = top == "node_modules" and len(parts) > 1  # node_modules/.cache, not itself
        ok = ok and top not in {"", ".git", ".venv"} and (top != "node_modules" or nested)
        inside = f"/app/{path.rstrip('/')}"
    if not ok:
        raise DeployFailed(f"the cache directory {path!r} is not allowed: use a path in the app.")
    return inside


def sandbox_path(path: str) -> str:
    """Where an absolute cache directory of the plan is mounted in the sandbox. nixpacks'
    `/usr/local/share/.cache/…` (yarn's) lies in the host's read-only `/usr`, where no mount
    point can be made: it is mounted under `/root/.cache/usr-local-share/…` instead, and the
    package manager's variable points there."""
    path = path.rstrip("/")
    if path.startswith(_USR_CACHE):
        return _USR_CACHE_INSIDE + path.removeprefix(_USR_CACHE)
    return path


def cache_env(all_dirs: list[str]) -> dict[str, str]:
    """The package managers' own variables that point them at the plan's cache dirs."""
    env: dict[str, str] = {}
    for path in all_dirs:
        for var in _ENV_FOR.get(path.rstrip("/"), ()):
            env[var] = sandbox_path(path)
    if "/root/.cache/go-build" in env.values():
        env["GOMODCACHE"] = "/root/.cache/go-build/mod"
    return env


def make_mount_points(app_dir: Path, binds: Mapping[str, Path], uid: int) -> None:
    """Create, as real directories of `uid`'s, where the cache directories under `/app` will
    be mounted, so bubblewrap (which runs as root) never creates a path in the tenant's tree.
    Nothing is followed: a link on the way fails the build. No tenant process runs now."""
    for inside in binds:
        if not inside.startswith("/app/"):
            continue
        fd = os.open(app_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        try:
            for part in inside.removeprefix("/app/").split("/"):
                fd = _enter(fd, part, uid, inside)
        finally:
            os.close(fd)


def _enter(parent: int, name: str, uid: int, path: str) -> int:
    """The directory `name` in `parent` (created if missing), opened; `parent` is closed."""
    try:
        created = False
        with contextlib.suppress(FileExistsError):
            os.mkdir(name, 0o755, dir_fd=parent)
            created = True
        fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=parent)
        if created:
            os.fchown(fd, uid, uid)
            os.fchmod(fd, 0o755)
        return fd
    except OSError:
        raise DeployFailed(
            f"the cache directory {path.removeprefix('/app/')!r} is not a directory of the app."
        ) from None
    finally:
        os.close(parent)


def disk_usage(paths: list[Path]) -> int:
    """Bytes allocated on disk below `paths` (links are not followed; missing paths are 0)."""
    total = 0
    todo = [str(p) for p in paths]
    while todo:
        try:
            with os.scandir(todo.pop()) as entries:
                for entry in entries:
                    try:
                        total += entry.stat(follow_symlinks=False).st_blocks * 512
                        if entry.is_dir(follow_symlinks=False):
                            todo.append(entry.path)
                    except OSError:
                        continue
        except OSError:
            continue
    return total


def top_level(app_dir: Path) -> set[str]:
    return {p.name for p in app_dir.iterdir()}


def _unsafe_name(name: object) -> bool:
    return not isinstance(name, str) or name in {"", ".", "..", ".git"} or "/" in name


def _copy(sources: list[Path], dest: Path) -> None:
    existing = [str(s) for s in sources if s.exists() or s.is_symlink()]
    if not existing:
        return
    done = subprocess.run(
        ["cp", "-a", "--reflink=auto", "--", *existing, str(dest)],
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        raise OSError(f"copying the dependency snapshot failed: {done.stderr[-300:]!r}")


def _digest_path(path: Path) -> str:
    """sha256 of a file, or of a directory's files and names; "" when missing."""
    h = hashlib.sha256()
    if path.is_symlink():  # never follow a repository's symlink out of the app
        h.update(b"symlink\0" + str(path.readlink()).encode())
    elif path.is_file():
        h.update(path.read_bytes())
    elif path.is_dir():
        files = (p for p in path.rglob("*") if p.is_file() and not p.is_symlink())
        for sub in sorted(files):
            h.update(str(sub.relative_to(path)).encode() + b"\0" + sub.read_bytes())
    else:
        return ""
    return h.hexdigest()


def _canonical(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()
