"""A plan's static assets land in the built tree without following the tenant's links."""

from __future__ import annotations

from pathlib import Path

import pytest

from slipway.builder.assets import write_assets
from slipway.domain.errors import DeployFailed


def test_assets_are_written_under_slipway_assets(tmp_path: Path) -> None:
    write_assets(tmp_path, {"Caddyfile": ":{$PORT} {\n}\n"})
    written = tmp_path / ".slipway" / "assets" / "Caddyfile"
    assert written.read_text() == ":{$PORT} {\n}\n"
    assert oct(written.stat().st_mode & 0o777) == "0o644"


@pytest.mark.parametrize("planted", ["link-to-dir", "link-to-file", "file", "dir-with-link"])
def test_a_planted_slipway_entry_never_leads_outside(tmp_path: Path, planted: str) -> None:
    app, outside = tmp_path / "app", tmp_path / "host"
    app.mkdir()
    outside.mkdir()
    (outside / "secret").write_text("host file")
    if planted == "link-to-dir":
        (app / ".slipway").symlink_to(outside)
    elif planted == "link-to-file":
        (app / ".slipway").symlink_to(outside / "secret")
    elif planted == "file":
        (app / ".slipway").write_text("x")
    else:
        (app / ".slipway").mkdir()
        (app / ".slipway" / "assets").symlink_to(outside)
    write_assets(app, {"secret": "overwritten?"})
    assert (outside / "secret").read_text() == "host file"
    assert [p.name for p in outside.iterdir()] == ["secret"]
    assert (app / ".slipway" / "assets" / "secret").read_text() == "overwritten?"
    assert not (app / ".slipway").is_symlink()


@pytest.mark.parametrize("name", ["../x", ".hidden", "a/b", ""])
def test_unusable_asset_names_are_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(DeployFailed):
        write_assets(tmp_path, {name: "x"})
    assert not (tmp_path / ".slipway").exists()
