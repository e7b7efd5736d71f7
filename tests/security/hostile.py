"""Hostile strings: option injection, shell syntax, control characters, huge values and
Unicode look-alikes, each aimed at a marker file that must never appear.

Every string `hostile_strings()` makes is invalid for every field it is thrown at (each holds
a space, a control character, a shell metacharacter, a leading '-', '..', a non-ASCII
look-alike, or is 10 kB long), so the right answer is always a 4xx.
"""

from __future__ import annotations

import tempfile
import uuid
from pathlib import Path

from hypothesis import strategies as st

MARKER = Path(tempfile.gettempdir()) / f"slipway-pwned-{uuid.uuid4().hex}"
_M = str(MARKER)

PAYLOADS = [
    f"--upload-pack=touch {_M}",
    f"--upload-pack=touch${{IFS}}{_M}",
    f"-oProxyCommand=touch {_M}",
    f"$(touch {_M})",
    f"`touch {_M}`",
    f"x;touch {_M}",
    f"x && touch {_M}",
    f"x|touch {_M}",
    f"x\ntouch {_M}",
    f"x\r\nX-Injected: {_M}",
    "x\x00y",
    f"ext::sh -c touch% {_M}",
    "../../../../etc/passwd",
    "main/../../etc",
    "a" * 10_000,
    "\u043c\u0443-app",  # Cyrillic look-alike of "my-app"
    "\uff4d\uff59-\uff41\uff50\uff50",  # fullwidth "my-app"
    "my\u2010app",  # Unicode hyphen
    "my-app\u202e",  # right-to-left override
    "my\u200bapp",  # zero-width space
    "x%0atouch%20" + _M,
]
_AROUND = ["", "main", "my-app", "feature/"]


@st.composite
def _embedded(draw: st.DrawFn) -> str:
    payload = draw(st.sampled_from(PAYLOADS))
    return draw(st.sampled_from(_AROUND)) + payload + draw(st.sampled_from(["", "x", ".git"]))


def hostile_strings() -> st.SearchStrategy[str]:
    return st.sampled_from(PAYLOADS) | _embedded()


def ascii_printable(value: str) -> bool:
    """Whether `value` can travel in an HTTP header at all."""
    return value.isascii() and value.isprintable()
