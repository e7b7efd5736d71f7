"""What a provider is: a language detector that proposes the pieces of a build plan.

A provider looks at the checked-out app (and the app's environment, for `NIXPACKS_*`
switches) and never runs anything. `ProviderPlan` holds strings in nixpacks' sense: each
command is run by `sh -c` inside the build sandbox, never on the host.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol


@dataclass
class ProviderPlan:
    packages: list[str] = field(default_factory=list)  # nixPkgs of the setup phase
    install: list[str] = field(default_factory=list)
    build: list[str] = field(default_factory=list)
    start: str | None = None
    variables: dict[str, str] = field(default_factory=dict)


class Provider(Protocol):
    name: str  # as in nixpacks' plan: "python", "node", ...
    title: str  # for the log: "Detected {title} project"

    def detect(self, app_dir: Path, env: Mapping[str, str]) -> bool: ...

    def plan(self, app_dir: Path, env: Mapping[str, str]) -> ProviderPlan: ...


def read_json(path: Path) -> dict[str, Any]:
    """A JSON object from `path`, or {} when it is missing or not an object."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
