"""Providers against nixpacks: the provider, install, build and start commands per sample app.

The expected values are nixpacks' own (its `tests/snapshots/generate_plan_tests__*.snap`
for the matching example), with the documented differences of docs/builds.md applied:
the venv at `/app/.venv` instead of `/opt/venv`, Caddy's config under
`/app/.slipway/assets/` instead of `/assets/`, static sites served by Caddy instead of
nginx, and a Flask app without gunicorn started by Flask's own server (nixpacks runs
`python main.py`, which exits at once). test_nixpacks_parity.py compares the same over all of
nixpacks' examples.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from slipway.builder.plan import make_plan
from slipway.builder.providers import caddy, detect, python
from slipway.domain.errors import DeployFailed

APPS = Path(__file__).resolve().parents[2] / "fixtures" / "apps"
VENV = "python -m venv --copies /app/.venv && . /app/.venv/bin/activate"
RAILS_APP = "module Shop\n  class Application < Rails::Application\n  end\nend\n"
CADDY = "exec caddy run --config /app/.slipway/assets/Caddyfile --adapter caddyfile 2>&1"

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
    "node-vite-react": ("node", ["npm ci"], ["npm run build"], CADDY),
    # nixpacks runs CRA's dev server (`yarn run start`); Slipway serves the build, as railpack
    "node-cra-yarn": ("node", ["yarn install --frozen-lockfile"], ["yarn run build"], CADDY),
    "static-site": ("staticfile", [], [], CADDY),
    "node-turborepo": ("node", ["npm ci"], ["npx turbo run build"], "npx turbo run start"),
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
    "python-flask": (
        "python",
        [f"{VENV} && pip install -r requirements.txt"],
        [],
        "FLASK_APP=main:app flask run --host 0.0.0.0 --port ${PORT:-8000}",
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


FLASK = "from flask import Flask\napp = Flask(__name__)\n"


@pytest.mark.parametrize(
    ("files", "start", "guessed"),
    [
        ({"main.py": FLASK, "requirements.txt": "flask\ngunicorn==23\n"},
         "gunicorn --bind 0.0.0.0:${PORT:-8000} main:app", False),
        ({"main.py": FLASK, "requirements.txt": "flask\n"},
         "FLASK_APP=main:app flask run --host 0.0.0.0 --port ${PORT:-8000}", True),
        ({"requirements.txt": "uvicorn\n", "app.py": "import fastapi\napp = fastapi.FastAPI()\n"},
         "uvicorn app:app --host 0.0.0.0 --port ${PORT:-8000}", False),
        ({"pyproject.toml": "[project]\ndependencies = ['fastapi[standard]']\n",
          "main.py": "from fastapi import FastAPI\napp = FastAPI()\n"},
         "uvicorn main:app --host 0.0.0.0 --port ${PORT:-8000}", False),
        ({"requirements.txt": "fastapi[all]", "main.py": "app = FastAPI()\n"},
         "uvicorn main:app --host 0.0.0.0 --port ${PORT:-8000}", False),
        ({"requirements.txt": "", "app.py": "import fastapi\napp = fastapi.FastAPI()\n"},
         "python app.py", True),
        ({"main.py": "app = FastAPI()\nif __name__ == '__main__':\n    run()\n",
          "requirements.txt": "uvicorn"}, "python main.py", False),
        ({"main.py": "print('hi')\n"}, "python main.py", False),
        ({"manage.py": "", "requirements.txt": "Django==5\n"},
         "python manage.py migrate && python manage.py runserver 0.0.0.0:${PORT:-8000}", True),
        ({"pyproject.toml": "[project]\nname = 'tool'\n"}, "python -m tool", True),
        ({"pyproject.toml": "[project]\nname = 'my-tool'\n"}, "python -m my-tool", True),
        ({"pyproject.toml": "[project]\nname = 'x'\n[project.scripts]\nserve = 'x.cli:main'\n"},
         "serve", True),
        ({"setup.py": "setup(entry_points={'console_scripts': ['run-it = app:main']})\n"},
         "run-it", True),
        ({"pyproject.toml": "[project]\nname = 'bad name'\n"}, None, False),
        ({"Pipfile": "[packages]\n"}, None, False),
    ],
)  # fmt: skip
def test_python_start(
    tmp_path: Path, files: dict[str, str], start: str | None, guessed: bool
) -> None:
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    provider = detect(tmp_path, {})
    assert provider is not None and provider.name == "python"
    plan = provider.plan(tmp_path, {})
    assert plan.start == start
    assert (plan.guess is not None) == guessed
    if guessed:
        assert plan.guess and plan.guess.startswith("start command guessed: ")


def test_guess_becomes_a_note_until_something_names_the_start(tmp_path: Path) -> None:
    (tmp_path / "main.py").write_text(FLASK)
    (tmp_path / "requirements.txt").write_text("flask\n")
    notes = make_plan(tmp_path, env={})["notes"]
    assert len(notes) == 1 and "flask's development server" in notes[0]
    assert make_plan(tmp_path, env={}, start_cmd="gunicorn main:app")["notes"] == []
    assert make_plan(tmp_path, env={"NIXPACKS_START_CMD": "x"})["notes"] == []
    (tmp_path / "Procfile").write_text("web: waitress-serve main:app\n")
    plan = make_plan(tmp_path, env={})
    assert plan["notes"] == [] and plan["start"]["cmd"] == "waitress-serve main:app"


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
        ({"Staticfile": "root: site\n"}, "staticfile", CADDY),
        ({"index.html": ""}, "staticfile", CADDY),
        ({"composer.json": "{}", "public/index.php": ""}, "php",
         "php -S 0.0.0.0:${PORT:-80} -t public"),
        ({"Gemfile": "gem 'rails'", "config/application.rb": RAILS_APP, "rails": ""}, "ruby",
         "bundle exec rails server -b 0.0.0.0 -p ${PORT:-3000}"),
        ({"Gemfile": "gem 'rails'", "config/application.rb": RAILS_APP}, "ruby",
         "bundle exec bin/rails server -b 0.0.0.0 -p ${PORT:-3000} -e $RAILS_ENV"),
        ({"Gemfile": "gem 'rake'", "Rakefile": ""}, "ruby", "bundle exec rake"),
        ({"gradlew": "", "build.gradle": ""}, "java",
         "java $JAVA_OPTS -jar  $(ls -1 build/libs/*jar | grep -v plain)"),
        ({"gradlew": "", "build.gradle": "id 'org.springframework.boot' version '3.2.0'"},
         "java",
         "java $JAVA_OPTS -jar -Dserver.port=$PORT $(ls -1 build/libs/*jar | grep -v plain)"),
        ({"composer.json": "{}", "public/index.php": "", "nixpacks.toml":
          "[variables]\nNIXPACKS_PHP_ROOT_DIR = '/app/web'\n"}, "php",
         "php -S 0.0.0.0:${PORT:-80} -t web"),
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
    plan = make_plan(tmp_path, env=env)
    assert plan["phases"]["setup"]["nixPkgs"] == ["caddy"]
    assert '\troot * "/app/my site"\n' in plan["staticAssets"]["Caddyfile"]
    assert "try_files" not in plan["staticAssets"]["Caddyfile"]  # not an SPA
    for bad in ("../etc", "/etc", "{env.SECRET}", 'x"y'):
        with pytest.raises(DeployFailed, match="must be a directory of the app"):
            make_plan(tmp_path, env={"NIXPACKS_STATICFILE_ROOT": bad})


def test_staticfile_options(tmp_path: Path) -> None:
    (tmp_path / "Staticfile").write_text(
        "root: site\ndirectory: visible\ngzip: off\nstatus_code:\n  404: /404.html\n"
    )
    (tmp_path / "site").mkdir()
    text = make_plan(tmp_path, env={})["staticAssets"]["Caddyfile"]
    assert "\t\tbrowse\n" in text and "encode" not in text
    assert "\t\trewrite @error404 /404.html\n" in text


def test_staticfile_auth_needs_bcrypt(tmp_path: Path) -> None:
    (tmp_path / "index.html").write_text("")
    hashed = "$2y$05$" + "a" * 53
    (tmp_path / "Staticfile.auth").write_text(f"# users\nbob:{hashed}\n")
    assert f"\t\tbob {hashed}\n" in make_plan(tmp_path, env={})["staticAssets"]["Caddyfile"]
    (tmp_path / "Staticfile.auth").write_text("bob:$apr1$21i3ye0o$d1H1ePSg8mD2cO5O2A9dG.\n")
    with pytest.raises(DeployFailed, match="bcrypt"):
        make_plan(tmp_path, env={})


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)


def _package(**keys: object) -> str:
    return json.dumps(keys)


VITE_REACT = {"dependencies": {"react": "^18"}, "devDependencies": {"vite": "^6"}}


@pytest.mark.parametrize(
    ("files", "env", "root", "fallback"),
    [
        ({"package.json": _package(**VITE_REACT, scripts={"build": "vite build"})}, {},
         "dist", True),
        ({"package.json": _package(devDependencies={"vite": "^6", "svelte": "^5"}),
          "vite.config.ts": "export default { build: { outDir: 'public/app' } }"}, {},
         "public/app", True),
        ({"package.json": _package(dependencies={"solid-js": "1"},
                                   scripts={"build": "tsc && vite build --outDir out"})}, {},
         "out", True),
        ({"package.json": _package(devDependencies={"vite": "^6"})},
         {"NIXPACKS_SPA_OUT_DIR": "site"}, "site", True),
        ({"package.json": _package(dependencies={"react-scripts": "5"},
                                   scripts={"start": "react-scripts start"})}, {},
         "build", True),
        ({"package.json": _package(dependencies={"react-router": "7"},
                                   devDependencies={"@react-router/dev": "7"}),
          "react-router.config.ts": "export default { ssr: false } satisfies Config;"}, {},
         "build/client", True),
        ({"package.json": _package(dependencies={"astro": "5"})}, {}, "dist", False),
        ({"package.json": _package(dependencies={"@angular/core": "19"}),
          "angular.json": json.dumps({"projects": {"shop": {"architect": {"build": {
              "builder": "@angular-devkit/build-angular:application",
              "options": {"outputPath": "dist/shop"}}}}}})}, {},
         "dist/shop/browser", True),
    ],
)  # fmt: skip
def test_spa_served_by_caddy(
    tmp_path: Path, files: dict[str, str], env: dict[str, str], root: str, fallback: bool
) -> None:
    _write(tmp_path, files)
    plan = make_plan(tmp_path, env=env)
    assert plan["start"]["cmd"] == CADDY == caddy.START
    assert plan["variables"]["NIXPACKS_SPA_OUTPUT_DIR"] == root
    assert "caddy" in plan["phases"]["setup"]["nixPkgs"]
    text = plan["staticAssets"]["Caddyfile"]
    assert f"\troot * /app/{root}\n" in text
    assert ("try_files {path} /index.html" in text) == fallback


@pytest.mark.parametrize(
    ("files", "env", "start"),
    [
        # its own server: the start script, not Caddy (nixpacks would serve dist/)
        ({"package.json": _package(**VITE_REACT, scripts={"start": "node server.js"})}, {},
         "npm run start"),
        ({"package.json": _package(**VITE_REACT, scripts={"start": "vite preview"})},
         {"NIXPACKS_SPA_CADDY": "false"}, "npm run start"),
        # Remix, React Router's framework mode (server rendering), SvelteKit: their server
        ({"package.json": _package(dependencies={"react": "18", "@remix-run/react": "2"},
                                   devDependencies={"vite": "5"},
                                   scripts={"start": "remix-serve"})},
         {}, "npm run start"),
        ({"package.json": _package(devDependencies={"vite": "5", "svelte": "5",
                                                    "@sveltejs/kit": "2"},
                                   scripts={"start": "node build"})}, {}, "npm run start"),
        ({"package.json": _package(dependencies={"astro": "5", "@astrojs/node": "9"}),
          "index.js": ""}, {}, "node index.js"),
        # an output outside the app is not served
        ({"package.json": _package(**VITE_REACT), "vite.config.js": "outDir: '../server/public'",
          "index.js": ""}, {}, "node index.js"),
    ],
)  # fmt: skip
def test_not_an_spa(tmp_path: Path, files: dict[str, str], env: dict[str, str], start: str) -> None:
    _write(tmp_path, files)
    plan = make_plan(tmp_path, env=env)
    assert plan["start"]["cmd"] == start
    assert "staticAssets" not in plan


@pytest.mark.parametrize(
    ("files", "env", "build", "start"),
    [
        ({"turbo.json": '{"pipeline": {"build": {}, "start": {}}}'}, {},
         "npx turbo run build", "npx turbo run start"),
        ({"turbo.json": '{"tasks": {"build": {}}}', "apps/web/package.json": "{}",
          "package.json": _package(workspaces=["apps/*"])}, {"NIXPACKS_TURBO_APP_NAME": "web"},
         "npx turbo run build", "npm --workspace web run start"),
        ({"turbo.json": "{}", "pnpm-lock.yaml": "",
          "pnpm-workspace.yaml": "packages:\n  - 'apps/*'\n",
          "apps/web/package.json": "{}"}, {"NIXPACKS_TURBO_APP_NAME": "web"},
         "pnpx turbo run web:build", "pnpm --filter web run start"),
        ({"nx.json": '{"defaultProject": "api"}', "apps/api/project.json": json.dumps(
            {"targets": {"build": {"executor": "@nx/node:build",
                                   "options": {"main": "apps/api/src/main.ts"}}}})}, {},
         "npx nx run api:build:production", "node dist/apps/api/main.js"),
        ({"nx.json": "{}", "yarn.lock": "", "apps/web/project.json": json.dumps(
            {"targets": {"build": {"executor": "@nx/next:build",
                                   "options": {"outputPath": "dist/web"}}}})},
         {"NIXPACKS_NX_APP_NAME": "web"}, "yarn nx run web:build:production",
         "cd dist/web && npm run start"),
        ({"nx.json": "{}", "apps/web/project.json": json.dumps({"targets": {
            "build": {"executor": "x"}, "start": {"configurations": {"production": {}}}}})},
         {"NIXPACKS_NX_APP_NAME": "web"}, "npx nx run web:build:production",
         "npx nx run web:start:production"),
        ({".moon/workspace.yml": ""}, {"NIXPACKS_MOON_APP_NAME": "server"},
         "npx @moonrepo/cli run server:build", "npx @moonrepo/cli run server:start"),
    ],
)  # fmt: skip
def test_monorepos(
    tmp_path: Path, files: dict[str, str], env: dict[str, str], build: str, start: str
) -> None:
    files = {"package.json": _package(scripts={"build": "b", "start": "s"}), **files}
    _write(tmp_path, files)
    plan = make_plan(tmp_path, env=env)
    assert plan["phases"]["build"]["cmds"] == [build]
    assert plan["start"]["cmd"] == start


def test_next_cache_directories_per_package(tmp_path: Path) -> None:
    _write(tmp_path, {
        "package.json": _package(workspaces=["packages/*"]),
        "packages/client/package.json": _package(dependencies={"next": "15"}),
        "packages/server/package.json": _package(dependencies={"fastify": "5"}),
    })  # fmt: skip
    plan = make_plan(tmp_path, env={}, start_cmd="x")
    assert plan["phases"]["build"]["cacheDirectories"] == [
        "packages/client/.next/cache",
        "node_modules/.cache",
    ]


def test_ruby_bootsnap_assets_and_node(tmp_path: Path) -> None:
    _write(tmp_path, {
        "Gemfile": "gem 'rails'\ngem 'bootsnap'\ngem 'propshaft'\n",
        "config/application.rb": RAILS_APP,
        "package.json": "{}",
        "package-lock.json": "{}",
    })  # fmt: skip
    plan = make_plan(tmp_path, env={})
    assert plan["phases"]["install"]["cmds"] == [
        "bundle install",
        "bundle exec bootsnap precompile --gemfile",
        "npm ci",
    ]
    assert plan["phases"]["build"]["cmds"] == [
        "bundle exec rake assets:precompile",
        "bundle exec bootsnap precompile app/ lib/",
    ]
    assert "nodejs_20" in plan["phases"]["setup"]["nixPkgs"]
    assert plan["variables"]["NIXPACKS_METADATA"] == "ruby,rails"


def test_forced_node_without_package_json_installs_nothing(tmp_path: Path) -> None:
    (tmp_path / "nixpacks.toml").write_text('providers = ["node"]\n[start]\ncmd = "x"\n')
    assert make_plan(tmp_path, env={})["phases"]["install"]["cmds"] == []


def test_deno_jsonc_with_block_comments(tmp_path: Path) -> None:
    (tmp_path / "deno.jsonc").write_text(
        '// c\n{ /* a */ "tasks": { "dev": "x", "start": "deno run -A main.ts", } /* b */ }\n'
    )
    assert make_plan(tmp_path, env={})["start"]["cmd"] == "deno run -A main.ts"


@pytest.mark.skipif(shutil.which("caddy") is None, reason="caddy is not installed")
@pytest.mark.parametrize("name", ["static-site", "node-vite-react", "node-cra-yarn"])
def test_caddyfile_parses(tmp_path: Path, name: str) -> None:
    """Debian's caddy (2.6) accepts each Caddyfile a plan ships, as written."""
    config = tmp_path / "Caddyfile"
    config.write_text(make_plan(APPS / name, env={})["staticAssets"]["Caddyfile"])
    adapted = subprocess.run(
        ["caddy", "adapt", "--config", str(config), "--adapter", "caddyfile"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert adapted.returncode == 0, adapted.stderr
    assert json.loads(adapted.stdout)["admin"] == {"disabled": True}


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
