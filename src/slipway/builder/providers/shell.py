"""Shell scripts (railpack's `shell` provider; nixpacks has none): a start.sh.

The last provider: an app that is only a `start.sh` starts with `sh start.sh` (bash when
its first line asks for bash). `NIXPACKS_SHELL_SCRIPT` names another script.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from slipway.builder.providers.base import ProviderPlan, config_var, quote, read_text


def _script(app_dir: Path, env: Mapping[str, str]) -> str:
    return config_var(env, "SHELL_SCRIPT") or "start.sh"


class ShellProvider:
    name = "shell"
    title = "shell script"

    def detect(self, app_dir: Path, env: Mapping[str, str]) -> bool:
        script = _script(app_dir, env)
        inside = not script.startswith("/") and ".." not in Path(script).parts
        return inside and (app_dir / script).is_file()

    def plan(self, app_dir: Path, env: Mapping[str, str]) -> ProviderPlan:
        script = _script(app_dir, env)
        first = read_text(app_dir / script).split("\n", 1)[0]
        interpreter = "bash" if "bash" in first else "sh"
        return ProviderPlan(packages=[interpreter], start=f"{interpreter} {quote(script)}")
