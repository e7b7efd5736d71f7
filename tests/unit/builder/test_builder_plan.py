"""Provider detection and plan snapshots for the sample apps under tests/fixtures/apps."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from slipway.builder.plan import BUILD_IMAGE, make_plan, provider_title
from slipway.builder.providers import PROVIDERS, detect, procfile_start
from slipway.domain.errors import DeployFailed

APPS = Path(__file__).resolve().parents[2] / "fixtures" / "apps"

SNAPSHOTS = sorted(p.name for p in APPS.iterdir() if p.is_dir())


@pytest.mark.parametrize("name", SNAPSHOTS)
def test_plan_snapshot(name: str) -> None:
    """Each sample app's plan equals its reviewed snapshot (`{name}.plan.json` beside it).

    Regenerate with `SLIPWAY_UPDATE_SNAPSHOTS=1 python -m pytest tests/unit/builder` and
    review the diff, as nixpacks does with its `.snap` files.
    """
    plan = make_plan(APPS / name, env={})
    snapshot = APPS / f"{name}.plan.json"
    if os.environ.get("SLIPWAY_UPDATE_SNAPSHOTS") == "1":
        snapshot.write_text(json.dumps(plan, indent=2) + "\n")
    assert plan == json.loads(snapshot.read_text())
    assert plan["buildImage"] == BUILD_IMAGE


def test_registry_follows_nixpacks_order() -> None:
    assert [p.name for p in PROVIDERS] == [
        "deno", "go", "java", "php", "ruby", "node", "python", "rust", "staticfile", "shell"
    ]  # fmt: skip


def test_first_match_wins(tmp_path: Path) -> None:
    (tmp_path / "package.json").write_text("{}")
    (tmp_path / "main.py").write_text("")
    found = detect(tmp_path, {})
    assert found is not None and found.name == "node"


def test_nothing_detected(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text("hi")
    assert detect(tmp_path, {}) is None
    with pytest.raises(DeployFailed, match="no provider detected"):
        make_plan(tmp_path, env={})


def test_start_override_alone_is_enough(tmp_path: Path) -> None:
    plan = make_plan(tmp_path, env={}, start_cmd="./run")
    assert plan["providers"] == [] and plan["start"] == {"cmd": "./run"}


def test_arguments_override_everything(tmp_path: Path) -> None:
    shutil.copytree(APPS / "node-plain", tmp_path / "a")
    plan = make_plan(
        tmp_path / "a",
        env={"NIXPACKS_BUILD_CMD": "from-env", "NIXPACKS_START_CMD": "env-start"},
        install_cmd="i",
        build_cmd="b",
        start_cmd="s",
    )
    assert plan["phases"]["install"]["cmds"] == ["i"]
    assert plan["phases"]["build"]["cmds"] == ["b"]
    assert plan["start"]["cmd"] == "s"


def test_nixpacks_env_overrides(tmp_path: Path) -> None:
    shutil.copytree(APPS / "python-plain", tmp_path / "a")
    env = {"NIXPACKS_BUILD_CMD": "make", "NIXPACKS_START_CMD": "./go", "NIXPACKS_PKGS": "ffmpeg"}
    plan = make_plan(tmp_path / "a", env=env)
    assert plan["phases"]["build"]["cmds"] == ["make"]
    assert plan["phases"]["setup"]["nixPkgs"] == ["python3", "gcc", "ffmpeg"]
    assert plan["start"]["cmd"] == "./go"
    assert "NIXPACKS_START_CMD" not in plan["variables"]  # app env never lands in the plan


def test_nixpacks_toml(tmp_path: Path) -> None:
    shutil.copytree(APPS / "node-plain", tmp_path / "a")
    (tmp_path / "a" / "nixpacks.toml").write_text(
        'providers = ["python"]\n'
        "[variables]\nFOO = 'bar'\n"
        "[phases.build]\ncmds = ['echo before', '...', 'echo after']\n"
        "[start]\ncmd = 'python -m http.server'\n"
    )
    (tmp_path / "a" / "main.py").write_text("")
    plan = make_plan(tmp_path / "a", env={})
    assert plan["providers"] == ["python"]
    assert plan["variables"]["FOO"] == "bar"
    assert plan["phases"]["build"]["cmds"] == ["echo before", "echo after"]
    assert plan["start"]["cmd"] == "python -m http.server"


def test_bad_nixpacks_toml(tmp_path: Path) -> None:
    (tmp_path / "nixpacks.toml").write_text("[[[")
    with pytest.raises(DeployFailed, match=r"nixpacks\.toml"):
        make_plan(tmp_path, env={})


def test_procfile_overrides_provider_start(tmp_path: Path) -> None:
    shutil.copytree(APPS / "python-plain", tmp_path / "a")
    (tmp_path / "a" / "Procfile").write_text("web: gunicorn main:app\n")
    assert make_plan(tmp_path / "a", env={})["start"]["cmd"] == "gunicorn main:app"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("worker: w\nweb: x\n", "x"),
        ("release: r\nworker: w\n", "w"),
        ("# c\nclock: c\nother: o\n", "c"),
        ("web:x: y\n", "x: y"),
        ("garbage\n\n", None),
    ],
)
def test_procfile_choice(tmp_path: Path, text: str, expected: str | None) -> None:
    (tmp_path / "Procfile").write_text(text)
    assert procfile_start(tmp_path) == expected


def test_python_pyproject_and_node_main(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[project]\nname='x'\n")
    plan = make_plan(tmp_path, env={}, start_cmd="x")
    assert plan["phases"]["install"]["cmds"][-1].endswith("pip install .")
    assert "onlyIncludeFiles" not in plan["phases"]["install"]  # installs the code itself
    node = tmp_path / "n"
    node.mkdir()
    (node / "package.json").write_text('{"main": "it\'s.js"}')
    (node / "it's.js").write_text("")
    assert make_plan(node, env={})["start"]["cmd"] == "node 'it'\\''s.js'"
    (node / "package.json").write_text("[not an object]")
    (node / "index.js").write_text("")
    assert make_plan(node, env={})["start"]["cmd"] == "node index.js"


def test_provider_title() -> None:
    assert provider_title(make_plan(APPS / "python-plain", env={})) == "Python"
    assert provider_title(make_plan(APPS / "node-plain", env={})) == "Node.js"
    assert provider_title(make_plan(APPS / "procfile", env={})) is None


def test_notes_and_static_assets_keys() -> None:
    plain = make_plan(APPS / "python-plain", env={})
    assert plain["notes"] == [] and "staticAssets" not in plain
    static = make_plan(APPS / "static-site", env={})
    assert list(static) == [
        "providers", "buildImage", "variables", "staticAssets", "phases", "start", "notes"
    ]  # fmt: skip
    assert set(static["staticAssets"]) == {"Caddyfile"}
    flask = make_plan(APPS / "python-flask", env={})
    assert flask["notes"][0].startswith("start command guessed: flask's development server")


def test_config_variables_reach_providers_beneath_the_env(tmp_path: Path) -> None:
    (tmp_path / "package.json").write_text('{"devDependencies": {"vite": "6"}}')
    (tmp_path / "nixpacks.toml").write_text("[variables]\nNIXPACKS_SPA_OUT_DIR = 'site'\n")
    plan = make_plan(tmp_path, env={})
    assert plan["variables"]["NIXPACKS_SPA_OUTPUT_DIR"] == "site"
    assert plan["variables"]["NIXPACKS_SPA_OUT_DIR"] == "site"  # the config's, as before
    plan = make_plan(tmp_path, env={"NIXPACKS_SPA_OUT_DIR": "www"})
    assert plan["variables"]["NIXPACKS_SPA_OUTPUT_DIR"] == "www"


def test_a_plain_vite_app_with_nothing_else_to_start_is_served_by_caddy(tmp_path: Path) -> None:
    package = {"scripts": {"build": "vite build"}, "devDependencies": {"vite": "^5"}}
    (tmp_path / "package.json").write_text(json.dumps(package))
    plan = make_plan(tmp_path, env={})
    assert plan["start"]["cmd"].startswith("exec caddy run --config /app/.slipway/assets/")
    assert "root * /app/dist" in plan["staticAssets"]["Caddyfile"]
    # With a server of its own it starts that instead.
    (tmp_path / "index.js").write_text("require('http')")
    assert make_plan(tmp_path, env={})["start"]["cmd"] == "node index.js"
