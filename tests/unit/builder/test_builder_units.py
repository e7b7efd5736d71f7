"""Line splitting, root-directory checks, OCI determinism and the build key."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from slipway.builder import oci
from slipway.builder.local import build_key
from slipway.builder.proc import MAX_LINE, MAX_RUNAWAY_LINE, LineSplitter, LineTooLong
from slipway.builder.source import root_subpath
from slipway.domain.errors import DeployFailed
from slipway.domain.models import App, Commit


def test_line_splitter_keeps_order_and_caps_lines() -> None:
    s = LineSplitter()
    assert s.feed(b"a\nb") == ["a"]
    assert s.feed(b"c\r\n\n") == ["bc", ""]
    long = b"x" * (MAX_LINE * 3)
    assert s.feed(long) == ["x" * MAX_LINE]
    assert s.feed(long + b"\nnext\n") == ["next"]
    assert s.feed(b"\xff tail") == []
    assert s.flush() == ["\ufffd tail"]


def test_line_splitter_cuts_a_long_line_arriving_in_one_chunk() -> None:
    s = LineSplitter()
    assert s.feed(b"y" * (MAX_LINE + 10) + b"\nnext\n") == ["y" * MAX_LINE, "next"]


def test_line_splitter_stops_a_runaway_line() -> None:
    s = LineSplitter()
    s.feed(b"z" * MAX_RUNAWAY_LINE)
    with pytest.raises(LineTooLong):
        s.feed(b"z" * 10)


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, None), ("", None), ("/", None), (".", None), ("web", "web"), ("a/./b/", "a/b")],
)
def test_root_subpath(value: str | None, expected: str | None) -> None:
    assert root_subpath(value) == expected


@pytest.mark.parametrize("value", ["../x", "a/../../b", "/etc", "a/$(x)", "a\nb"])
def test_root_subpath_rejects(value: str) -> None:
    with pytest.raises(DeployFailed):
        root_subpath(value)


def _tree(root: Path) -> Path:
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "b.txt").write_text("b")
    (root / "a.txt").write_text("a")
    (root / "link").symlink_to("a.txt")
    return root


def _spec() -> oci.ImageSpec:
    return oci.ImageSpec("local/ws/app", "python main.py", {"PATH": "/bin"}, "8080", {})


def test_package_is_deterministic_and_valid(tmp_path: Path) -> None:
    images = tmp_path / "images"
    first = oci.package(images, _tree(tmp_path / "one"), _spec())
    (tmp_path / "two").mkdir()
    second = oci.package(images, _tree(tmp_path / "two" / "app"), _spec())
    assert first == second
    hexd = first.digest.removeprefix("sha256:")
    blob = Path(first.path) / "blobs" / "sha256" / hexd
    assert hashlib.sha256(blob.read_bytes()).hexdigest() == hexd
    index = json.loads((Path(first.path) / "index.json").read_text())
    assert index["manifests"][0]["digest"] == first.digest
    assert first.ref == f"local/ws/app:sha256-{hexd[:12]}"
    assert (Path(first.app_dir) / "link").is_symlink()
    assert oci.load(Path(first.path), ref=first.ref) == first
    assert oci.load(Path(first.path)).ref == first.digest  # no name of its first owner
    assert not list(images.glob(".tmp-*"))


def test_a_shared_image_is_named_for_each_builder(tmp_path: Path) -> None:
    images = tmp_path / "images"
    first = oci.package(images, _tree(tmp_path / "one"), _spec())
    other = oci.ImageSpec("local/ws2/web", "python main.py", {"PATH": "/bin"}, "8080", {})
    (tmp_path / "two").mkdir()
    second = oci.package(images, _tree(tmp_path / "two" / "app"), other)
    assert second.digest == first.digest and second.path == first.path
    assert second.ref.startswith("local/ws2/web:")
    assert b"ws/app" not in (Path(first.path) / "index.json").read_bytes()
    assert b"ws/app" not in (Path(first.path) / "image.json").read_bytes()


def test_image_files_become_roots_and_readable_by_every_uid(tmp_path: Path) -> None:
    tree = _tree(tmp_path / "one")
    secret = tree / "private.key"
    secret.write_text("k")
    secret.chmod(0o600)
    (tree / "run.sh").write_text("#!/bin/sh\n")
    (tree / "run.sh").chmod(0o4750)  # setuid, group-executable
    os.chown(secret, 12345, 12345)
    image = oci.package(tmp_path / "images", tree, _spec())
    app = Path(image.app_dir)
    assert (app / "private.key").stat().st_mode & 0o7777 == 0o644
    assert (app / "private.key").stat().st_uid == 0
    assert (app / "run.sh").stat().st_mode & 0o7777 == 0o755
    assert app.stat().st_mode & 0o7777 == 0o755


def test_digest_hex() -> None:
    assert oci.digest_hex("sha256:" + "a" * 64) == "a" * 64
    assert oci.digest_hex("sha256:../../etc") is None


def test_build_key_changes_with_settings() -> None:
    now = datetime.now(UTC)
    app = App("app_1", "ws_1", "web", "https://x/y.git", now, now)
    commit = Commit("main", "a" * 40, "m")
    key = build_key(app, commit)
    assert len(key) == 64 and int(key, 16) >= 0
    for changed in ({"install_command": "npm i"}, {"build_command": "make"},
                    {"root_directory": "web"}, {"env": {"VITE_API_URL": "https://a"}},
                    {"env": {"NIXPACKS_NODE_VERSION": "18"}}):  # fmt: skip
        assert build_key(replace(app, **changed), commit) != key, changed
    # What only the running app reads reuses the image.
    runtime_env = {"DATABASE_URL": "postgres://x", "SECRET": "s"}
    for same in ({"start_command": "node other.js"}, {"health_check_path": "/up"},
                 {"replicas": 3}, {"env": runtime_env}):  # fmt: skip
        assert build_key(replace(app, **same), commit) == key, same
    # ... unless the build commands name the variable.
    named = replace(app, build_command="make TARGET=$TARGET", env={"TARGET": "a"})
    assert build_key(named, commit) != build_key(replace(named, env={"TARGET": "b"}), commit)
