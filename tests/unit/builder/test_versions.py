"""builder/versions.py: what an app asks for, and the npm-style range matcher."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from slipway.builder.versions import (
    RangeError,
    Version,
    gem_range,
    parse_range,
    parse_version,
    pep440_range,
    read_requests,
)

RANGES = [
    # (range, version, satisfied)
    ("18", "18.20.4", True),
    ("18", "19.0.0", False),
    ("18", "17.9.9", False),
    ("18.x", "18.0.0", True),
    ("18.X", "18.3.1", True),
    ("18.2.*", "18.2.7", True),
    ("18.2.*", "18.3.0", False),
    ("18.20.4", "18.20.4", True),
    ("v18.20.4", "18.20.4", True),
    ("=18.20.4", "18.20.5", False),
    ("^18.2", "18.9.1", True),
    ("^18.2", "18.1.9", False),
    ("^18.2", "19.0.0", False),
    ("^0.2.3", "0.2.9", True),
    ("^0.2.3", "0.3.0", False),
    ("^0.0.3", "0.0.4", False),
    ("~18.2", "18.2.9", True),
    ("~18.2", "18.3.0", False),
    ("~18", "18.9.0", True),
    ("~>18.2.1", "18.2.9", True),
    (">=16 <19", "18.1.0", True),
    (">=16 <19", "19.0.0", False),
    (">= 16", "22.0.0", True),
    (">18", "18.9.9", False),
    (">18", "19.0.0", True),
    (">18.1.0", "18.1.1", True),
    ("<18", "17.99.0", True),
    ("<18", "18.0.0", False),
    ("<=18", "18.99.0", True),
    ("<=18", "19.0.0", False),
    ("16 || 18", "18.0.0", True),
    ("16 || 18", "17.9.0", False),
    ("^14.17.0 || ^16.13.0 || >=18.0.0", "16.20.2", True),
    ("^14.17.0 || ^16.13.0 || >=18.0.0", "15.0.0", False),
    ("1.2 - 2", "2.9.9", True),
    ("1.2 - 2", "1.1.9", False),
    ("1.2 - 2", "3.0.0", False),
    ("*", "1.0.0", True),
    ("", "0.0.1", True),
    ("x", "7.0.0", True),
    ("node", "23.0.0", True),
    ("latest", "23.0.0", True),
    ("lts/*", "20.1.0", True),
    ("lts/*", "21.1.0", False),
    ("lts/hydrogen", "18.3.0", True),
    ("lts/hydrogen", "20.3.0", False),
    ("^4", "4.0.0-rc.1", False),
    ("^4.0.0-rc.1", "4.0.0-rc.2", True),
    ("^4.0.0-rc.1", "4.1.0", True),
    ("18.x", "18.0.0-rc.1", False),
    ("*", "1.0.0-beta", False),
]


@pytest.mark.parametrize(("text", "version", "expected"), RANGES)
def test_npm_ranges(text: str, version: str, expected: bool) -> None:
    assert parse_range(text).satisfied_by(version) is expected


@pytest.mark.parametrize("text", ["18.x.foo", ">=abc", "lts/nonesuch", "^", "1.2.3.4", "x" * 200])
def test_unreadable_ranges(text: str) -> None:
    with pytest.raises(RangeError):
        parse_range(text)


@pytest.mark.parametrize(
    ("text", "version", "expected"),
    [
        (">=3.9,<3.13", "3.12.1", True),
        (">=3.9,<3.13", "3.13.0", False),
        (">=3.9, <3.13", "3.8.18", False),
        ("~=3.11", "3.12.0", True),
        ("~=3.11", "4.0.0", False),
        ("~=3.11.2", "3.11.9", True),
        ("~=3.11.2", "3.12.0", False),
        ("==3.11.*", "3.11.7", True),
        ("==3.11.*", "3.12.0", False),
        ("==3.11.4", "3.11.4", True),
        ("!=3.10.*,>=3.8", "3.10.1", False),
        ("!=3.10.*,>=3.8", "3.11.1", True),
    ],
)
def test_python_specifiers(text: str, version: str, expected: bool) -> None:
    assert pep440_range(text).satisfied_by(version) is expected


@pytest.mark.parametrize(
    ("text", "version", "expected"),
    [
        ("~> 3.2.0", "3.2.9", True),
        ("~> 3.2.0", "3.3.0", False),
        ("~> 3.2", "3.9.0", True),
        ("~> 3.2", "4.0.0", False),
        ("3.2.2", "3.2.2", True),
        ("3.2", "3.2.5", True),
        (">= 3.0, < 4", "3.3.0", True),
        (">= 3.0, < 4", "4.0.0", False),
    ],
)
def test_ruby_requirements(text: str, version: str, expected: bool) -> None:
    assert gem_range(text).satisfied_by(version) is expected


def test_best_prefers_the_highest_and_lts() -> None:
    versions = ["18.20.4", "18.19.0", "21.7.3", "20.11.1", "22.0.0-rc.1"]
    assert parse_range(">=18").best(versions) == "21.7.3"
    assert parse_range(">=18").best(versions, prefer_lts=True) == "20.11.1"
    assert parse_range("18").best(versions) == "18.20.4"
    assert parse_range("lts/*").best(versions) == "20.11.1"
    assert parse_range("16").best(versions) is None


_numbers = st.integers(min_value=0, max_value=60)
_versions = st.builds(Version, _numbers, _numbers, _numbers)


@given(_versions)
def test_a_version_satisfies_itself_and_its_lines(v: Version) -> None:
    text = str(v)
    assert parse_version(text) == v
    assert parse_range(text).satisfied_by(v)
    assert parse_range(f"{v.major}").satisfied_by(v)
    assert parse_range(f"{v.major}.{v.minor}.x").satisfied_by(v)
    assert parse_range(f"~{text}").satisfied_by(v)
    assert parse_range(f"^{text}").satisfied_by(v)
    assert parse_range(f">={text}").satisfied_by(v)
    assert not parse_range(f">{text}").satisfied_by(v)
    assert not parse_range(f"<{text}").satisfied_by(v)


@given(_versions, _versions)
def test_comparators_agree_with_the_order(a: Version, b: Version) -> None:
    assert parse_range(f">={a}").satisfied_by(b) is (b.key() >= a.key())
    assert parse_range(f"<{a}").satisfied_by(b) is (b.key() < a.key())
    assert parse_range(f"{a} || {b}").satisfied_by(b)
    low, high = sorted([a, b], key=Version.key)
    assert parse_range(f"{low} - {high}").satisfied_by(a)


@given(_versions, _versions)
def test_caret_keeps_the_leftmost_nonzero_part(a: Version, b: Version) -> None:
    inside = parse_range(f"^{a}").satisfied_by(b)
    if a.major > 0:
        expected = b.major == a.major and b.key() >= a.key()
    elif a.minor > 0:
        expected = b.major == 0 and b.minor == a.minor and b.key() >= a.key()
    else:
        expected = (b.major, b.minor, b.patch) == (0, 0, a.patch)
    assert inside is expected


# --------------------------------------------------------------------------- requests


def _app(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    return tmp_path


def test_node_precedence_is_nixpacks(tmp_path: Path) -> None:
    app = _app(tmp_path, {"package.json": '{"engines": {"node": "18.x"}}', ".nvmrc": "v16\n",
                          ".node-version": "14"})  # fmt: skip
    node = read_requests(app)["node"]
    assert (node.wanted, node.source, node.file) == ("18.x", "package.json engines.node",
                                                     "package.json")  # fmt: skip
    assert node.describe() == "Node 18.x (package.json engines.node)"
    assert read_requests(app, {"NIXPACKS_NODE_VERSION": "20"})["node"].wanted == "20"
    (app / "package.json").write_text("{}")
    assert read_requests(app)["node"].source == ".nvmrc"
    assert read_requests(app)["node"].range.satisfied_by("16.20.2")  # type: ignore[union-attr]
    (app / ".nvmrc").unlink()
    assert read_requests(app)["node"].source == ".node-version"


def test_python_sources_in_order(tmp_path: Path) -> None:
    app = _app(tmp_path, {"pyproject.toml": '[project]\nrequires-python = ">=3.10,<3.12"\n'})
    py = read_requests(app)["python"]
    assert (py.source, py.wanted) == ("pyproject.toml requires-python", ">=3.10,<3.12")
    assert py.range is not None and py.range.satisfied_by("3.11.2")
    (app / "Pipfile").write_text('[requires]\npython_version = "3.9"\n')
    assert read_requests(app)["python"].source == "Pipfile python_version"
    (app / "runtime.txt").write_text("python-3.10.4\n")
    assert read_requests(app)["python"].wanted == "3.10.4"
    (app / ".python-version").write_text("# pinned\n3.12\n")
    py = read_requests(app)["python"]
    assert (py.wanted, py.source, py.file) == ("3.12", ".python-version", ".python-version")
    assert py.range is not None and py.range.satisfied_by("3.12.7")


def test_package_managers(tmp_path: Path) -> None:
    app = _app(tmp_path, {"package.json": '{"packageManager": "pnpm@9.1.0+sha512.' + "ab" * 64
                          + '", "engines": {"yarn": "^1.22"}}', "yarn.lock": ""})  # fmt: skip
    found = read_requests(app)
    assert found["pnpm"].wanted == "9.1.0" and found["pnpm"].spec.startswith("pnpm@9.1.0+sha512.")
    assert found["yarn"].source == "package.json engines.yarn"
    (app / "package.json").write_text('{"packageManager": "yarn@4.1.0"}')
    assert read_requests(app)["yarn"].spec == "yarn@4.1.0"
    (app / "package.json").write_text("{}")
    yarn = read_requests(app)["yarn"]
    assert yarn.default and yarn.wanted == "1" and yarn.source == "yarn.lock"
    (app / "yarn.lock").unlink()
    (app / "pnpm-lock.yaml").write_text("lockfileVersion: '6.0'\n")
    pnpm = read_requests(app)["pnpm"]
    assert pnpm.default and pnpm.wanted == "8" and "lockfileVersion 6" in pnpm.source


def test_bun_go_ruby(tmp_path: Path) -> None:
    gemfile = 'source "https://rubygems.org"\nruby "~> 3.2.0"\n'
    app = _app(tmp_path, {"package.json": '{"packageManager": "bun@1.1.3"}',
                          "go.mod": "module x\n\ngo 1.22\n", "Gemfile": gemfile})  # fmt: skip
    found = read_requests(app)
    assert found["bun"].wanted == "1.1.3"
    go = found["go"]
    assert (go.wanted, go.source) == ("1.22", "go.mod go")
    assert go.range is not None and go.range.satisfied_by("1.23.1")  # a minimum
    assert not go.range.satisfied_by("1.21.9")
    ruby = found["ruby"]
    assert ruby.source == "Gemfile ruby" and ruby.range is not None
    assert ruby.range.satisfied_by("3.2.4") and not ruby.range.satisfied_by("3.3.0")
    (app / ".ruby-version").write_text("ruby-3.3.1\n")
    assert read_requests(app)["ruby"].wanted == "3.3.1"


def test_unreadable_and_hostile_values(tmp_path: Path) -> None:
    app = _app(tmp_path, {".python-version": "3.12; rm -rf /\n",
                          "package.json": '{"engines": {"node": "../../etc"}}'})  # fmt: skip
    found = read_requests(app)
    assert found["python"].range is None and found["node"].range is None
    assert found["python"].wanted == "3.12; rm -rf /"  # kept for the error sentence only


def test_symlinked_files_are_not_read(tmp_path: Path) -> None:
    secret = tmp_path / "host-secret"
    secret.write_text("3.99\n")
    app = tmp_path / "app"
    app.mkdir()
    (app / ".python-version").symlink_to(secret)
    (app / ".nvmrc").symlink_to(secret)
    assert read_requests(app) == {}
