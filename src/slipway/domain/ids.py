"""Object ids: a type prefix plus a lowercase ULID (`dep_01hx...`)."""

from __future__ import annotations

import re

from ulid import ULID

PREFIXES = ("ws", "app", "dep", "key", "dom")
_ID = re.compile(r"^(ws|app|dep|key|dom)_[0-9a-hjkmnp-tv-z]{26}$")


def new_id(prefix: str) -> str:
    if prefix not in PREFIXES:
        raise ValueError(f"unknown id prefix {prefix!r}")
    return f"{prefix}_{str(ULID()).lower()}"


def is_id(value: str, prefix: str) -> bool:
    """True when `value` is a well-formed id of that kind (cheap check before any lookup)."""
    return bool(_ID.fullmatch(value)) and value.startswith(prefix + "_")
