"""A running revision's key, `{workspace_id}/{app_id}/{revision}`: how the runtime, the
router, the published replica rows and the metrics name one revision of one app.

Ids and revision names never contain `/` (`domain/ids.py`, `domain/names.py`), so the key
splits back into its three parts without ambiguity.
"""

from __future__ import annotations

from typing import NamedTuple


class RevisionKey(NamedTuple):
    workspace_id: str
    app_id: str
    revision: str


def revision_key(workspace_id: str, app_id: str, revision: str) -> str:
    return f"{workspace_id}/{app_id}/{revision}"


def parse_revision_key(key: str) -> RevisionKey | None:
    """The parts of `key`; None when it is not a revision key."""
    parts = key.split("/")
    if len(parts) != 3 or not all(parts):
        return None
    return RevisionKey(*parts)
