"""Providers against nixpacks: the provider, install, build and start commands per sample app.

The expected values are nixpacks' own (its `tests/snapshots/generate_plan_tests__*.snap`
for the matching example), with the documented differences of docs/builds.md applied:
the venv at `/app/.venv` instead of `/opt/venv`, and static sites served by Python's
`http.server` instead of nginx.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from slipway.builder.plan import make_plan
from slipway.builder.providers import detect, python
from slipway.domain.errors import DeployFailed

APPS = Path(__file__).resolve().parents[2] / "fixtures" / "apps"
VENV = "python -m venv --copies /app/.venv && . /app/.venv/bin/activate"

NIXPACKS = {
    # fixture: (provider, install cmds, build cmds, start cmd)
    "node-build": ("node", ["npm ci"], ["npm run build"], None),
    "node-plain": ("node", ["npm i"], ["npm run build"], "npm run start"),
    "node-yarn": (
        "node",
        ["yarn install --frozen-lockfile"],
        ["yarn run build"],
        "yarn run start",
    ),
    "node-pnpm": ("node", ["pnpm i --frozen-lockfile"], [], "node server.js"),
    "node-bun": ("node", ["bun i --no-save"], [], "bun index.ts"),
    "python-plain": ("python", [], [], "python main.py"),
    "python-reqs": ("python", [f"{VENV} && pip install -r requirements.txt"], [], "python app.py"),
    "python-poetry": (
        "python",
        [
            f"{VENV} && pip install poetry==$NIXPACKS_POETRY_VERSION"
            " && poetry install --no-dev --no-interaction --no-ansi"
        ],
        [],
        "python main.py",
    ),
    "python-uv": (
        "python",
        [f"{VENV} && pip install uv==$NIXPACKS_UV_VERSION && uv sync --no-dev --frozen"],
        [],
        "python main.py",
    ),
    "python-django": (
        "python",
        [f"{VENV} && pip install -r requirements.txt"],
        [],
        "python manage.py migrate && gunicorn mysite.wsgi",
    ),
    "go-mod": ("go", ["go mod download"], ["go build -o out"], "./out"),
    "deno": ("deno", [], ["deno cache src/index.ts"], "deno run --allow-all src/index.ts"),
    "rust-bin": (
        "rust",
        [],
        ["mkdir -p bin", "cargo build --release", "cp target/release/rust-bin bin"],
        "./bin/rust-bin",
    ),
    "ruby-rack": ("ruby", ["bundle install"], [], "bundle exec rackup config.ru -p ${PORT:-3000}"),
    "java-maven": (
        "java",
        [],
        [
            "mvn -DoutputFile=target/mvn-dependency-list.log -B -DskipTests clean "
            "dependency:list install"
        ],
        "java -Dserver.port=$PORT $JAVA_OPTS -jar target/*jar",
    ),
}


@pytest.mark.parametrize("name", sorted(NIXPACKS))
def test_matches_nixpacks(name: str) -> None:
    provider, install, build, start = NIXPACKS[name]
    plan = make_plan(APPS / name, env={})
    assert plan["variables"]["NIXPACKS_METADATA"].split(",")[0] == provider
    assert plan["phases"]["install"]["cmds"] == install
    assert plan["phases"]["build"]["cmds"] == build
    assert plan["start"]["cmd"] == start


def test_cache_directories_and_install_inputs() -> None:
    node = make_plan(APPS / "node-build", env={})["phases"]
    assert node["install"]["cacheDirectories"] == ["/root/.npm"]
    assert node["install"]["onlyIncludeFiles"] == ["package.json", "package-lock.json"]
    assert node["build"]["cacheDirectories"] == ["node_modules/.cache"]
    py = make_plan(APPS / "python-reqs", env={})["phases"]
    assert py["install"]["cacheDirectories"] == ["/root/.cache/pip"]
    assert py["install"]["onlyIncludeFiles"] == ["requirements.txt"]
    go = make_plan(APPS / "go-mod", env={})["phases"]
    assert go["build"]["cacheDirectories"] == ["/root/.cache/go-build"]


def test_python_variables_follow_the_lockfile() -> None:
    poetry = make_plan(APPS / "python-poetry", env={})["variables"]
    assert poetry["NIXPACKS_POETRY_VERSION"] == "1.3.1"
    assert poetry["NIXPACKS_METADATA"] == "python,poetry"
    uv = make_plan(APPS / "python-uv", env={})["variables"]
    assert uv["UV_PROJECT_ENVIRONMENT"] == "/app/.venv"
    assert "NIXPACKS_POETRY_VERSION" not in uv


@pytest.mark.parametrize(
    ("files", "start"),
    [
        ({"main.py": "from flask import Flask\napp = Flask(__name__)\n"},
         "gunicorn --bind 0.0.0.0:${PORT:-8000} main:app"),
        ({"requirements.txt": "", "app.py": "import fastapi\napp = fastapi.FastAPI()\n"},
         "uvicorn app:app --host 0.0.0.0 --port ${PORT:-8000}"),
        ({"main.py": "app = FastAPI()\nif __name__ == '__main__':\n    run()\n"},
         "python main.py"),
        ({"pyproject.toml": "[project]\nname = 'tool'\n"}, "python -m tool"),
        ({"pyproject.toml": "[project]\nname = 'my-tool'\n"}, None),
        ({"Pipfile": "[packages]\n"}, None),
    ],
)  # fmt: skip
def test_python_start(tmp_path: Path, files: dict[str, str], start: str | None) -> None:
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    provider = detect(tmp_path, {})
    assert provider is not None and provider.name == "python"
    assert provider.plan(tmp_path, {}).start == start


@pytest.mark.parametrize(
    ("files", "manager"),
    [
        ({"requirements.txt": "", "pyproject.toml": "", "poetry.lock": ""}, "requirements"),
        ({"pyproject.toml": "", "pdm.lock": ""}, "pdm"),
        ({"pyproject.toml": ""}, "setuptools"),
        ({"Pipfile": ""}, "pipenv"),
        ({"setup.py": ""}, "setuptools"),
        ({"main.py": ""}, None),
    ],
)
def test_python_package_manager(tmp_path: Path, files: dict[str, str], manager: str) -> None:
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    assert python.package_manager(tmp_path, {}) == manager


def test_python_package_manager_from_env(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("")
    env = {"NIXPACKS_PYTHON_PACKAGE_MANAGER": "skip"}
    assert make_plan(tmp_path, env=env, start_cmd="x")["phases"]["install"]["cmds"] == []
    env = {"NIXPACKS_PYTHON_PACKAGE_MANAGER": "pipenv"}
    assert (
        "pipenv install"
        in make_plan(tmp_path, env=env, start_cmd="x")["phases"]["install"]["cmds"][0]
    )


def test_node_package_manager_field_and_corepack(tmp_path: Path) -> None:
    (tmp_path / "package.json").write_text(json.dumps({"packageManager": "pnpm@9.1.0"}))
    (tmp_path / "index.js").write_text("")
    plan = make_plan(tmp_path, env={})
    assert plan["phases"]["install"]["cmds"] == [
        "npm install -g corepack@0.24.1 && corepack enable",
        "pnpm i --frozen-lockfile",
    ]
    assert plan["phases"]["setup"]["nixPkgs"] == ["nodejs_20", "pnpm-9_x"]
    (tmp_path / ".yarnrc.yml").write_text("")
    (tmp_path / "package.json").write_text(json.dumps({"packageManager": "yarn@4.0.0"}))
    assert make_plan(tmp_path, env={})["phases"]["install"]["cmds"][-1] == (
        "yarn install --check-cache"
    )


def test_node_without_entry_has_no_start(tmp_path: Path) -> None:
    (tmp_path / "package.json").write_text(json.dumps({"main": "missing.js"}))
    assert make_plan(tmp_path, env={})["start"]["cmd"] is None


@pytest.mark.parametrize(
    ("files", "build", "start"),
    [
        ({"go.mod": "module x\n", "cmd/api/main.go": ""}, "go build -o out ./cmd/api", "./out"),
        ({"main.go": ""}, "go build -o out main.go", "./out"),
    ],
)
def test_go_layouts(tmp_path: Path, files: dict[str, str], build: str, start: str) -> None:
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    plan = make_plan(tmp_path, env={})
    assert plan["phases"]["build"]["cmds"] == [build] and plan["start"]["cmd"] == start
    env = {"NIXPACKS_GO_BIN": "worker"}
    assert make_plan(tmp_path, env=env)["phases"]["build"]["cmds"] == [
        "go build -o out ./cmd/worker"
    ]


def test_deno_detection_by_import_and_start_task(tmp_path: Path) -> None:
    (tmp_path / "server.ts").write_text(
        'import { serve } from "https://deno.land/std/http/mod.ts";\n'
    )
    found = detect(tmp_path, {})
    assert found is not None and found.name == "deno"
    (tmp_path / "deno.jsonc").write_text('// c\n{"tasks": {"start": "deno run -A server.ts"}}\n')
    assert make_plan(tmp_path, env={})["start"]["cmd"] == "deno run -A server.ts"


@pytest.mark.parametrize(
    ("files", "provider", "start"),
    [
        ({"Staticfile": "root: site\n"}, "staticfile",
         "python3 -m http.server ${PORT:-80} --bind 0.0.0.0 --directory site"),
        ({"index.html": ""}, "staticfile",
         "python3 -m http.server ${PORT:-80} --bind 0.0.0.0 --directory ."),
        ({"composer.json": "{}", "public/index.php": ""}, "php",
         "php -S 0.0.0.0:${PORT:-80} -t public"),
        ({"Gemfile": "gem 'rails'", "config/application.rb": "", "rails": ""}, "ruby",
         "bundle exec rails server -b 0.0.0.0 -p ${PORT:-3000}"),
        ({"gradlew": "", "build.gradle": ""}, "java",
         "java $JAVA_OPTS -jar $(ls -1 build/libs/*jar | grep -v plain)"),
        ({"start.sh": "echo hi\n"}, "shell", "sh start.sh"),
    ],
)  # fmt: skip
def test_other_providers(tmp_path: Path, files: dict[str, str], provider: str, start: str) -> None:
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    plan = make_plan(tmp_path, env={})
    assert plan["providers"] == [provider]
    assert plan["start"]["cmd"] == start


def test_staticfile_root_from_env(tmp_path: Path) -> None:
    (tmp_path / "index.html").write_text("")
    env = {"NIXPACKS_STATICFILE_ROOT": "my site"}
    assert make_plan(tmp_path, env=env)["start"]["cmd"].endswith("--directory 'my site'")


def test_shell_script_cannot_leave_the_app(tmp_path: Path) -> None:
    (tmp_path / "app").mkdir()
    (tmp_path / "start.sh").write_text("")
    assert detect(tmp_path / "app", {"NIXPACKS_SHELL_SCRIPT": "../start.sh"}) is None


def test_nixpacks_json_and_cache_overrides(tmp_path: Path) -> None:
    (tmp_path / "main.py").write_text("")
    (tmp_path / "requirements.txt").write_text("")
    config = {
        "phases": {"install": {"cacheDirectories": ["...", "/root/.extra"]}},
        "start": {"cmd": "python -m app"},
    }
    (tmp_path / "nixpacks.json").write_text(json.dumps(config))
    env = {"NIXPACKS_BUILD_CACHE_DIRS": "a,b"}
    plan = make_plan(tmp_path, env=env)
    assert plan["phases"]["install"]["cacheDirectories"] == ["/root/.cache/pip", "/root/.extra"]
    assert plan["phases"]["build"]["cacheDirectories"] == ["a", "b"]
    assert plan["start"]["cmd"] == "python -m app"
    assert plan["phases"]["install"]["onlyIncludeFiles"] == ["requirements.txt"]


def test_replaced_install_is_never_reused(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("")
    plan = make_plan(tmp_path, env={}, install_cmd="pip install -r other.txt", start_cmd="x")
    assert "onlyIncludeFiles" not in plan["phases"]["install"]
    plan = make_plan(tmp_path, env={"NIXPACKS_INSTALL_CMD": "make deps"}, start_cmd="x")
    assert "onlyIncludeFiles" not in plan["phases"]["install"]


@pytest.mark.parametrize(
    ("name", "text", "env", "message"),
    [
        ("nixpacks.json", "{not json", {}, r"nixpacks\.json is not valid JSON"),
        ("nixpacks.json", "[1]", {}, r"nixpacks\.json must hold a table"),
        ("x.toml", "", {"NIXPACKS_CONFIG_FILE": "../x.toml"}, "inside the repository"),
    ],
)
def test_bad_config(
    tmp_path: Path, name: str, text: str, env: dict[str, str], message: str
) -> None:
    (tmp_path / name).write_text(text)
    with pytest.raises(DeployFailed, match=message):
        make_plan(tmp_path, env=env)
