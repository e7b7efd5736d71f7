"""The rules of each app field (CONTRACT §4), checked one field at a time.

`check_fields` takes the fields a request gives, keyed by the `App` attribute name, and
returns them cleaned, or raises `Invalid` naming every bad field by its API (camelCase) name.
Values are checked for their type too, so callers other than the HTTP API get the same rules.
Error messages never repeat a value: env values may be secrets.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from pathlib import PurePosixPath
from typing import Any

from slipway.domain import giturls, names
from slipway.domain.errors import FieldError, Invalid, raise_if

API_NAMES = {
    "name": "name",
    "git_url": "gitUrl",
    "git_branch": "gitBranch",
    "root_directory": "rootDirectory",
    "buildpack": "buildpack",
    "start_command": "startCommand",
    "build_command": "buildCommand",
    "install_command": "installCommand",
    "release_command": "releaseCommand",
    "health_check_path": "healthCheckPath",
    "env": "env",
    "min_replicas": "minReplicas",
    "max_replicas": "maxReplicas",
    "replicas": "replicas",
    "memory_mb": "memoryMb",
    "target_concurrency": "targetConcurrency",
    "https_only": "httpsOnly",
}
NULLABLE = frozenset(
    {
        "git_branch",  # null or "": the repository's default branch (its HEAD)
        "root_directory",
        "start_command",
        "build_command",
        "install_command",
        "release_command",
        "health_check_path",
        "max_replicas",
        "memory_mb",
    }
)
BUILDPACKS = ("nixpacks",)
MAX_REPLICAS = 10
MEMORY_MB = (128, 8192)  # a replica's memory limit, when the app sets its own
TARGET_CONCURRENCY = (1, 1000)
MAX_COMMAND = 4096
MAX_PATH = 1024
MAX_ENV_VARS = 200
MAX_ENV_KEY = 256
MAX_ENV_VALUE = 32 * 1024
MAX_ENV_TOTAL = 256 * 1024
_ENV_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_ROOT_PART = re.compile(r"^[A-Za-z0-9._@+ -]{1,255}$")
_HEALTH_PATH = re.compile(r"^/[A-Za-z0-9._~!$&'()*+,;=:@/%?-]*$")


class _Bad(Exception):
    """One field's problem (message only; the field name is added by `check_fields`)."""


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise _Bad("must be a string")
    return value


def _label(value: object) -> str:
    problem = names.label_problem(_text(value))
    if problem:
        raise _Bad(problem)
    return _text(value)


def _branch(value: object) -> str | None:
    text = _text(value)
    if text == "":
        return None
    problem = names.branch_problem(text)
    if problem:
        raise _Bad(problem)
    return text


def _command(value: object) -> str | None:
    text = _text(value)
    if len(text) > MAX_COMMAND or "\x00" in text:
        raise _Bad(f"must be at most {MAX_COMMAND} characters, without NUL")
    return text or None


def _root_directory(value: object) -> str | None:
    text = _text(value)
    if text.strip("/") in ("", "."):
        return None
    parts = PurePosixPath(text).parts
    if text.startswith("/") or len(text) > MAX_PATH:
        raise _Bad("must be a relative path inside the repository")
    if any(p == ".." or not _ROOT_PART.fullmatch(p) for p in parts):
        raise _Bad("must not contain '..' or characters other than letters, digits, ._@+- ")
    return "/".join(p for p in parts if p != ".")


def _health_check_path(value: object) -> str:
    text = _text(value)
    if len(text) > MAX_PATH or not _HEALTH_PATH.fullmatch(text):
        raise _Bad("must be a URL path starting with '/'")
    return text


def _buildpack(value: object) -> str:
    if _text(value) not in BUILDPACKS:
        raise _Bad("must be one of: " + ", ".join(BUILDPACKS))
    return _text(value)


def _replica_count(value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_REPLICAS:
        raise _Bad(f"must be an integer from 0 to {MAX_REPLICAS}")
    return value


def _memory_mb(value: object) -> int:
    low, high = MEMORY_MB
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise _Bad(f"must be null or an integer from {low} to {high} (MiB)")
    return value


def _target_concurrency(value: object) -> int:
    low, high = TARGET_CONCURRENCY
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise _Bad(f"must be an integer from {low} to {high} (requests in flight per replica)")
    return value


def _flag(value: object) -> bool:
    if not isinstance(value, bool):
        raise _Bad("must be true or false")
    return value


def _env(value: object) -> dict[str, str]:
    if not isinstance(value, dict):
        raise _Bad("must be an object of string keys and string values")
    if len(value) > MAX_ENV_VARS:
        raise _Bad(f"must have at most {MAX_ENV_VARS} variables")
    total = 0
    for key, item in value.items():
        if not isinstance(key, str) or not _ENV_KEY.fullmatch(key) or len(key) > MAX_ENV_KEY:
            raise _Bad("keys must match ^[A-Za-z_][A-Za-z0-9_]*$ (at most 256 characters)")
        if not isinstance(item, str) or "\x00" in item or len(item) > MAX_ENV_VALUE:
            raise _Bad(
                f"the value of {key} must be at most {MAX_ENV_VALUE} characters, without NUL"
            )
        total += len(key) + len(item)
    if total > MAX_ENV_TOTAL:
        raise _Bad(f"must total at most {MAX_ENV_TOTAL} characters")
    return dict(value)


def _git_url_checker(local: giturls.LocalRepos) -> Callable[[object], str]:
    def check(value: object) -> str:
        try:
            return giturls.check_git_url("gitUrl", _text(value), local=local)
        except Invalid as exc:
            raise _Bad(exc.errors[0].message if exc.errors else exc.detail) from exc

    return check


def _checkers(local: giturls.LocalRepos) -> dict[str, Callable[[object], object]]:
    return {
        "name": _label,
        "git_url": _git_url_checker(local),
        "git_branch": _branch,
        "root_directory": _root_directory,
        "buildpack": _buildpack,
        "start_command": _command,
        "build_command": _command,
        "install_command": _command,
        "release_command": _command,
        "health_check_path": _health_check_path,
        "env": _env,
        "min_replicas": _replica_count,
        "max_replicas": _replica_count,
        "replicas": _replica_count,
        "memory_mb": _memory_mb,
        "target_concurrency": _target_concurrency,
        "https_only": _flag,
    }


def check_fields(
    fields: Mapping[str, object], *, local: giturls.LocalRepos = giturls.NO_LOCAL
) -> dict[str, Any]:
    """Clean every given field, or raise Invalid listing every bad one. Each value returned
    has its `App` attribute's type (hence `Any`: it goes to `dataclasses.replace`)."""
    checkers = _checkers(local)
    cleaned: dict[str, Any] = {}
    errors: list[FieldError] = []
    for attr, value in fields.items():
        api_name = API_NAMES.get(attr, attr)
        try:
            if attr not in checkers:
                raise _Bad("is not a field of an app")
            if value is None and attr not in NULLABLE:
                raise _Bad("must not be null")
            cleaned[attr] = None if value is None else checkers[attr](value)
        except _Bad as exc:
            errors.append(FieldError(api_name, str(exc)))
    raise_if(errors)
    return cleaned


def check_replica_bounds(min_replicas: int, max_replicas: int | None) -> None:
    if max_replicas is not None and max_replicas < min_replicas:
        raise_if([FieldError("maxReplicas", "must be null or at least minReplicas")])
