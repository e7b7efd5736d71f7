"""Where the data lives by default, and the host checks' sentences."""

from __future__ import annotations

from pathlib import Path

import pytest

from slipway import preflight


def test_the_data_dir_is_the_same_from_any_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SLIPWAY_DATA_DIR", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    monkeypatch.chdir(tmp_path)
    assert preflight.data_dir(None) == tmp_path / "xdg" / "slipway"
    monkeypatch.chdir("/")
    assert preflight.data_dir(None) == tmp_path / "xdg" / "slipway"
    monkeypatch.setenv("SLIPWAY_DATA_DIR", str(tmp_path / "mine"))
    assert preflight.data_dir(None) == tmp_path / "mine"
    assert preflight.data_dir(Path("rel")) == Path("/rel")  # --data-dir, resolved from cwd
    monkeypatch.delenv("XDG_DATA_HOME")
    monkeypatch.delenv("SLIPWAY_DATA_DIR")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert preflight.default_data_dir() == tmp_path / "home" / ".local" / "share" / "slipway"


def test_missing_programs_are_named_with_their_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    problems = preflight.host_problems({"api", "worker", "router"})
    assert "git is missing (apt-get install git)" in problems
    assert "bwrap is missing (apt-get install bubblewrap)" in problems
    assert preflight.host_problems({"router"}) == []  # a router runs no tenant code
    assert preflight.host_warnings({"worker"})[0].startswith("caddy is missing")
