"""What versions of its toolchains an app asks for, read as nixpacks reads them.

Pure: it only reads the checkout, through `providers.base.read_text`/`read_json` (a symlink of
the repository reads as an absent file, so a link never makes the host read one of its own
files), and never runs or fetches anything.

Each tool's request comes from the first place that names one, in nixpacks' order:

- Node: `NIXPACKS_NODE_VERSION`, package.json `engines.node`, `.nvmrc`, `.node-version`;
- Python: `NIXPACKS_PYTHON_VERSION`, `.python-version`, `runtime.txt` (`python-3.x.y`),
  `Pipfile` (`[requires] python_version` / `python_full_version`), pyproject.toml's
  `requires-python` (PEP 440, translated);
- yarn, pnpm, bun: package.json `packageManager` (`yarn@4.1.0`, `pnpm@9.1.0+sha512.…`, the
  exact version), then `engines.<tool>`; yarn without either is Yarn classic (1.x), whether
  or not a `.yarnrc.yml` (Yarn Berry, which classic hands over to through `yarnPath`) is
  there; pnpm without either follows pnpm-lock.yaml's `lockfileVersion`;
- Go: `NIXPACKS_GO_VERSION`, go.mod's `go` line (a minimum: newer Go builds older modules);
- Ruby: `.ruby-version`, the Gemfile's `ruby` line (RubyGems' `~>` translated).

`Range` is a small npm-style semver range: exact (`18.20.4`, `v18.20.4`, `=18.20.4`), partial
(`18`, `18.x`, `18.2.*`), `^`, `~`, `>=`, `>`, `<=`, `<`, hyphen ranges (`1.2 - 2`),
space-separated comparators (all must hold), `||` (any set), `*`/`x`/"" (anything), and nvm's
aliases `node`, `latest`, `current`, `lts/*` and `lts/<codename>`. A prerelease
(`4.0.0-rc.1`) satisfies a range only when one of its comparators names the same
major.minor.patch with a prerelease, as in npm.
"""

from __future__ import annotations

import dataclasses
import re
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from slipway.builder.providers.base import read_json, read_text

__all__ = [
    "LTS_CODENAMES",
    "Range",
    "RangeError",
    "Request",
    "Version",
    "parse_range",
    "parse_version",
    "read_requests",
]

TOOLS = ("node", "python", "yarn", "pnpm", "bun", "go", "ruby")
TITLES = {
    "node": "Node",
    "python": "Python",
    "yarn": "Yarn",
    "pnpm": "pnpm",
    "bun": "Bun",
    "go": "Go",
    "ruby": "Ruby",
    "npm": "npm",
}
# nvm's `lts/<codename>` aliases: the even majors that became long-term support releases.
LTS_CODENAMES = {
    "argon": 4,
    "boron": 6,
    "carbon": 8,
    "dubnium": 10,
    "erbium": 12,
    "fermium": 14,
    "gallium": 16,
    "hydrogen": 18,
    "iron": 20,
    "jod": 22,
    "krypton": 24,
}
MAX_WANTED = 100  # a request longer than this is not a version range anyone writes

_NUM = r"(?:0|[1-9]\d{0,8})"
_VERSION = re.compile(
    rf"^v?({_NUM})\.({_NUM})\.({_NUM})(?:-([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?(?:\+[0-9A-Za-z.-]+)?$"
)
_PARTIAL = re.compile(
    rf"^v?({_NUM}|[xX*])(?:\.({_NUM}|[xX*]))?(?:\.({_NUM}|[xX*]))?"
    r"(?:-([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?(?:\+[0-9A-Za-z.-]+)?$"
)
_OPS = ("<=", ">=", "<", ">", "=", "^", "~")
# packageManager: "<name>@<exact version>[+<hash algorithm>.<hex>]" (corepack's format)
_PACKAGE_MANAGER = re.compile(
    r"^(npm|yarn|pnpm|bun)@(\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?)(\+(?:sha1|sha224|sha256|sha512)\.[0-9a-f]{40,128})?$"
)


class RangeError(ValueError):
    """The text is not a version range this module can read."""


# --------------------------------------------------------------------------- versions


@dataclass(frozen=True, order=True)
class Version:
    major: int
    minor: int
    patch: int
    pre: tuple[tuple[int, int | str], ...] = ()  # empty: a release (sorts after its prereleases)

    def key(self) -> tuple[int, int, int, int, tuple[tuple[int, int | str], ...]]:
        """A sort key: releases after their prereleases, numeric identifiers before text."""
        return (self.major, self.minor, self.patch, 0 if self.pre else 1, self.pre)

    def __str__(self) -> str:
        text = f"{self.major}.{self.minor}.{self.patch}"
        if self.pre:
            text += "-" + ".".join(str(part) for _, part in self.pre)
        return text


def _pre(text: str | None) -> tuple[tuple[int, int | str], ...]:
    if not text:
        return ()
    return tuple((0, int(p)) if p.isdigit() else (1, p) for p in text.split("."))


def parse_version(text: str) -> Version | None:
    """`1.2.3`, `v1.2.3`, `1.2.3-rc.1` (build metadata ignored); None if it is not one."""
    m = _VERSION.fullmatch(text.strip())
    if m is None:
        return None
    return Version(int(m[1]), int(m[2]), int(m[3]), _pre(m[4]))


def _lt(a: Version, b: Version) -> bool:
    return a.key() < b.key()


# --------------------------------------------------------------------------- ranges


@dataclass(frozen=True)
class _Comparator:
    op: str  # one of "<", "<=", ">", ">=", "=", "!=", "!in" (outside [version, high))
    version: Version
    high: Version | None = None

    def test(self, v: Version) -> bool:
        a, b = v.key(), self.version.key()
        if self.op == "!in":
            assert self.high is not None
            return not (b <= a < self.high.key())
        return {
            "<": a < b,
            "<=": a <= b,
            ">": a > b,
            ">=": a >= b,
            "=": a == b,
            "!=": a != b,
        }[self.op]


@dataclass(frozen=True)
class Range:
    """Sets of comparators: a version satisfies the range when it satisfies every
    comparator of any one set. An empty set matches every release."""

    sets: tuple[tuple[_Comparator, ...], ...] = ((),)
    text: str = "*"
    lts_only: bool = False  # nvm's `lts/*`: the highest long-term support release

    def satisfied_by(self, version: Version | str) -> bool:
        v = parse_version(version) if isinstance(version, str) else version
        if v is None:
            return False
        if self.lts_only and v.major not in LTS_CODENAMES.values():
            return False
        return any(self._set_allows(s, v) for s in self.sets)

    @staticmethod
    def _set_allows(comparators: tuple[_Comparator, ...], v: Version) -> bool:
        if not all(c.test(v) for c in comparators):
            return False
        if not v.pre:
            return True
        # npm: a prerelease only when a comparator names the same tuple with a prerelease
        same = (v.major, v.minor, v.patch)
        return any(
            c.version.pre and (c.version.major, c.version.minor, c.version.patch) == same
            for c in comparators
        )

    def best(self, versions: Iterable[Version | str], *, prefer_lts: bool = False) -> str | None:
        """The highest version that satisfies the range (with `prefer_lts`: the highest of an
        even major when there is one, as Node's long-term support lines are), or None."""
        found: list[Version] = []
        for item in versions:
            v = parse_version(item) if isinstance(item, str) else item
            if v is not None and self.satisfied_by(v):
                found.append(v)
        if not found:
            return None
        if prefer_lts:
            even = [v for v in found if v.major % 2 == 0 and not v.pre]
            found = even or found
        return str(max(found, key=Version.key))

    def __str__(self) -> str:
        return self.text


def parse_range(text: str) -> Range:
    """An npm-style range (see the module's docstring). RangeError when unreadable."""
    raw = text.strip()
    if len(raw) > MAX_WANTED:
        raise RangeError("too long")
    lowered = raw.lower()
    if lowered in ("", "*", "x", "node", "latest", "current", "stable"):
        return Range(text=raw or "*")
    if lowered.startswith("lts/") or lowered.startswith("lts-"):
        name = lowered[4:]
        if name == "*":
            return Range(text=raw, lts_only=True)
        if name in LTS_CODENAMES:
            return Range(tuple(_partial_sets("", f"{LTS_CODENAMES[name]}")), text=raw)
        raise RangeError(f"unknown LTS name {name!r}")
    sets: list[tuple[_Comparator, ...]] = []
    for alternative in raw.split("||"):
        sets.extend(_parse_set(alternative.strip()))
    return Range(tuple(sets), text=raw)


def _parse_set(text: str) -> list[tuple[_Comparator, ...]]:
    if text in ("", "*", "x", "X"):
        return [()]
    hyphen = re.fullmatch(r"(\S+)\s+-\s+(\S+)", text)
    if hyphen:
        low = _partial_sets(">=", hyphen[1])[0]
        high = _partial_sets("<=", hyphen[2])[0]
        return [low + high]
    # "> = 1.2" and ">= 1.2": operators may be followed by spaces
    tokens = re.sub(r"(<=|>=|<|>|=|\^|~>?)\s+", r"\1", text).split()
    comparators: list[_Comparator] = []
    for token in tokens:
        op = next((o for o in ("~>", *_OPS) if token.startswith(o)), "")
        rest = token[len(op) :].lstrip("=")
        comparators.extend(_partial_sets("~" if op == "~>" else op, rest)[0])  # "~>" is "~"
    return [tuple(comparators)]


def _partial_sets(op: str, text: str) -> list[tuple[_Comparator, ...]]:
    """The comparators one `<op><partial version>` stands for, as node-semver expands it."""
    m = _PARTIAL.fullmatch(text)
    if m is None:
        raise RangeError(f"not a version: {text!r}")
    parts = [None if p is None or p in "xX*" else int(p) for p in (m[1], m[2], m[3])]
    pre = _pre(m[4])
    major, minor, patch = parts
    if major is None:
        if op in ("<", ">"):
            return [(_Comparator("<", Version(0, 0, 0)),)]  # nothing
        return [()]
    if minor is None:
        minor_v, patch_v, width = 0, 0, "major"
    elif patch is None:
        minor_v, patch_v, width = minor, 0, "minor"
    else:
        minor_v, patch_v, width = minor, patch, "full"
    low = Version(major, minor_v, patch_v, pre)

    def c(o: str, v: Version) -> _Comparator:
        return _Comparator(o, v)

    if width == "major":
        upper = Version(major + 1, 0, 0, ((0, 0),))
    elif width == "minor":
        upper = Version(major, minor_v + 1, 0, ((0, 0),))
    else:
        upper = low
    if op in ("", "="):
        if width == "full":
            return [(c("=", low),)]
        return [(c(">=", low), c("<", upper))]
    if op == ">=":
        return [(c(">=", low),)]
    if op == ">":
        if width == "full":
            return [(c(">", low),)]
        return [(c(">=", Version(upper.major, upper.minor, upper.patch)),)]
    if op == "<":
        return [(c("<", low),)]
    if op == "<=":
        return [(c("<", upper),)] if width != "full" else [(c("<=", low),)]
    if op == "~":
        if width == "major":
            return [(c(">=", low), c("<", Version(major + 1, 0, 0, ((0, 0),))))]
        return [(c(">=", low), c("<", Version(major, minor_v + 1, 0, ((0, 0),))))]
    # "^": the leftmost non-zero part may not change
    if width == "major" or major > 0:
        high = Version(major + 1, 0, 0, ((0, 0),))
    elif width == "minor" or minor_v > 0:
        high = Version(0, minor_v + 1, 0, ((0, 0),))
    else:
        high = Version(0, 0, patch_v + 1, ((0, 0),))
    return [(c(">=", low), c("<", high))]


def _triple(parts: Sequence[int], *, floor: bool = False) -> Version:
    """A version from up to three numbers (missing ones 0); `floor`: its lowest prerelease,
    the exclusive upper bound of a range (`<2.0.0-0`)."""
    padded = [*parts, 0, 0]
    return Version(padded[0], padded[1], padded[2], ((0, 0),) if floor else ())


def pep440_range(text: str) -> Range:
    """A Python `requires-python` specifier (`>=3.9,<3.13`, `~=3.11`, `==3.11.*`) as a
    Range. RangeError when unreadable."""
    comparators: list[_Comparator] = []
    for clause in (p.strip() for p in text.split(",")):
        m = re.fullmatch(r"(~=|===|==|!=|<=|>=|<|>)\s*(\d+(?:\.\d+){0,2})(\.\*)?", clause)
        if m is None:
            raise RangeError(f"not a Python version specifier: {clause!r}")
        op, number, star = m[1], m[2], m[3]
        parts = [int(p) for p in number.split(".")]
        full = _triple(parts)
        if op == "~=":
            if len(parts) < 2:
                raise RangeError("~= needs two parts")
            comparators.append(_Comparator(">=", full))
            bump = parts[:-1]
            bump[-1] += 1
            comparators.append(_Comparator("<", _triple(bump, floor=True)))
        elif op in ("==", "===") and (star or len(parts) < 3):
            if op == "==" and not star:
                comparators.append(_Comparator("=", full))
                continue
            comparators += _partial_sets("", number)[0]
        elif op == "!=" and star:
            low, high = _partial_sets("", number)[0]
            comparators.append(_Comparator("!in", low.version, high.version))
        else:
            comparators.append(_Comparator({"==": "=", "===": "="}.get(op, op), full))
    return Range((tuple(comparators),), text=text.strip())


def gem_range(text: str) -> Range:
    """A RubyGems requirement list (`"~> 3.2.0"`, `">= 3.0", "< 4"`) as a Range."""
    comparators: list[_Comparator] = []
    for clause in (p.strip() for p in text.split(",")):
        m = re.fullmatch(r"(~>|>=|<=|!=|=|<|>)?\s*(\d+(?:\.\d+){0,2})", clause)
        if m is None:
            raise RangeError(f"not a Ruby version requirement: {clause!r}")
        op, number = m[1] or "=", m[2]
        parts = [int(p) for p in number.split(".")]
        full = _triple(parts)
        if op == "~>":
            comparators.append(_Comparator(">=", full))
            bump = parts[:-1] if len(parts) > 1 else parts
            bump[-1] += 1
            comparators.append(_Comparator("<", _triple(bump, floor=True)))
        elif op == "=" and len(parts) < 3:
            comparators += _partial_sets("", number)[0]
        else:
            comparators.append(_Comparator(op, full))
    return Range((tuple(comparators),), text=text.strip())


# --------------------------------------------------------------------------- requests


@dataclass(frozen=True)
class Request:
    """One toolchain version the app asks for."""

    tool: str  # "node", "python", "yarn", "pnpm", "bun", "go", "ruby"
    wanted: str  # the range as written ("18.x", "3.12", ">=3.9,<3.13")
    source: str  # where it was read: "package.json engines.node", ".python-version"
    file: str  # the file to change to ask for another: "package.json"
    range: Range | None  # None: not a range this module can read
    spec: str = ""  # packageManager's full value, with its hash ("yarn@4.1.0+sha512.…")
    default: bool = False  # not asked for: Slipway's choice (yarn classic for a yarn.lock)

    @property
    def title(self) -> str:
        return TITLES.get(self.tool, self.tool)

    def describe(self) -> str:
        """`Node 18.x (package.json engines.node)`."""
        return f"{self.title} {self.wanted} ({self.source})"


def read_requests(app_dir: Path, env: Mapping[str, str] | None = None) -> dict[str, Request]:
    """Every toolchain request the app makes, by tool (see the module's docstring)."""
    env = env or {}
    package = read_json(app_dir / "package.json")
    found: dict[str, Request] = {}
    for request in (
        _node(app_dir, package, env),
        _python(app_dir, env),
        *_package_managers(app_dir, package),
        _go(app_dir, env),
        _ruby(app_dir),
    ):
        if request is not None and request.tool not in found:
            found[request.tool] = request
    return found


def _request(tool: str, wanted: str, source: str, file: str, *, kind: str = "npm") -> Request:
    wanted = " ".join(wanted.split())[:MAX_WANTED]
    try:
        parsed = {"npm": parse_range, "pep440": pep440_range, "gem": gem_range}[kind](wanted)
    except RangeError:
        parsed = None
    return Request(tool, wanted, source, file, parsed)


def _first_line(text: str) -> str:
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            return line
    return ""


def _engines(package: Mapping[str, object]) -> Mapping[str, object]:
    engines = package.get("engines")
    return engines if isinstance(engines, dict) else {}


def _node(app_dir: Path, package: Mapping[str, object], env: Mapping[str, str]) -> Request | None:
    if env.get("NIXPACKS_NODE_VERSION", "").strip():
        return _request("node", env["NIXPACKS_NODE_VERSION"], "NIXPACKS_NODE_VERSION",
                        "the app's NIXPACKS_NODE_VERSION")  # fmt: skip
    engine = _engines(package).get("node")
    if isinstance(engine, str) and engine.strip():
        return _request("node", engine, "package.json engines.node", "package.json")
    for name in (".nvmrc", ".node-version"):
        line = _first_line(read_text(app_dir / name))
        if line:
            return _request("node", line, name, name)
    return None


def _python(app_dir: Path, env: Mapping[str, str]) -> Request | None:
    if env.get("NIXPACKS_PYTHON_VERSION", "").strip():
        return _request("python", env["NIXPACKS_PYTHON_VERSION"], "NIXPACKS_PYTHON_VERSION",
                        "the app's NIXPACKS_PYTHON_VERSION")  # fmt: skip
    line = _first_line(read_text(app_dir / ".python-version"))
    if line:
        return _request("python", line.removeprefix("python-").removeprefix("cpython-"),
                        ".python-version", ".python-version")  # fmt: skip
    line = _first_line(read_text(app_dir / "runtime.txt"))
    if line:
        return _request("python", line.removeprefix("python-"), "runtime.txt", "runtime.txt")
    pipfile = read_text(app_dir / "Pipfile")
    if pipfile:
        requires = _toml_table(pipfile, "requires")
        for key in ("python_full_version", "python_version"):
            if requires.get(key):
                return _request("python", requires[key], f"Pipfile {key}", "Pipfile")
    pyproject = read_text(app_dir / "pyproject.toml")
    if pyproject:
        spec = _toml_table(pyproject, "project").get("requires-python", "")
        if not spec:
            # Poetry: [tool.poetry.dependencies] python = "^3.11"
            poetry = _toml_table(pyproject, "tool.poetry.dependencies").get("python", "")
            if poetry:
                return _request("python", poetry, "pyproject.toml tool.poetry python",
                                "pyproject.toml")  # fmt: skip
        if spec:
            return _request("python", spec, "pyproject.toml requires-python", "pyproject.toml",
                            kind="pep440")  # fmt: skip
    return None


def _toml_table(text: str, table: str) -> dict[str, str]:
    """The string values of one TOML table ({} when the file is not valid TOML)."""
    try:
        data: object = tomllib.loads(text)
    except (tomllib.TOMLDecodeError, ValueError):
        return {}
    for part in table.split("."):
        data = data.get(part) if isinstance(data, dict) else None
    if not isinstance(data, dict):
        return {}
    return {k: v for k, v in data.items() if isinstance(k, str) and isinstance(v, str)}


def _package_managers(app_dir: Path, package: Mapping[str, object]) -> list[Request]:
    found: list[Request] = []
    declared = package.get("packageManager")
    if isinstance(declared, str) and declared.strip():
        m = _PACKAGE_MANAGER.fullmatch(declared.strip())
        name = declared.split("@", 1)[0].strip()
        if m is not None and m[1] != "npm":
            request = _request(m[1], m[2], "package.json packageManager", "package.json")
            found.append(dataclasses.replace(request, spec=declared.strip()))
        elif m is None and name in ("yarn", "pnpm", "bun"):
            found.append(Request(name, declared.strip()[:MAX_WANTED],
                                 "package.json packageManager", "package.json", None))  # fmt: skip
    engines = _engines(package)
    for tool in ("yarn", "pnpm", "bun"):
        engine = engines.get(tool)
        if isinstance(engine, str) and engine.strip():
            found.append(_request(tool, engine, f"package.json engines.{tool}", "package.json"))
    if (app_dir / "yarn.lock").is_file() and not (app_dir / "yarn.lock").is_symlink():
        found.append(Request("yarn", "1", "yarn.lock", "package.json",
                             parse_range("1"), default=True))  # fmt: skip
    lock = read_text(app_dir / "pnpm-lock.yaml")
    if lock:
        m = re.search(r"^lockfileVersion:\s*['\"]?(\d+)(?:\.(\d+))?", lock, re.MULTILINE)
        major = {"9": "9", "6": "8", "5": "7"}.get(m[1], "9") if m else "9"
        source = f"pnpm-lock.yaml lockfileVersion {m[1]}" if m else "pnpm-lock.yaml"
        found.append(Request("pnpm", major, source, "package.json", parse_range(major),
                             default=True))  # fmt: skip
    return found


def _go(app_dir: Path, env: Mapping[str, str]) -> Request | None:
    if env.get("NIXPACKS_GO_VERSION", "").strip():
        wanted = env["NIXPACKS_GO_VERSION"].strip()
        return _request("go", wanted, "NIXPACKS_GO_VERSION", "the app's NIXPACKS_GO_VERSION")
    m = re.search(r"^go\s+(\d+\.\d+(?:\.\d+)?)\s*$", read_text(app_dir / "go.mod"), re.MULTILINE)
    if m is None:
        return None
    request = _request("go", m[1], "go.mod go", "go.mod")
    # a minimum: a newer Go builds a module that names an older one
    return dataclasses.replace(request, range=_at_least(m[1]))


def _at_least(text: str) -> Range | None:
    try:
        return parse_range(f">={text}")
    except RangeError:
        return None


def _ruby(app_dir: Path) -> Request | None:
    line = _first_line(read_text(app_dir / ".ruby-version"))
    if line:
        return _request("ruby", line.removeprefix("ruby-"), ".ruby-version", ".ruby-version")
    gemfile = read_text(app_dir / "Gemfile")
    m = re.search(r"^\s*ruby\s*\(?\s*((?:['\"][^'\"\n]{1,40}['\"]\s*,?\s*)+)", gemfile, re.M)
    if m is None:
        return None
    clauses = re.findall(r"['\"]([^'\"\n]+)['\"]", m[1])
    return _request("ruby", ", ".join(clauses), "Gemfile ruby", "Gemfile", kind="gem")


def versions_of(items: Sequence[str]) -> list[Version]:
    """The parseable versions among `items`."""
    return [v for v in map(parse_version, items) if v is not None]
