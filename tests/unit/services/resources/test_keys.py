"""Key format: prefix, base62 secret, checksum; a malformed key needs no lookup."""

from __future__ import annotations

import hashlib
import re

from slipway.services.resources import keys


def test_generated_keys_are_well_formed_and_distinct() -> None:
    made = {keys.generate_key() for _ in range(50)}
    assert len(made) == 50
    for key in made:
        assert re.fullmatch(r"dor_sk_[0-9A-Za-z]{36}", key)
        assert keys.is_well_formed(key)


def test_checksum_catches_a_changed_character() -> None:
    key = keys.generate_key()
    flipped = key[:10] + ("A" if key[10] != "A" else "B") + key[11:]
    assert not keys.is_well_formed(flipped)
    assert not keys.is_well_formed(key + "x")
    assert not keys.is_well_formed(key.replace("dor_sk_", "dor_pk_"))


def test_hash_is_sha256_hex_of_the_whole_key() -> None:
    key = keys.generate_key()
    assert keys.hash_key(key) == hashlib.sha256(key.encode()).hexdigest()


def test_bearer_token() -> None:
    assert keys.bearer_token("Bearer abc") == "abc"
    assert keys.bearer_token("bearer  abc ") == "abc"
    assert keys.bearer_token("Basic abc") is None
    assert keys.bearer_token("Bearer") is None
    assert keys.bearer_token(None) is None
