"""Python (nixpacks' `providers/python.rs`): main.py, requirements.txt, pyproject.toml, Pipfile.

The package manager: `NIXPACKS_PYTHON_PACKAGE_MANAGER` when set, else requirements.txt →
pip, pyproject.toml with poetry.lock / pdm.lock / uv.lock → poetry / pdm / uv, pyproject.toml
(or setup.py) alone → `pip install .`, Pipfile → pipenv. Each install is nixpacks' one
command: create the venv, activate it, install.

The venv lives at `/app/.venv` rather than nixpacks' `/opt/venv`: builds run with the app at
`/app`, and the runtime binds the image's app tree at `/app` too, so the absolute paths inside
the venv stay valid. `/app/.venv/bin` comes first on the sandbox's PATH.

Start, in order: Django (manage.py and a django dependency) with gunicorn → `python manage.py
migrate && gunicorn <WSGI module>`, as nixpacks; a main.py that runs itself (`__main__`) →
`python main.py`; a FastAPI or Flask `app` object in main.py/app.py → uvicorn / gunicorn on
`$PORT`, but only when that server is a listed dependency (requirements.txt, pyproject.toml,
Pipfile; `fastapi[standard]` and `fastapi[all]` bring uvicorn). Otherwise the provider
guesses, and says so in the plan's notes: Django or Flask without gunicorn runs on its
development server, FastAPI without uvicorn runs its file as nixpacks would (`python
main.py`); then any main.py runs (no note: that is what a main.py is for); else the
project's one console script (`[project.scripts]`, setup.cfg/setup.py `console_scripts`), else
nixpacks' `python -m <package, module or project name>`. A Procfile, nixpacks.toml or the
app's start command replaces any of these.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from pathlib import Path

from slipway.builder.providers.base import (
    ProviderPlan,
    config_var,
    glob_files,
    has,
    present,
    read_text,
)

VENV = "/app/.venv"
PIP_CACHE = "/root/.cache/pip"
_CREATE = f"python -m venv --copies {VENV} && . {VENV}/bin/activate"
_INSTALLS = {
    "requirements": f"{_CREATE} && pip install -r requirements.txt",
    "setuptools": f"{_CREATE} && pip install --upgrade build setuptools && pip install .",
    "poetry": f"{_CREATE} && pip install poetry==$NIXPACKS_POETRY_VERSION"
    " && poetry install --no-dev --no-interaction --no-ansi",
    "pdm": f"{_CREATE} && pip install pdm==$NIXPACKS_PDM_VERSION && pdm install --prod",
    "uv": f"{_CREATE} && pip install uv==$NIXPACKS_UV_VERSION && uv sync --no-dev --frozen",
    "pipenv": f"{_CREATE} && PIPENV_VENV_IN_PROJECT=1 pipenv install --skip-lock",
}
_CACHES = {"uv": ["/root/.cache/uv"], "pdm": [PIP_CACHE, "/root/.cache/pdm"]}
_INPUTS = {
    "requirements": ("requirements.txt",),
    "poetry": ("pyproject.toml", "poetry.lock"),
    "pdm": ("pyproject.toml", "pdm.lock"),
    "uv": ("pyproject.toml", "uv.lock", ".python-version"),
    "pipenv": ("Pipfile", "Pipfile.lock"),
}
_LOCK_VARIABLES = {
    "poetry.lock": {"NIXPACKS_POETRY_VERSION": "1.3.1"},
    "pdm.lock": {"NIXPACKS_PDM_VERSION": "2.13.3"},
    "uv.lock": {"NIXPACKS_UV_VERSION": "0.4.30", "UV_PROJECT_ENVIRONMENT": VENV},
}
VARIABLES = {
    "PYTHONFAULTHANDLER": "1",
    "PYTHONUNBUFFERED": "1",
    "PYTHONHASHSEED": "random",
    "PYTHONDONTWRITEBYTECODE": "1",
    "PIP_DISABLE_PIP_VERSION_CHECK": "1",
    "PIP_DEFAULT_TIMEOUT": "100",
}
_WSGI = re.compile(r"""WSGI_APPLICATION\s*=\s*["']([\w.]+)\.application["']""")


def package_manager(app_dir: Path, env: Mapping[str, str]) -> str | None:
    chosen = (config_var(env, "PYTHON_PACKAGE_MANAGER") or "auto").lower()
    if chosen == "skip":
        return None
    if chosen in _INSTALLS:
        return chosen
    if has(app_dir, "requirements.txt"):
        return "requirements"
    if has(app_dir, "pyproject.toml"):
        for lock, pm in (("poetry.lock", "poetry"), ("pdm.lock", "pdm"), ("uv.lock", "uv")):
            if has(app_dir, lock):
                return pm
        return "setuptools"
    if has(app_dir, "Pipfile"):
        return "pipenv"
    if has(app_dir, "setup.py"):
        return "setuptools"
    return None


def uses_dep(app_dir: Path, dep: str) -> bool:
    return any(
        dep in read_text(app_dir / f).lower()
        for f in ("requirements.txt", "pyproject.toml", "Pipfile")
    )


class PythonProvider:
    name = "python"
    title = "Python"

    def detect(self, app_dir: Path, env: Mapping[str, str]) -> bool:
        return has(app_dir, "main.py", "requirements.txt", "pyproject.toml", "Pipfile", "setup.py")

    def plan(self, app_dir: Path, env: Mapping[str, str]) -> ProviderPlan:
        pm = package_manager(app_dir, env)
        install = _INSTALLS[pm] if pm else None
        if pm == "pipenv" and has(app_dir, "Pipfile.lock"):
            install = f"{_CREATE} && PIPENV_VENV_IN_PROJECT=1 pipenv install --deploy"
        variables = dict(VARIABLES)
        for lock, extra in _LOCK_VARIABLES.items():
            if has(app_dir, lock):
                variables.update(extra)
        django = has(app_dir, "manage.py") and uses_dep(app_dir, "django")
        postgres = uses_dep(app_dir, "psycopg")
        flags = [("django", django), ("postgres", postgres)]
        flags += [("poetry", has(app_dir, "poetry.lock")), ("pdm", has(app_dir, "pdm.lock"))]
        start, guess = self._start(app_dir, django=django)
        return ProviderPlan(
            packages=["python3", "gcc"] + (["pipenv"] if pm == "pipenv" else []),
            install=[install] if install else [],
            start=start,
            guess=guess,
            variables=variables,
            install_cache=_CACHES.get(pm or "", [PIP_CACHE]) if pm else [],
            install_inputs=present(app_dir, _INPUTS[pm]) if pm in _INPUTS else None,
            metadata=[m for m, on in flags if on],
        )

    @staticmethod
    def _start(app_dir: Path, *, django: bool) -> tuple[str | None, str | None]:
        """The start command, and why it is a guess (None when the app names it)."""
        if django and uses_dep(app_dir, "gunicorn"):
            return f"python manage.py migrate && gunicorn {_wsgi_module(app_dir)}", None
        if django:
            return "python manage.py migrate && python manage.py runserver 0.0.0.0:${PORT:-8000}", (
                "start command guessed: Django's development server, as no gunicorn is in the "
                "dependencies; add gunicorn or a Procfile to choose"
            )
        main = read_text(app_dir / "main.py")
        if has(app_dir, "main.py") and _RUNS_ITSELF.search(main):
            return "python main.py", None
        web = _web_entry(app_dir)
        if web:
            return web
        if has(app_dir, "main.py"):
            return "python main.py", None
        return _project_entry(app_dir)


_RUNS_ITSELF = re.compile(r"^if\s.*__main__", re.M)
_FLASK = re.compile(r"^app\s*=\s*(?:flask\.)?Flask\(", re.M)
_FASTAPI = re.compile(r"^app\s*=\s*(?:fastapi\.)?FastAPI\(", re.M)
_NO_SERVER = (
    "start command guessed: {module}.py defines a {framework} app but runs nothing and no "
    "{server} is in the dependencies; add {server} or a Procfile to choose"
)


def _wsgi_module(app_dir: Path) -> str:
    for path in glob_files(app_dir, "**/*.py"):
        found = _WSGI.search(read_text(path))
        if found:
            return found.group(1)
    return f"{app_dir.name}.wsgi"


def _web_entry(app_dir: Path) -> tuple[str, str | None] | None:
    """uvicorn for a FastAPI `app`, gunicorn for a Flask `app` (main.py, then app.py), when
    that server is a dependency; else the guess for that app, with its note."""
    servers = ("uvicorn", "fastapi[standard]", "fastapi[all]")
    uvicorn = any(uses_dep(app_dir, dep) for dep in servers)
    gunicorn = uses_dep(app_dir, "gunicorn")
    for module in ("main", "app"):
        text = read_text(app_dir / f"{module}.py")
        if _FASTAPI.search(text):
            if uvicorn:
                return f"uvicorn {module}:app --host 0.0.0.0 --port ${{PORT:-8000}}", None
            note = _NO_SERVER.format(module=module, framework="FastAPI", server="uvicorn")
            return f"python {module}.py", note
        if _FLASK.search(text):
            if gunicorn:
                return f"gunicorn --bind 0.0.0.0:${{PORT:-8000}} {module}:app", None
            return (
                f"FLASK_APP={module}:app flask run --host 0.0.0.0 --port ${{PORT:-8000}}",
                "start command guessed: flask's development server, as no gunicorn is in "
                "the dependencies; add gunicorn or a Procfile to choose",
            )
    return None


_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")
_SETUP_SCRIPT = re.compile(r"""console_scripts["']?\s*[:=]\s*\[?\s*["']?\s*([A-Za-z0-9_.-]+)\s*=""")


def _project_entry(app_dir: Path) -> tuple[str | None, str | None]:
    """The project's one console script, else nixpacks' `python -m <module>`; both guesses."""
    try:
        project = tomllib.loads(read_text(app_dir / "pyproject.toml")).get("project", {})
    except tomllib.TOMLDecodeError:
        project = {}
    project = project if isinstance(project, dict) else {}
    scripts = project.get("scripts")
    names = sorted(scripts) if isinstance(scripts, dict) else []
    if not names:
        for setup in ("setup.cfg", "setup.py"):
            found = _SETUP_SCRIPT.search(read_text(app_dir / setup))
            if found:
                names = [found.group(1)]
                break
    if len(names) == 1 and _NAME.fullmatch(names[0]):
        return names[0], (
            f"start command guessed: the project's console script `{names[0]}`; "
            "add a Procfile to choose"
        )
    module = project.get("name")  # nixpacks: the first package, else module, else the name
    for key in ("py-modules", "packages"):
        items = project.get(key)
        if isinstance(items, list) and items and isinstance(items[0], str):
            module = items[0]
    if isinstance(module, str) and _NAME.fullmatch(module):
        return f"python -m {module}", _AS_MODULE.format(name=module)
    return None, None


_AS_MODULE = (
    "start command guessed: runs `{name}` as a module (python -m), as nixpacks does; "
    "add a Procfile to choose"
)
