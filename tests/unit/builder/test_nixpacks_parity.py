"""`slipway plan` against nixpacks' own plans for nixpacks' examples.

tests/fixtures/nixpacks_parity/corpus.json holds, for each of nixpacks' examples in node,
python, staticfile, procfile, go, deno, ruby, php, java and shell (and the config-only
ones), the files a planner reads and the install/build/start commands of nixpacks'
snapshot of its plan (regenerate with tests/fixtures/nixpacks_parity/extract.py). Each
example is written to a temporary directory and planned; its plan matches when the
provider, install, build and start commands equal nixpacks' once `expected` has applied
the documented layout differences (docs/builds.md, "Deliberate differences from nixpacks"),
and nothing else.

Run `python -m pytest -q -s tests/unit/builder/test_nixpacks_parity.py` to see the rate.
A new difference or a fixed one both fail `test_differences_are_the_documented_ones`:
update DIFFERENCES here and the list in docs/builds.md ("Parity with nixpacks' examples").
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from slipway.builder.plan import make_plan
from slipway.domain.errors import DeployFailed

CORPUS = Path(__file__).resolve().parents[2] / "fixtures" / "nixpacks_parity" / "corpus.json"
MIN_RATE = 0.95
ASSETS = "/app/.slipway/assets/"
NGINX_DIRS = "mkdir -p /var/log/nginx && mkdir -p /var/cache/nginx"
CADDY_START = f"exec caddy run --config {ASSETS}Caddyfile --adapter caddyfile 2>&1"

# Every example whose plan differs from nixpacks', with the reason (docs/builds.md lists
# the same, under "Parity with nixpacks' examples").
DIFFERENCES: dict[str, str] = {
    "nested": "nixpacks plans the only subdirectory of an app it cannot plan; Slipway "
    "plans the app's root directory, which the app's settings choose",
    "python-django": "no gunicorn in requirements.txt: nixpacks' `gunicorn` start would not "
    "be found; Slipway runs Django's development server and says so in the plan's notes",
    "python-django-mysql": "the same: Django without gunicorn",
    "staticfile": "Staticfile.auth holds an $apr1$ (MD5) hash, which Caddy cannot check: "
    "Slipway refuses the plan instead of serving the site without its password",
}


@dataclass
class Comparison:
    provider: str | None
    install: list[str]
    build: list[str]
    start: str | None
    root: str | None = None  # the directory the static server serves


def examples() -> dict[str, Any]:
    return json.loads(CORPUS.read_text())["examples"]  # type: ignore[no-any-return]


def expected(example: dict[str, Any]) -> Comparison:
    """nixpacks' plan with the documented differences of docs/builds.md applied."""
    nix = example["nixpacks"]
    variables = nix["variables"]
    provider = (nix["metadata"] or "").split(",")[0] or None
    install, build, start = list(nix["install"]), list(nix["build"]), nix["start"]
    root = None
    # Row "a second provider's install (Ruby with Node)": nixpacks runs it as a phase of
    # its own, `<provider>:install`; Slipway appends its commands to the install phase.
    for name, cmds in nix["otherPhases"].items():
        if name.endswith(":install"):
            install += cmds
    # Row "Python venv": /app/.venv instead of /opt/venv.
    install = [c.replace("/opt/venv", "/app/.venv") for c in install]
    # Row "static sites": Caddy instead of nginx, same document root.
    if provider == "staticfile" and start and "nginx -c /assets/nginx.conf" in start:
        start, root = CADDY_START, nix["staticRoot"]
    # Rows "SPAs" and "static assets": the same Caddy command, its config under
    # /app/.slipway/assets/ instead of /assets/; it serves nixpacks' NIXPACKS_SPA_OUTPUT_DIR.
    if start and start.startswith("exec caddy run --config /assets/"):
        start = start.replace("/assets/", ASSETS, 1)
        root = variables.get("NIXPACKS_SPA_OUTPUT_DIR")
    # Row "PHP": PHP's built-in server instead of nginx + php-fpm (so no nginx directories
    # to create), with nixpacks' document root (NIXPACKS_PHP_ROOT_DIR, else the app).
    if provider == "php":
        install = [c for c in install if c != NGINX_DIRS]
        if start and "php-fpm" in start:
            php_root = variables.get("NIXPACKS_PHP_ROOT_DIR", "/app").removeprefix("/app")
            start = f"php -S 0.0.0.0:${{PORT:-80}} -t {php_root.strip('/') or '.'}"
    return Comparison(provider, install, build, start, root)


def planned(example: dict[str, Any], tmp_path: Path) -> Comparison | str:
    """Slipway's plan of the example (materialised under tmp_path), or why it refused."""
    app = tmp_path / "app"
    for rel, text in example["files"].items():
        path = app / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        if rel in example["executable"]:
            path.chmod(0o755)
    try:
        plan = make_plan(app, env=example["env"], start_cmd=example["startCmd"])
    except DeployFailed as exc:
        return str(exc)
    provider = plan["providers"][0] if plan["providers"] else None
    caddyfile = plan.get("staticAssets", {}).get("Caddyfile", "")
    found = re.search(r"^\s*root \* \"?/app/?([^\"\n]*)\"?$", caddyfile, re.M)
    return Comparison(
        provider,
        plan["phases"]["install"]["cmds"],
        plan["phases"]["build"]["cmds"],
        plan["start"]["cmd"],
        (found.group(1) or ".") if found else None,
    )


def same(want: Comparison, got: Comparison) -> bool:
    # Row "shell scripts": railpack's shell provider plans a start.sh that nixpacks leaves
    # to its config; any other provider must be nixpacks' own.
    provider_ok = want.provider == got.provider or (
        want.provider is None and got.provider == "shell"
    )
    root_ok = want.root is None or want.root == got.root
    commands_ok = (want.install, want.build, want.start) == (got.install, got.build, got.start)
    return provider_ok and root_ok and commands_ok


def compare_all(tmp_path: Path) -> dict[str, str]:
    """The examples whose plan differs, each with what differs."""
    misses: dict[str, str] = {}
    for name, example in examples().items():
        want, got = expected(example), planned(example, tmp_path / name)
        if isinstance(got, str):
            misses[name] = f"refused: {got}"
        elif not same(want, got):
            misses[name] = f"nixpacks {want} != slipway {got}"
    return misses


def test_corpus_covers_the_languages() -> None:
    found = examples()
    assert len(found) >= 100
    names = " ".join(found)
    for language in ("node", "python", "staticfile", "procfile", "go", "deno", "ruby", "php",
                     "java", "shell"):  # fmt: skip
        assert language in names


def test_parity_rate(tmp_path: Path) -> None:
    misses = compare_all(tmp_path)
    total = len(examples())
    rate = (total - len(misses)) / total
    print(f"\nnixpacks parity: {total - len(misses)}/{total} examples = {rate:.1%}")
    for name, why in sorted(misses.items()):
        print(f"  {name}: {why}")
    assert rate >= MIN_RATE, misses


def test_differences_are_the_documented_ones(tmp_path: Path) -> None:
    misses = compare_all(tmp_path)
    assert sorted(misses) == sorted(DIFFERENCES), misses


def _nixpacks(**given: Any) -> dict[str, Any]:
    plan = {"metadata": "node", "install": [], "build": [], "start": None, "otherPhases": {},
            "variables": {}, "staticRoot": None}  # fmt: skip
    return {"nixpacks": {**plan, **given}}


def test_normalisation_applies_the_documented_rows() -> None:
    venv = expected(_nixpacks(metadata="python", install=["python -m venv --copies /opt/venv"]))
    assert venv.install == ["python -m venv --copies /app/.venv"]
    spa = expected(_nixpacks(
        start="exec caddy run --config /assets/Caddyfile --adapter caddyfile 2>&1",
        variables={"NIXPACKS_SPA_OUTPUT_DIR": "dist"},
    ))  # fmt: skip
    assert (spa.start, spa.root) == (CADDY_START, "dist")
    php = expected(_nixpacks(
        metadata="php",
        install=[NGINX_DIRS, "composer install --ignore-platform-reqs"],
        start="node /assets/scripts/prestart.mjs /assets/nginx.template.conf /nginx.conf && "
        "(php-fpm -y /assets/php-fpm.conf & nginx -c /nginx.conf)",
        variables={"NIXPACKS_PHP_ROOT_DIR": "/app/public"},
    ))  # fmt: skip
    assert php.install == ["composer install --ignore-platform-reqs"]
    assert php.start == "php -S 0.0.0.0:${PORT:-80} -t public"
    ruby = expected(_nixpacks(
        metadata="ruby", install=["bundle install"], otherPhases={"node:install": ["npm ci"]}
    ))  # fmt: skip
    assert ruby.install == ["bundle install", "npm ci"]


def test_normalisation_leaves_everything_else() -> None:
    plan = _nixpacks(install=["npm ci"], build=["npm run build"], start="node /assets/x.js",
                     otherPhases={"release": ["echo release"]})  # fmt: skip
    assert expected(plan) == Comparison("node", ["npm ci"], ["npm run build"], "node /assets/x.js")
