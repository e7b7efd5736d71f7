"""Which repository URLs an app may name. Anything else never reaches git.

Local repositories (an absolute path, or `file://`) are for one operator on their own
machine: off unless the operator names the directories they may come from (`LocalRepos.roots`,
`SLIPWAY_LOCAL_GIT_ROOTS`) or allows any path (`anywhere`, `SLIPWAY_ALLOW_LOCAL_GIT=1`), and
never inside a `forbidden` directory (Slipway's data directory: other tenants' git caches
and images live there). These checks are lexical; the git source checks the path again
after resolving its links.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass

from slipway.domain.errors import Invalid

# No shell metacharacters anywhere (`$ ( ) ; & ' ! * ,` are legal in URLs but never needed
# in a repository's), and a user or host never starts with '-' (ssh would read an option).
_REMOTE = re.compile(
    r"^(https?|ssh)://"  # scheme
    r"([A-Za-z0-9_~%+][A-Za-z0-9._~%+-]*(:[A-Za-z0-9._~%+-]*)?@)?"  # optional userinfo
    r"[A-Za-z0-9][A-Za-z0-9.-]*(:[0-9]{1,5})?"  # host and port
    r"(/[A-Za-z0-9._~%+:@/-]*)?$"  # path
)
_SCP = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]*@[A-Za-z0-9][A-Za-z0-9.-]*:[A-Za-z0-9._~/-]+$")
# Percent-encoded control characters (%00-%1f, %7f): git would decode some of them.
_ENCODED_CONTROL = re.compile(r"%([01][0-9a-fA-F]|7[fF])")
_LOCAL_PATH = re.compile(r"^/[A-Za-z0-9._~/ +-]*$")


@dataclass(frozen=True)
class LocalRepos:
    """Where local repositories may come from."""

    roots: tuple[str, ...] = ()  # absolute directories
    anywhere: bool = False
    forbidden: tuple[str, ...] = ()  # never, whatever the rest says

    @property
    def enabled(self) -> bool:
        return self.anywhere or bool(self.roots)

    def refusal(self, path: str) -> str | None:
        """Why the absolute `path` may not be used, or None when it may."""
        clean = posixpath.normpath(path)
        if not self.enabled:
            return "local repositories are not allowed on this server"
        if any(_within(clean, d) for d in self.forbidden):
            return "must not point inside Slipway's own data directory"
        if not self.anywhere and not any(_within(clean, d) for d in self.roots):
            return "local repositories must be under a directory the operator allows"
        return None


NO_LOCAL = LocalRepos()


def _within(path: str, directory: str) -> bool:
    directory = posixpath.normpath(directory)
    return path == directory or path.startswith(directory.rstrip("/") + "/")


def local_path(url: str) -> str | None:
    """The filesystem path of a local repository URL, None for a remote one."""
    if url.startswith("file://"):
        return url[len("file://") :]
    return url if url.startswith("/") else None


def check_git_url(field: str, value: str, *, local: LocalRepos = NO_LOCAL) -> str:
    """Accept https/http/ssh URLs and scp-like `git@host:path`; local ones where `local`
    allows them."""
    if len(value) > 2000 or any(ord(c) < 0x20 or c == "\x7f" for c in value):
        raise Invalid.field(field, "must be a single line of at most 2000 characters")
    if value.startswith("-"):
        raise Invalid.field(field, "must not start with '-'")
    if _ENCODED_CONTROL.search(value):
        raise Invalid.field(field, "must not contain percent-encoded control characters")
    if _REMOTE.fullmatch(value) or _SCP.fullmatch(value):
        return value
    path = local_path(value)
    if path is not None:
        if not _LOCAL_PATH.fullmatch(path) or "/../" in path + "/":
            raise Invalid.field(
                field, "must be an absolute path without '..' or unusual characters"
            )
        refusal = local.refusal(path)
        if refusal is not None:
            raise Invalid.field(field, refusal)
        return value
    raise Invalid.field(
        field,
        "must be an https://, http://, ssh:// or git@host:path repository URL, or an "
        "absolute local path (file:///... or /...) where the operator allows local repositories",
    )
