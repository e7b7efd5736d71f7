"""Redaction of env values from text that leaves the platform (logs, errors).

An app's env values are secrets: a build command, a release command or the app itself may
print one, and those lines end up in stored build logs, runtime log files and WebSocket
streams. Every writer of such lines passes them through a `Redactor` built from the env in
force, which replaces each occurrence of any value of at least `MIN_LENGTH` characters with
`REDACTED`.

Design notes:
- Values shorter than `MIN_LENGTH` are left alone: redacting `1` or `on` would shred every
  line while protecting nothing a guesser could not guess.
- One compiled alternation, longest value first, replaced in a single pass: a value that
  contains another is hidden whole, and the marker itself is never rescanned (a value such
  as `dact` does not eat into `[redacted]`).
- Only the literal value is hidden. Encodings of it (base64, URL-quoted) are not: the app
  owns what it prints; this is a safety net against the common accident, not a DLP system.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

REDACTED = "[redacted]"
MIN_LENGTH = 4


def secret_values(env: Mapping[str, str]) -> tuple[str, ...]:
    """The env values worth hiding: distinct, at least `MIN_LENGTH` long, longest first."""
    values = {v for v in env.values() if isinstance(v, str) and len(v) >= MIN_LENGTH}
    return tuple(sorted(values, key=lambda v: (-len(v), v)))


class Redactor:
    """`redactor(text)` is `text` with every secret replaced by `REDACTED`."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self.secrets = secret_values({str(i): s for i, s in enumerate(secrets)})
        self._pattern = (
            re.compile("|".join(re.escape(s) for s in self.secrets)) if self.secrets else None
        )

    @classmethod
    def for_env(cls, *envs: Mapping[str, str]) -> Redactor:
        """A redactor of every value of every env given."""
        return cls(v for env in envs for v in env.values())

    def __bool__(self) -> bool:
        return self._pattern is not None

    def __call__(self, text: str) -> str:
        if self._pattern is None:
            return text
        return self._pattern.sub(REDACTED, text)


def redact(text: str, env: Mapping[str, str]) -> str:
    """`text` without any value of `env` (of at least `MIN_LENGTH` characters)."""
    return Redactor.for_env(env)(text)
