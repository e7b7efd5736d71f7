"""What a provider is: a language detector that proposes the pieces of a build plan.

A provider looks at the checked-out app (and the app's environment, for `NIXPACKS_*`
switches) and never runs anything. `ProviderPlan` holds strings in nixpacks' sense: each
command is run by `sh -c` inside the build sandbox, never on the host.

Besides nixpacks' fields a plan names `install_inputs`: the files the install phase reads
(package.json and its lockfile, requirements.txt, ...). When they are known, the builder
reuses the install phase's output while their contents are unchanged; `None` means the
install phase reads the whole tree (e.g. `pip install .`) and is never reused. nixpacks
calls the same idea `onlyIncludeFiles`, and the plan prints it under that name.

`guess` is set when the provider had to guess the start command (nothing in the app names
one): a sentence the plan carries in its `notes`, for the build log. `static_assets` are
files the image gets under `/app/.slipway/assets/<name>` (nixpacks' `staticAssets`, which
it writes under `/assets/`), e.g. the Caddyfile of a static site.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

MAX_READ = 1 << 20  # detection never reads more than 1 MiB of one file


@dataclass
class ProviderPlan:
    packages: list[str] = field(default_factory=list)  # nixPkgs of the setup phase
    install: list[str] = field(default_factory=list)
    build: list[str] = field(default_factory=list)
    start: str | None = None
    variables: dict[str, str] = field(default_factory=dict)
    install_cache: list[str] = field(default_factory=list)  # cacheDirectories
    build_cache: list[str] = field(default_factory=list)
    install_inputs: list[str] | None = None  # onlyIncludeFiles of the install phase
    metadata: list[str] = field(default_factory=list)  # NIXPACKS_METADATA after the name
    guess: str | None = None  # why the start command is a guess, for the plan's notes
    static_assets: dict[str, str] = field(default_factory=dict)  # name -> file text


class Provider(Protocol):
    name: str  # as in nixpacks' plan: "python", "node", ...
    title: str  # for the log: "Detected {title} project"

    def detect(self, app_dir: Path, env: Mapping[str, str]) -> bool: ...

    def plan(self, app_dir: Path, env: Mapping[str, str]) -> ProviderPlan: ...


def read_text(path: Path) -> str:
    """The first MiB of `path` as text, or "" when it is missing, unreadable or a symlink.

    Planning runs on the host, outside the sandbox: a repository's symlink must never make
    it read (and print in a plan or a log) a file of the host.
    """
    if path.is_symlink():
        return ""
    try:
        with path.open("rb") as f:
            return f.read(MAX_READ).decode("utf-8", errors="replace")
    except OSError:
        return ""


def read_json(path: Path) -> dict[str, Any]:
    """A JSON object from `path`, or {} when it is missing or not an object."""
    try:
        data = json.loads(read_text(path) or "null")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def read_jsonc(path: Path) -> dict[str, Any]:
    """A JSON-with-comments object (deno.jsonc): `//` and `/* */` comments and trailing
    commas are dropped outside strings; {} when it is missing or not an object."""
    text, out, i = read_text(path), [], 0
    while i < len(text):
        char = text[i]
        if char == '"':
            end = i + 1
            while end < len(text) and text[end] != '"':
                end += 2 if text[end] == "\\" else 1
            out.append(text[i : end + 1])
            i = end + 1
            continue
        if text.startswith("//", i):
            end = text.find("\n", i)
            i = len(text) if end < 0 else end
            continue
        if text.startswith("/*", i):
            end = text.find("*/", i + 2)
            i = len(text) if end < 0 else end + 2
            continue
        if char in "]}":  # a trailing comma before the bracket
            kept = len(out)
            while kept and out[kept - 1].isspace():
                kept -= 1
            if kept and out[kept - 1] == ",":
                del out[kept - 1]
        out.append(char)
        i += 1
    try:
        data = json.loads("".join(out) or "null")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def has(app_dir: Path, *names: str) -> bool:
    """Whether any of `names` is a file of the app."""
    return any((app_dir / n).is_file() for n in names)


def present(app_dir: Path, names: tuple[str, ...]) -> list[str]:
    """The subset of `names` that exist in the app, in the given order."""
    return [n for n in names if (app_dir / n).exists()]


def config_var(env: Mapping[str, str], name: str) -> str | None:
    """A provider switch: `NIXPACKS_{name}` from the app's environment, if set."""
    value = env.get(f"NIXPACKS_{name}", "").strip()
    return value or None


def glob_files(app_dir: Path, pattern: str, *, limit: int = 2000) -> list[Path]:
    """Files matching `pattern` (sorted, at most `limit` looked at), outside dependency dirs."""
    found: list[Path] = []
    root = app_dir.resolve()
    for i, path in enumerate(app_dir.glob(pattern)):
        if i >= limit:
            break
        rel = path.relative_to(app_dir).parts
        if {"node_modules", ".git", ".venv"} & set(rel) or not path.is_file():
            continue
        if path.resolve().is_relative_to(root) and not path.is_symlink():
            found.append(path)
    return sorted(found)


_SUBDIR = re.compile(r"^[A-Za-z0-9_.@+ -]+(?:/[A-Za-z0-9_.@+ -]+)*/?$")


def app_subdir(path: str) -> str | None:
    """`path` as a directory of the app ("dist", "build/client", "." for the app itself),
    or None when it is absolute, leaves the app or holds characters a config could misread
    (quotes, braces, `$`, newlines)."""
    path = path.strip()
    if path.startswith("./"):
        path = path[2:]
    if path in ("", ".", "./"):
        return "."
    if not _SUBDIR.fullmatch(path) or ".." in path.split("/"):
        return None
    return path.rstrip("/")


_SAFE_WORD = re.compile(r"^[A-Za-z0-9_./@:+=,-]+$")


def quote(word: str) -> str:
    """`word` for the sandbox's `sh -c`: unchanged when plain, else single-quoted."""
    if _SAFE_WORD.fullmatch(word) and not word.startswith("-"):
        return word
    return "'" + word.replace("'", "'\\''") + "'"
