"""Names users choose (apps, workspaces, tags, branches) and names Slipway makes (revisions).

Every value that later reaches git, a path or a process is checked here against an allowlist.
"""

from __future__ import annotations

import re

from slipway.domain.errors import Invalid

# A DNS label of at most 40 characters, starting with a letter, with no `--` (reserved for
# tag hosts: `{tag}---{app}`).
_LABEL = re.compile(r"^[a-z]([a-z0-9-]{0,38}[a-z0-9])?$")
_REVISION = re.compile(r"^(?P<app>[a-z]([a-z0-9-]{0,38}[a-z0-9])?)-(?P<n>[0-9]{5})$")
# Git ref names: a conservative subset of `git check-ref-format --branch`.
_BRANCH = re.compile(r"^[A-Za-z0-9._/-]{1,200}$")
_SHA = re.compile(r"^[0-9a-f]{7,40}$")


def label_problem(value: str) -> str | None:
    """Why `value` is not a DNS label we accept, or None when it is one."""
    if not _LABEL.fullmatch(value):
        return (
            "must be 1-40 characters of lowercase letters, digits and '-', "
            "start with a letter and not end with '-'"
        )
    if "--" in value:
        return "must not contain '--'"
    return None


def check_label(field: str, value: str) -> str:
    problem = label_problem(value)
    if problem:
        raise Invalid.field(field, problem)
    return value


def revision_name(app_name: str, number: int) -> str:
    if not 1 <= number <= 99999:
        raise ValueError("revision numbers run from 1 to 99999")
    return f"{app_name}-{number:05d}"


def parse_revision_name(name: str) -> tuple[str, int] | None:
    m = _REVISION.fullmatch(name)
    if not m:
        return None
    return m.group("app"), int(m.group("n"))


def branch_problem(value: str) -> str | None:
    if not _BRANCH.fullmatch(value):
        return "must be 1-200 characters of letters, digits, '.', '_', '/' and '-'"
    if (
        value.startswith(("-", "/", "."))
        or value.endswith(("/", ".", ".lock"))
        or ".." in value
        or "//" in value
        or "/." in value
        or value == "@"
    ):
        return "is not a valid git branch name"
    return None


def check_branch(field: str, value: str) -> str:
    problem = branch_problem(value)
    if problem:
        raise Invalid.field(field, problem)
    return value


def check_sha(field: str, value: str) -> str:
    if not _SHA.fullmatch(value):
        raise Invalid.field(field, "must be 7 to 40 lowercase hexadecimal characters")
    return value
