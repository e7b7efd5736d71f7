"""untar.py, the checkout's unpacker (it runs inside the sandbox): crafted archives in, a
refusal naming the reason out, and nothing written through a link."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from slipway.builder import untar


def archive(*members: tuple[str, str, str]) -> io.BytesIO:
    """(kind, name, data or link target) -> an in-memory tar, in the given order."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for kind, name, data in members:
            info = tarfile.TarInfo(name)
            if kind == "file":
                info.size = len(data)
                info.mode = 0o644
                tar.addfile(info, io.BytesIO(data.encode()))
                continue
            info.type = {
                "dir": tarfile.DIRTYPE,
                "link": tarfile.SYMTYPE,
                "hard": tarfile.LNKTYPE,
                "fifo": tarfile.FIFOTYPE,
                "dev": tarfile.CHRTYPE,
            }[kind]
            info.linkname = data
            info.mode = 0o755
            tar.addfile(info)
    buf.seek(0)
    return buf


def test_a_plain_tree_unpacks_with_normal_modes(tmp_path: Path) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, mode in (("run.sh", 0o4777), ("secret", 0o600)):
            info = tarfile.TarInfo(name)
            info.size, info.mode = 2, mode
            tar.addfile(info, io.BytesIO(b"hi"))
        info = tarfile.TarInfo("docs")
        info.type, info.mode = tarfile.DIRTYPE, 0o700
        tar.addfile(info)
        info = tarfile.TarInfo("docs/current")
        info.type, info.linkname = tarfile.SYMTYPE, "../run.sh"
        tar.addfile(info)
    buf.seek(0)
    assert untar.unpack(buf, tmp_path) == 4
    assert (tmp_path / "run.sh").stat().st_mode & 0o7777 == 0o755
    assert (tmp_path / "secret").stat().st_mode & 0o7777 == 0o644
    assert (tmp_path / "docs").stat().st_mode & 0o7777 == 0o755
    assert str((tmp_path / "docs" / "current").readlink()) == "../run.sh"


@pytest.mark.parametrize(
    ("members", "reason"),
    [
        ([("file", "/etc/cron.d/x", "x")], "absolute path"),
        ([("file", "a/../../x", "x")], "'..'"),
        ([("link", "escape", "/etc"), ("file", "escape/passwd", "x")], "below a symbolic link"),
        ([("link", "escape", "/etc"), ("dir", "escape", ""), ("file", "escape/x", "x")], "twice"),
        ([("file", "a", "1"), ("file", "a", "2")], "twice"),
        ([("file", "a", "1"), ("file", "a/b", "2")], "below a file"),
        ([("file", "/".join(["d"] * 65) + "/f", "x")], "deeper than 64"),
        ([("file", "x" * 256, "x")], "over 255 bytes"),
        ([("file", "ok", "x"), ("hard", "h", "/etc/shadow")], "neither a file"),
        ([("fifo", "pipe", "")], "neither a file"),
        ([("dev", "mem", "")], "neither a file"),
    ],
)
def test_crafted_members_fail_the_whole_checkout(
    tmp_path: Path, members: list[tuple[str, str, str]], reason: str
) -> None:
    dest = tmp_path / "app"
    dest.mkdir()
    with pytest.raises(untar.UnsafeMember, match=reason):
        untar.unpack(archive(*members), dest)
    assert not (tmp_path / "x").exists()


def test_main_reports_the_reason_and_exits_3(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    stdin = io.TextIOWrapper(archive(("file", "../up", "x")))
    monkeypatch.setattr("sys.stdin", stdin)
    assert untar.main() == untar.EXIT_UNSAFE
    assert capsys.readouterr().err.startswith("unsafe tree: an entry has a '..'")
