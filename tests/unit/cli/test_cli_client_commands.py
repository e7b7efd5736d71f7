"""CLI client commands that need no server: split parsing, credentials, refusals."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from slipway.cli import session
from slipway.cli.main import app
from slipway.cli.traffic_cmds import parse_split

runner = CliRunner()


def test_parse_split() -> None:
    assert parse_split("web-00002=10@canary") == {
        "revisionName": "web-00002",
        "percent": 10,
        "tag": "canary",
    }
    assert parse_split("web-00001=90") == {"revisionName": "web-00001", "percent": 90}
    for bad in ("web-00001", "web=abc", "=10", "web=10@", "web=1000", "a b=1"):
        with pytest.raises(typer.Exit):
            parse_split(bad)


def test_credentials_round_trip_private_file(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    for name in ("SLIPWAY_API_URL", "SLIPWAY_API_KEY", "SLIPWAY_WORKSPACE"):
        monkeypatch.delenv(name, raising=False)
    path = session.save(session.Credentials("http://x/api/v1", "dor_sk_abc", "ws_1"))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(path.read_text())["workspaceId"] == "ws_1"
    assert session.load() == session.Credentials("http://x/api/v1", "dor_sk_abc", "ws_1")
    monkeypatch.setenv("SLIPWAY_API_KEY", "dor_sk_env")
    assert session.load().api_key == "dor_sk_env"


def test_unreachable_api_is_a_clear_error_without_the_key(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    monkeypatch.setenv("SLIPWAY_API_URL", "http://127.0.0.1:9/api/v1")  # discard port: refused
    monkeypatch.setenv("SLIPWAY_API_KEY", "dor_sk_topsecret")
    monkeypatch.setenv("SLIPWAY_WORKSPACE", "ws_1")
    result = runner.invoke(app, ["apps", "list"])
    assert result.exit_code == 1
    assert "cannot reach the Slipway API" in result.output
    assert "topsecret" not in result.output


def test_bad_split_is_a_usage_error(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    monkeypatch.setenv("SLIPWAY_API_KEY", "dor_sk_x")
    monkeypatch.setenv("SLIPWAY_WORKSPACE", "ws_1")
    result = runner.invoke(app, ["traffic", "web", "nonsense"])
    assert result.exit_code == 2
    assert "REVISION=PERCENT" in result.output


class _Interrupted:
    """A client whose log stream is interrupted by Ctrl-C."""

    def follow_build_log(self, deploy_id: str) -> object:
        raise KeyboardInterrupt

    def deployment(self, deploy_id: str) -> dict[str, str]:
        return {"status": "building"}


def test_ctrl_c_while_following_says_the_deploy_goes_on(capsys) -> None:
    from slipway.cli.deploy_cmds import _until_done

    with pytest.raises(typer.Exit) as stopped:
        _until_done(_Interrupted(), "web", "dep_1", follow=True, as_json=False)  # type: ignore[arg-type]
    assert stopped.value.exit_code == 130
    said = capsys.readouterr().err
    assert "Deployment dep_1 goes on" in said
    assert "slipway logs web dep_1 --follow" in said


def test_tables_are_tab_separated_whole_lines_when_piped(capsys) -> None:
    from slipway.cli import render

    long_id = "dep_" + "a" * 26
    render.table("Deployments", ["ID", "STATUS"], [(long_id, render.styled_status("failed"))])
    assert capsys.readouterr().out.splitlines() == ["ID\tSTATUS", f"{long_id}\tfailed"]
