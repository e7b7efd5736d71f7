"""Python: requirements.txt, pyproject.toml, Pipfile, setup.py, main.py or app.py.

Like nixpacks, dependencies go into a virtualenv, but at `/app/.venv` rather than
`/opt/venv`: builds run with the app at `/app`, and the runtime binds the image's app tree at
`/app` too, so the absolute paths inside the venv stay valid. `/app/.venv/bin` comes first on
the sandbox's PATH, so `python` in the start command is the venv's.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from slipway.builder.providers.base import ProviderPlan

_MARKERS = ("requirements.txt", "pyproject.toml", "Pipfile", "setup.py", "main.py", "app.py")
VENV = "/app/.venv"


class PythonProvider:
    name = "python"
    title = "Python"

    def detect(self, app_dir: Path, env: Mapping[str, str]) -> bool:
        return any((app_dir / m).is_file() for m in _MARKERS)

    def plan(self, app_dir: Path, env: Mapping[str, str]) -> ProviderPlan:
        return ProviderPlan(
            packages=["python3", "gcc"],
            install=self._install(app_dir),
            start=self._start(app_dir),
            variables={
                "NIXPACKS_METADATA": "python",
                "PYTHONUNBUFFERED": "1",
                "PYTHONDONTWRITEBYTECODE": "1",
                "PIP_DISABLE_PIP_VERSION_CHECK": "1",
                "PIP_DEFAULT_TIMEOUT": "100",
            },
        )

    @staticmethod
    def _install(app_dir: Path) -> list[str]:
        pip = f"{VENV}/bin/pip install"
        if (app_dir / "requirements.txt").is_file():
            step = f"{pip} -r requirements.txt"
        elif (app_dir / "pyproject.toml").is_file() or (app_dir / "setup.py").is_file():
            step = f"{pip} ."
        elif (app_dir / "Pipfile").is_file():
            pipenv = f"{VENV}/bin/pipenv install --system"
            return [f"python -m venv {VENV}", f"{pip} pipenv", pipenv]
        else:
            return []
        return [f"python -m venv {VENV}", step]

    @staticmethod
    def _start(app_dir: Path) -> str | None:
        for script in ("main.py", "app.py"):
            if (app_dir / script).is_file():
                return f"python {script}"
        return None
