"""Env values encrypted at rest: `EnvCipher` seals an env dict into an opaque text column.

The database never holds an env value in clear: `apps.env` and `revisions.env` hold
`enc:v1:` + a Fernet token (AES-128-CBC + HMAC-SHA256, from the `cryptography` package) of
the env as JSON. The key lives outside the database:
- `SLIPWAY_SECRET_KEY`, one or more Fernet keys separated by commas (the first encrypts,
  all decrypt: rotation is "prepend the new key, restart, re-save"), or
- a key file created on first start with mode 0600 (`load_cipher`; the composition root puts
  it in the data directory, which no sandboxed app can see).

A stored value without the prefix is a row written before encryption existed (plain JSON
text): it is still read, and `SqlStore.migrate` seals such rows in place.

Errors never include a value or a key: a wrong key says which setting to check, nothing more.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
from collections.abc import Mapping
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

PREFIX = "enc:v1:"
KEY_ENV = "SLIPWAY_SECRET_KEY"


class SealError(Exception):
    """A sealed value could not be opened (wrong key) or a key is malformed."""


class EnvCipher:
    """Seals env dicts with the first of `keys`; opens with any of them."""

    def __init__(self, keys: list[bytes]) -> None:
        if not keys:
            raise SealError("at least one key is needed")
        try:
            self._fernet = MultiFernet([Fernet(k) for k in keys])
        except (ValueError, TypeError):
            raise SealError(
                f"{KEY_ENV} (or the key file) must hold Fernet keys: 32 url-safe base64 bytes, "
                "comma-separated; make one with `python -c 'from cryptography.fernet import "
                "Fernet; print(Fernet.generate_key().decode())'`"
            ) from None

    @classmethod
    def from_setting(cls, value: str) -> EnvCipher:
        return cls([k.strip().encode() for k in value.split(",") if k.strip()])

    @staticmethod
    def is_sealed(stored: str) -> bool:
        return stored.startswith(PREFIX)

    def seal(self, env: Mapping[str, str]) -> str:
        plain = json.dumps(dict(env), sort_keys=True, ensure_ascii=False).encode()
        return PREFIX + self._fernet.encrypt(plain).decode("ascii")

    def seal_bytes(self, data: bytes) -> bytes:
        """Any bytes (a stored API answer), sealed the same way."""
        return PREFIX.encode() + self._fernet.encrypt(data)

    def open_bytes(self, stored: bytes) -> bytes:
        """What `seal_bytes` sealed; bytes stored in clear before it existed pass as they are."""
        if not stored.startswith(PREFIX.encode()):
            return stored
        try:
            return self._fernet.decrypt(stored[len(PREFIX) :])
        except InvalidToken:
            raise SealError(f"a stored answer cannot be decrypted: check {KEY_ENV}") from None

    def open(self, stored: str | Mapping[str, str]) -> dict[str, str]:
        """The env of a stored value: sealed, or a legacy plaintext row (JSON text or dict)."""
        if isinstance(stored, Mapping):
            return dict(stored)
        if not self.is_sealed(stored):
            return dict(json.loads(stored))
        try:
            plain = self._fernet.decrypt(stored[len(PREFIX) :].encode("ascii"))
        except InvalidToken:
            raise SealError(
                f"a stored env cannot be decrypted: is {KEY_ENV} (or the key file) the key "
                "this database was written with?"
            ) from None
        return dict(json.loads(plain))


@functools.cache
def process_cipher() -> EnvCipher:
    """A key generated for this process only: what a `SqlStore` built without a cipher uses
    (tests, tools). What it seals no other process can open; `bootstrap` always passes one."""
    return EnvCipher([Fernet.generate_key()])


def load_cipher(*, setting: str | None, key_file: Path) -> EnvCipher:
    """The cipher from `setting` (`SLIPWAY_SECRET_KEY`) if given, else from `key_file`,
    created with mode 0600 on first use (exclusively: two starting processes agree)."""
    if setting:
        return EnvCipher.from_setting(setting)
    if not key_file.exists():
        _create_key_file(key_file)
    return EnvCipher.from_setting(key_file.read_text(encoding="ascii"))


def _create_key_file(key_file: Path) -> None:
    """Write a new key to a private temporary file, then link it into place: a reader never
    sees a half-written key, and of two racing processes the first link wins."""
    key_file.parent.mkdir(parents=True, exist_ok=True)
    tmp = key_file.with_name(f".{key_file.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(Fernet.generate_key() + b"\n")
            f.flush()
            os.fsync(f.fileno())
        with contextlib.suppress(FileExistsError):
            os.link(tmp, key_file)
    finally:
        tmp.unlink(missing_ok=True)
