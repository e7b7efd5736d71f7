"""Idempotency keys of POST requests (CONTRACT §2).

A POST with an `Idempotency-Key` header is fingerprinted (method, path, body). The first
request with a key claims it in the store and runs; its answer is stored, unless it was a
5xx (the request may not have happened; the client may retry with the same key). A repeat
within 24 hours with the same fingerprint gets the first answer and creates nothing; with
another fingerprint it is a 422; while the first is still running, a 409.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import timedelta

from slipway.domain.errors import Conflict, Invalid
from slipway.domain.models import IdempotencyRecord, StoredResponse, utcnow
from slipway.ports import Tenants

TTL = timedelta(hours=24)
HEADER = "Idempotency-Key"
_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")


def fingerprint(method: str, path: str, body: bytes) -> str:
    digest = hashlib.sha256()
    for part in (method.upper().encode(), path.encode(), body):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


def check_key(key: str) -> str:
    if not _KEY.fullmatch(key):
        raise Invalid.field(HEADER, "must be 1-255 printable ASCII characters without spaces")
    return key


@dataclass(frozen=True)
class Claim:
    """The outcome of `begin`: `replay` is set for a repeat, else the caller runs the request."""

    workspace_id: str
    key: str
    replay: StoredResponse | None = None


async def begin(store: Tenants, *, workspace_id: str, key: str, print_: str) -> Claim:
    """Claim `key` for a request with fingerprint `print_`, or find the answer to replay.

    Invalid for a malformed key or a key used with another request; Conflict while the
    first request with this key is still running."""
    check_key(key)
    now = utcnow()
    record = IdempotencyRecord(workspace_id, key, print_, now)
    repo = store.scoped(workspace_id).idempotency
    found = await repo.claim(record, expired_before=now - TTL)
    if found is None:
        return Claim(workspace_id, key)
    if found.fingerprint != print_:
        raise Invalid.field(HEADER, "was already used with a different request")
    if found.response is None:
        raise Conflict("a request with this Idempotency-Key is still running; retry shortly")
    return Claim(workspace_id, key, replay=found.response)


async def finish(store: Tenants, claim: Claim, response: StoredResponse | None) -> None:
    """Keep the answer (a repeat replays it), or with None forget the key (a 5xx)."""
    repo = store.scoped(claim.workspace_id).idempotency
    if response is None or response.status >= 500:
        await repo.release(claim.key)
    else:
        await repo.complete(claim.key, response)
