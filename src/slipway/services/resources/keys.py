"""API keys: creation, listing, revocation and authentication.

A key looks like `dor_sk_` + 32 random base62 characters + a 4-character checksum (the first
four base62 digits of the sha256 of the 32 random characters). The checksum lets
`authenticate` reject a mistyped or made-up key without touching the database. Only the sha256
hex of the whole key is stored; the key itself is returned once, at creation, and never logged.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import string

from slipway.domain import names
from slipway.domain.errors import Invalid, NotFound
from slipway.domain.ids import is_id, new_id
from slipway.domain.models import ApiKey, Workspace, utcnow
from slipway.ports import KeyLookup, ScopedStore, Tenants
from slipway.services.platform import Platform

KEY_PREFIX = "dor_sk_"
SECRET_LENGTH = 32
CHECKSUM_LENGTH = 4
SHOWN_PREFIX_LENGTH = len(KEY_PREFIX) + 4
MAX_NAME_LENGTH = 64
_BASE62 = string.digits + string.ascii_uppercase + string.ascii_lowercase
_KEY = re.compile(
    rf"^{KEY_PREFIX}(?P<secret>[0-9A-Za-z]{{{SECRET_LENGTH}}})(?P<check>[0-9A-Za-z]{{{CHECKSUM_LENGTH}}})$"
)
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._-]*$")


def checksum(secret: str) -> str:
    """The first CHECKSUM_LENGTH base62 digits of sha256(secret)."""
    number = int.from_bytes(hashlib.sha256(secret.encode()).digest(), "big")
    digits = []
    for _ in range(CHECKSUM_LENGTH):
        number, rest = divmod(number, 62)
        digits.append(_BASE62[rest])
    return "".join(digits)


def generate_key() -> str:
    secret = "".join(secrets.choice(_BASE62) for _ in range(SECRET_LENGTH))
    return f"{KEY_PREFIX}{secret}{checksum(secret)}"


def is_well_formed(key: str) -> bool:
    """Format and checksum only: no lookup."""
    match = _KEY.fullmatch(key)
    if match is None:
        return False
    return hmac.compare_digest(checksum(match["secret"]), match["check"])


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def check_key_name(name: str) -> str:
    if not (1 <= len(name) <= MAX_NAME_LENGTH and _NAME.fullmatch(name)):
        raise Invalid.field(
            "name",
            f"must be 1-{MAX_NAME_LENGTH} letters, digits, spaces, '.', '_' or '-', "
            "starting with a letter or digit",
        )
    return name


async def _add_key(scoped: ScopedStore, name: str) -> tuple[ApiKey, str]:
    key = generate_key()
    api_key = ApiKey(
        id=new_id("key"),
        workspace_id=scoped.workspace_id,
        name=name,
        prefix=key[:SHOWN_PREFIX_LENGTH],
        key_hash=hash_key(key),
        created_at=utcnow(),
    )
    await scoped.api_keys.create(api_key)
    return api_key, key


async def create_workspace(store: Tenants, name: str) -> tuple[Workspace, str]:
    """A new workspace and its first key, named "default". Conflict on a taken name."""
    names.check_label("name", name)
    workspace = Workspace(id=new_id("ws"), name=name, created_at=utcnow())
    await store.workspaces.create(workspace)
    _, key = await _add_key(store.scoped(workspace.id), "default")
    return workspace, key


async def create_key(platform: Platform, workspace_id: str, name: str) -> tuple[ApiKey, str]:
    """A new key of the workspace; the second value is the key, shown this once."""
    return await add_key(platform.store, workspace_id, name)


async def add_key(store: Tenants, workspace_id: str, name: str) -> tuple[ApiKey, str]:
    """`create_key` for the operator's CLI, which holds a store and no platform."""
    check_key_name(name)
    return await _add_key(store.scoped(workspace_id), name)


async def list_keys(platform: Platform, workspace_id: str) -> list[ApiKey]:
    return await platform.store.scoped(workspace_id).api_keys.list()


async def revoke_key(platform: Platform, workspace_id: str, key_id: str) -> None:
    """Delete the key; it stops working on the next request. NotFound if absent; Conflict
    for the workspace's last key (nothing could make it a new one through the API)."""
    scoped = platform.store.scoped(workspace_id)
    if not is_id(key_id, "key") or not await scoped.api_keys.delete(key_id):
        raise NotFound("API key not found")


def bearer_token(authorization_value: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header value, if it has that shape."""
    if not authorization_value:
        return None
    scheme, _, token = authorization_value.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


async def authenticate(store: KeyLookup, authorization_value: str | None) -> ApiKey | None:
    """The key an `Authorization` header value names, or None when it names no live key."""
    token = bearer_token(authorization_value)
    if token is None or not is_well_formed(token):
        return None
    api_key = await store.find_api_key(hash_key(token))
    if api_key is None:
        return None
    await store.touch_api_key(api_key.id)
    return api_key
