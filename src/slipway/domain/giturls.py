"""Which repository URLs an app may name. Anything else never reaches git."""

from __future__ import annotations

import re

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


def check_git_url(field: str, value: str, *, allow_local: bool) -> str:
    """Accept https/http/ssh URLs and scp-like `git@host:path`; local ones only when allowed."""
    if len(value) > 2000 or any(ord(c) < 0x20 or c == "\x7f" for c in value):
        raise Invalid.field(field, "must be a single line of at most 2000 characters")
    if value.startswith("-"):
        raise Invalid.field(field, "must not start with '-'")
    if _ENCODED_CONTROL.search(value):
        raise Invalid.field(field, "must not contain percent-encoded control characters")
    if _REMOTE.fullmatch(value) or _SCP.fullmatch(value):
        return value
    if value.startswith("file://"):
        path = value[len("file://") :]
        if allow_local and _LOCAL_PATH.fullmatch(path) and "/../" not in path + "/":
            return value
    elif allow_local and _LOCAL_PATH.fullmatch(value) and "/../" not in value + "/":
        return value
    if not allow_local and (value.startswith(("/", "file://"))):
        raise Invalid.field(field, "local repositories are not allowed on this server")
    raise Invalid.field(
        field, "must be an https://, http://, ssh:// or git@host:path repository URL"
    )
