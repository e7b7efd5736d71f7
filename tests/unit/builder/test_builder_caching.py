"""Cache directories, dependency snapshots, toolchain checks and registry names."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from slipway.builder import toolchains
from slipway.builder.caching import Caches, cache_env, check_cache_dir
from slipway.builder.plan import make_plan
from slipway.builder.registry import Registry
from slipway.cli.main import app as cli
from slipway.domain.errors import DeployFailed

APPS = Path(__file__).resolve().parents[2] / "fixtures" / "apps"


@pytest.mark.parametrize(
    ("given", "inside"),
    [
        ("/root/.npm", "/root/.npm"),
        ("/usr/local/share/.cache/yarn/v6", "/root/.cache/usr-local-share/yarn/v6"),
        ("node_modules/.cache", "/app/node_modules/.cache"),
        (".next/cache/", "/app/.next/cache"),
        ("target", "/app/target"),
    ],
)
def test_allowed_cache_dirs(given: str, inside: str) -> None:
    assert check_cache_dir(given) == inside


@pytest.mark.parametrize(
    "given",
    ["/usr/bin", "/root", "/etc/ssl", "../up", "node_modules", "node_modules/../..", ".git/x",
     "a b", "./x", "", "/root/../etc"],
)  # fmt: skip
def test_refused_cache_dirs(given: str) -> None:
    with pytest.raises(DeployFailed, match="is not allowed"):
        check_cache_dir(given)


def test_cache_env_points_tools_at_the_plan_dirs() -> None:
    env = cache_env(["/root/.npm", "/root/.cache/go-build", "node_modules/.cache"])
    assert env == {
        "npm_config_cache": "/root/.npm",
        "GOCACHE": "/root/.cache/go-build",
        "GOMODCACHE": "/root/.cache/go-build/mod",
    }
    # yarn's nixpacks cache lies in the read-only /usr: mounted under /root, yarn told so.
    assert cache_env(["/usr/local/share/.cache/yarn/v6"]) == {
        "YARN_CACHE_FOLDER": "/root/.cache/usr-local-share/yarn/v6"
    }


def test_binds_per_phase(tmp_path: Path) -> None:
    caches = Caches(tmp_path / "c", uid=0)
    all_dirs = ["/root/.npm", "node_modules/.cache"]
    install = caches.binds({"cacheDirectories": ["/root/.npm"]}, all_dirs)
    build = caches.binds({"cacheDirectories": ["node_modules/.cache"]}, all_dirs)
    assert list(install) == ["/root/.npm"]
    assert list(build) == ["/root/.npm", "/app/node_modules/.cache"]
    assert install["/root/.npm"] == build["/root/.npm"] and build["/root/.npm"].is_dir()


def _node_app(root: Path, lock: str) -> tuple[Path, dict[str, object]]:
    root.mkdir(parents=True, exist_ok=True)
    (root / "package.json").write_text('{"scripts": {"start": "node x"}}')
    (root / "package-lock.json").write_text(lock)
    (root / "server.js").write_text(lock)  # code is not an install input
    return root, make_plan(root, env={})


def test_install_key_follows_only_the_install_inputs(tmp_path: Path) -> None:
    caches = Caches(tmp_path / "c", uid=0)
    app, plan = _node_app(tmp_path / "a", "{}")
    key = caches.install_key(app, plan, {"X": "1"})
    (app / "server.js").write_text("changed")
    assert caches.install_key(app, plan, {"X": "1"}) == key
    assert caches.install_key(app, plan, {"X": "2"}) != key
    (app / "package-lock.json").write_text('{"lockfileVersion": 3}')
    assert caches.install_key(app, plan, {"X": "1"}) != key


def test_install_key_never_follows_symlinks(tmp_path: Path) -> None:
    outside = tmp_path / "secret.json"
    outside.write_text("{}")
    app, plan = _node_app(tmp_path / "a", "{}")
    (app / "package-lock.json").unlink()
    (app / "package-lock.json").symlink_to(outside)
    key = Caches(tmp_path / "c", uid=0).install_key(app, plan, {})
    outside.write_text('{"changed": true}')
    assert Caches(tmp_path / "c", uid=0).install_key(app, plan, {}) == key


def test_snapshot_round_trip_keeps_one_per_app(tmp_path: Path) -> None:
    caches = Caches(tmp_path / "c", uid=0)
    built = tmp_path / "built"
    (built / "node_modules" / "left-pad").mkdir(parents=True)
    (built / "node_modules" / "left-pad" / "index.js").write_text("pad")
    caches.save("k1", built, ["node_modules", "../evil"])
    caches.save("k2", built, ["node_modules"])
    assert sorted(p.name for p in (tmp_path / "c" / "install").iterdir()) == ["k2"]
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    assert caches.restore("k1", fresh) is None
    assert caches.restore("k2", fresh) == ["node_modules"]
    assert (fresh / "node_modules" / "left-pad" / "index.js").read_text() == "pad"


def test_toolchain_names() -> None:
    assert toolchains.commands_for("nodejs_20") == ("node",)
    assert toolchains.commands_for("jdk17") == ("java", "javac")
    assert toolchains.commands_for("openssl") == ()
    assert toolchains.missing(["nodejs_20", "go", "openssl"], path="/nonexistent") == [
        "nodejs_20 (node)",
        "go (go)",
    ]
    assert toolchains.missing(["python3"]) == []  # the Python Slipway runs on
    assert toolchains.setup_error(["python3", "openssl"]) is None


@pytest.mark.parametrize(
    ("value", "base", "host"),
    [
        ("127.0.0.1:5000", "http://127.0.0.1:5000", "127.0.0.1:5000"),
        ("localhost:5000/", "http://localhost:5000", "localhost:5000"),
        ("registry.example.com", "https://registry.example.com", "registry.example.com"),
        ("http://10.0.0.1:5000", "http://10.0.0.1:5000", "10.0.0.1:5000"),
    ],
)
def test_registry_names(value: str, base: str, host: str) -> None:
    assert Registry.parse(value) == Registry(base_url=base, host=host)


@pytest.mark.parametrize("value", ["ftp://x", "http://", "host/path"])
def test_bad_registry_names(value: str) -> None:
    with pytest.raises(ValueError, match="SLIPWAY_REGISTRY"):
        Registry.parse(value)


def test_plan_command_prints_nixpacks_json(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(cli, ["plan", str(APPS / "node-yarn"), "--start-cmd", "node x.js"])
    assert result.exit_code == 0, result.output
    plan = json.loads(result.output)
    assert plan["phases"]["install"]["cmds"] == ["yarn install --frozen-lockfile"]
    assert plan["start"]["cmd"] == "node x.js"
    env = ["--env", "NIXPACKS_BUILD_CMD=make"]
    result = runner.invoke(cli, ["plan", str(APPS / "node-yarn"), *env])
    assert json.loads(result.output)["phases"]["build"]["cmds"] == ["make"]
    (tmp_path / "README").write_text("")
    result = runner.invoke(cli, ["plan", str(tmp_path)])
    assert result.exit_code == 1 and "no provider detected" in result.output
    result = runner.invoke(cli, ["plan", str(tmp_path), "--env", "novalue"])
    assert result.exit_code == 2
