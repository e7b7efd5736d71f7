"""A build plan rendered as a self-contained Dockerfile (issue 17: Kubernetes builds).

On this host a build runs in a sandbox with the host's toolchains bound read-only, so its
image holds only `/app`. A Kubernetes cluster builds the plan instead with a rootless
builder (kaniko) from the checked-out repository as build context; `render(plan)` is the
Dockerfile it gets. Pure: it reads only the plan (and, when the caller resolved them, the
toolchain versions), touches no file and runs nothing. Same plan, same text.

Design decisions:

- **Base image.** The plan's `phases.setup.nixPkgs` name the toolchains. The first of them
  in the order java, go, rust, php, ruby, python, deno, node, bun, caddy chooses an official
  Docker Hub image, tagged with the major (Node, Java, Bun) or major.minor (Python, Go, PHP,
  Ruby) version: `render(plan, versions=...)` (what `versions.py`/`toolchains.py` resolved,
  e.g. {"node": "18.20.4"}) first, then a `NIXPACKS_<TOOL>_VERSION` of the plan's
  `variables`, then the version in the package name (`nodejs_18`, `python312`, `jdk21`,
  `php83`, `go_1_23`, `ruby_3_2`), then a default (see `_DEFAULTS`). Only digits and dots
  ever reach a `FROM` line. Deno's images carry full versions only, hence a pinned default.
  Nothing known: `debian:bookworm-slim`.
- **Other toolchains** of the plan come from their official images (`COPY --from=caddy:2`,
  `oven/bun`, `node`) or from Debian (`apt-get install --no-install-recommends`) for the
  names of `_APT` only; `phases.setup.aptPkgs` entries must be one of those Debian names.
  An unknown name is written in a comment (JSON-encoded), never installed. A static site
  alone gets `caddy:2` (Alpine, no apt): when anything must be added it gets Debian plus
  Caddy's binary instead.
- **Go, Rust, Java** build in the full image and run on a slim one (`debian:bookworm-slim`
  with CA certificates, `eclipse-temurin:<v>-jre`), `/app` copied over, when the plan has
  a start command that needs no build tool (`go`, `cargo`, `mvn`, `gradle` ...) and no
  other toolchain. Otherwise one stage.
- **Phases** in order setup, install, build: the install phase first copies only its
  `onlyIncludeFiles` (each to its own path, so the layer is reused while they do not
  change; a name that is not a plain relative path falls back to the whole context), then
  everything (`COPY . /app`). Each command is its own `RUN ["/bin/sh", "-c", <cmd>]`, the
  command JSON-encoded: exec form, so the Dockerfile parser neither splits, substitutes nor
  re-quotes it, and the encoding keeps it on one line (`\\n` for a newline) and writes `<`
  as `\\u003c` so that no `<<WORD` can be read as a heredoc.
- **No cache mounts**: kaniko has no `RUN --mount=type=cache`, so `cacheDirectories` are
  listed in a comment only; kaniko's own layer cache is what is reused.
- **Variables**: the plan's `variables` (the provider's and the config file's, never the
  app's environment, which may hold secrets and is the pod's business) become
  `ENV KEY="value"`, backslash, double quote and `$` escaped with a backslash (the only
  escapes ENV's double quotes know). A key that is not `[A-Za-z_][A-Za-z0-9_]*` or a value
  with a line break or another control character (ENV has no way to write one) is skipped,
  with a comment. `/app/.venv/bin:/app/node_modules/.bin` lead `PATH`, as in local builds.
  No build arguments and no build-time secrets.
- **Static assets** (`staticAssets`, e.g. a static site's Caddyfile) are written to
  `/app/.slipway/assets/<name>` after the build by an exec-form RUN that decodes base64
  (`printf %s <b64> | base64 -d`): base64 needs no quoting and kaniko's heredoc support is
  unreliable. Whatever `.slipway` the build left is removed first. Asset names must be
  plain file names (as `assets.write_assets` requires), else DeployFailed.
- **Runtime**: files stay root's (the pods run as `10001:10001` with a read-only root
  filesystem and a writable `/tmp`), so the end is `ENV HOME=/tmp` (and Caddy's config and
  data directories under it), `ENV PORT=8080`, `USER 10001:10001`, `EXPOSE 8080`,
  `ENTRYPOINT []` (no base image's entrypoint wraps the command) and, when the plan has
  `start.cmd`, `CMD ["/bin/sh", "-c", <start cmd>]`.
- Comments that quote the plan JSON-encode what they quote: they stay on their line.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from slipway.domain.errors import DeployFailed

USER = "10001:10001"
PORT = "8080"
APP_DIR = "/app"
ASSETS_DIR = "/app/.slipway/assets"
APP_PATH = "/app/.venv/bin:/app/node_modules/.bin"
DEBIAN = "debian:bookworm-slim"
CADDY_IMAGE = "caddy:2"
COMPOSER_IMAGE = "composer:2"

_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_ASSET_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
_INPUT = re.compile(r"^[A-Za-z0-9_.@+-][A-Za-z0-9_.@+/-]{0,255}$")  # an onlyIncludeFiles entry
_PROVIDER = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
_VERSION = re.compile(r"^v?(\d{1,4})(?:\.(\d{1,4}))?(?:\.(\d{1,4}))?$")
_EXACT = re.compile(r"^v?(\d{1,4}\.\d{1,4}\.\d{1,4})$")
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f\x85\u2028\u2029]")

# tool -> version used when nothing names one
_DEFAULTS = {
    "node": "20",
    "python": "3.11",
    "go": "1.22",
    "rust": "1",
    "java": "17",
    "php": "8.2",
    "ruby": "3.3",
    "deno": "2.1.4",
    "bun": "1",
}
# tool -> how many parts of the version its image tags carry
_PRECISION = {"node": 1, "python": 2, "go": 2, "rust": 2, "java": 1, "php": 2, "ruby": 2, "bun": 1}
# Choosing the base image: the first of these the plan has
_PRIORITY = ("java", "go", "rust", "php", "ruby", "python", "deno", "node", "bun", "caddy")
# nixPkgs name -> (tool, version in the name), by pattern
_TOOL_PACKAGES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"^nodejs(?:[-_](\d{1,3})(?:_x)?)?$"), "node"),
    (re.compile(r"^python3(\d{1,2})?(?:Full)?$"), "python"),
    (re.compile(r"^go(?:_(\d{1,2})_(\d{1,3}))?$"), "go"),
    (re.compile(r"^(?:rustc|cargo)$"), "rust"),
    (re.compile(r"^(?:jdk|openjdk)(\d{1,3})?$"), "java"),
    (re.compile(r"^php(\d)(\d)?$|^php$"), "php"),
    (re.compile(r"^ruby(?:_(\d)_(\d{1,2}))?$"), "ruby"),
    (re.compile(r"^deno$"), "deno"),
    (re.compile(r"^bun$"), "bun"),
    (re.compile(r"^caddy$"), "caddy"),
)
# nixPkgs that the base images (or the tool images chosen for them) already provide
_PROVIDED = re.compile(
    r"^(?:npm(?:-\d{1,3}_x)?|yarn(?:-1_x)?|corepack|maven|gradle|bundler|bash|sh|coreutils"
    r"|findutils|gnugrep|gnused|gnutar|gzip|which)$"
)
# nixPkgs installed with one fixed command: name pattern -> argv (`{0}`: the name's number)
_PNPM = re.compile(r"^pnpm(?:-(\d{1,2})_x)?$")
# nixPkgs -> Debian packages (the only names apt-get ever sees)
_APT: dict[str, tuple[str, ...]] = {
    "gcc": ("gcc", "libc6-dev"),
    "gnumake": ("make",),
    "git": ("git",),
    "curl": ("curl",),
    "wget": ("wget",),
    "openssl": ("openssl",),
    "cacert": ("ca-certificates",),
    "pkg-config": ("pkg-config",),
    "ffmpeg": ("ffmpeg",),
    "imagemagick": ("imagemagick",),
    "postgresql": ("postgresql-client",),
    "libpq": ("libpq-dev",),
    "sqlite": ("sqlite3",),
    "unzip": ("unzip",),
    "zip": ("zip",),
    "jq": ("jq",),
    "openssh": ("openssh-client",),
    "graphviz": ("graphviz",),
    "ghostscript": ("ghostscript",),
    "poppler_utils": ("poppler-utils",),
    "chromium": ("chromium",),
    "vips": ("libvips-dev",),
    "python3": ("python3", "python3-venv"),  # only when Python is not the base image's tool
}
_APT_NAMES = frozenset(name for names in _APT.values() for name in names)
# build-only commands: a start command naming one keeps the single build stage
_BUILD_TOOLS = {
    "go": re.compile(r"\bgo\b"),
    "rust": re.compile(r"\b(?:cargo|rustc|rustup)\b"),
    "java": re.compile(r"\b(?:mvn|mvnw|gradle|gradlew|javac)\b"),
}


@dataclass(frozen=True)
class Base:
    """The image a plan builds on, and the one it runs on when that is another."""

    image: str
    runtime: str = ""  # a slim image for a second stage ("" for one stage)
    runtime_setup: tuple[str, ...] = ()  # instructions of the runtime stage after its FROM
    apt: bool = True  # Debian-based: apt-get works


@dataclass
class Setup:
    """What the setup phase asks for, sorted out."""

    tools: dict[str, str] = field(default_factory=dict)  # tool -> version
    apt: list[str] = field(default_factory=list)  # Debian packages
    argv: list[list[str]] = field(default_factory=list)  # fixed install commands
    copies: list[str] = field(default_factory=list)  # fixed COPY --from lines
    unknown: list[str] = field(default_factory=list)  # names neither installed nor provided


# --------------------------------------------------------------------------- encoding


def encode(value: object) -> str:
    """JSON on one line, ASCII only, `<` as `\\u003c` (never a heredoc marker)."""
    return json.dumps(value, ensure_ascii=True).replace("<", "\\u003c")


def env_quote(value: str) -> str:
    """`value` as a double-quoted Dockerfile ENV word: `\\`, `"` and `$` escaped.

    Only for values without control characters (`_CONTROL`), which ENV cannot hold."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$")
    return f'"{escaped}"'


def comment(text: str) -> str:
    """A comment line; `text` must already be free of line breaks (quote plan text with
    `encode`)."""
    return f"# {_CONTROL.sub(' ', text)}"


def shell_run(command: str) -> str:
    """`RUN` of a shell command, exec form: nothing in `command` can escape its string."""
    return f"RUN {encode(['/bin/sh', '-c', command])}"


def exec_run(argv: Sequence[str]) -> str:
    return f"RUN {encode(list(argv))}"


# --------------------------------------------------------------------------- reading the plan


def _strings(value: object) -> list[str]:
    """The strings of a list in the plan (anything else: none)."""
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _phase(plan: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    return _mapping(_mapping(plan.get("phases")).get(name))


def provider_name(plan: Mapping[str, Any]) -> str:
    """The plan's provider for the header ("none" without one or when it is odd)."""
    names = _strings(plan.get("providers"))
    metadata = _mapping(plan.get("variables")).get("NIXPACKS_METADATA")
    if not names and isinstance(metadata, str):
        names = metadata.split(",")[:1]
    name = names[0] if names else ""
    return name if _PROVIDER.fullmatch(name) else "none"


def _version(text: str, precision: int) -> str | None:
    """The first `precision` parts of a version ("20.11.1" -> "20"); None if not one."""
    m = _VERSION.fullmatch(text.strip())
    if m is None:
        return None
    return ".".join(p for p in m.groups()[:precision] if p is not None)


def tool_version(
    tool: str,
    from_name: str | None,
    variables: Mapping[str, Any],
    versions: Mapping[str, str],
) -> str:
    """The version of `tool`'s image: resolved, then the plan's variable, then the package
    name's, then the default. Only digits and dots."""
    variable = variables.get(f"NIXPACKS_{tool.upper()}_VERSION")
    if tool == "deno":  # its images are tagged with full versions only
        for text in (versions.get(tool), variable):
            m = _EXACT.fullmatch(text.strip()) if isinstance(text, str) else None
            if m:
                return m[1]
        return _DEFAULTS[tool]
    precision = _PRECISION.get(tool, 2)
    for text in (versions.get(tool), variable, from_name):
        found = _version(text, precision) if isinstance(text, str) else None
        if found:
            return found
    return _DEFAULTS.get(tool, "")


def _tool_of(package: str) -> tuple[str, str | None] | None:
    """("node", "18") for "nodejs_18"; None when the package is no toolchain."""
    for pattern, tool in _TOOL_PACKAGES:
        m = pattern.fullmatch(package)
        if m:
            parts = [p for p in m.groups() if p is not None]
            if tool == "python" and parts:  # python312: the minor version only
                parts = ["3", *parts]
            return tool, ".".join(parts) or None
    return None


def read_setup(plan: Mapping[str, Any], versions: Mapping[str, str]) -> Setup:
    """The setup phase sorted out: toolchains (with versions), Debian packages, the rest."""
    setup = Setup()
    named: dict[str, str | None] = {}
    phase = _phase(plan, "setup")
    for package in _strings(phase.get("nixPkgs")):
        found = _tool_of(package)
        pnpm = _PNPM.fullmatch(package)
        if found is not None:
            named.setdefault(found[0], found[1])
        elif pnpm is not None:
            setup.argv.append(["npm", "install", "-g", f"pnpm@{pnpm[1] or '9'}"])
        elif package == "composer":
            setup.copies.append(f"COPY --from={COMPOSER_IMAGE} /usr/bin/composer /usr/bin/composer")
            setup.apt += ["git", "unzip"]  # what composer fetches packages with
        elif package == "pipenv":
            setup.argv.append(["pip", "install", "--no-cache-dir", "pipenv"])
        elif package in _APT:
            setup.apt += _APT[package]
        elif not _PROVIDED.fullmatch(package):
            setup.unknown.append(package)
    for package in _strings(phase.get("aptPkgs")):
        (setup.apt if package in _APT_NAMES else setup.unknown).append(package)
    variables = _mapping(plan.get("variables"))
    for tool, from_name in named.items():
        setup.tools[tool] = tool_version(tool, from_name, variables, versions)
    return setup


# --------------------------------------------------------------------------- images


def primary_tool(setup: Setup) -> str | None:
    """The toolchain whose image the build starts from."""
    tool = next((t for t in _PRIORITY if t in setup.tools), None)
    others = [t for t in setup.tools if t != tool]
    if tool == "caddy" and (setup.apt or setup.argv or setup.copies or others):
        return next((t for t in _PRIORITY if t in others), None)  # Alpine: no apt
    return tool


def _java_image(version: str, packages: Iterable[str]) -> str:
    names = set(packages)
    if "maven" in names:
        return f"maven:3-eclipse-temurin-{version}"
    if "gradle" in names:
        return f"gradle:8-jdk{version}"
    return f"eclipse-temurin:{version}-jdk"


def base_image(tool: str | None, version: str, packages: Sequence[str]) -> Base:
    """The base image of `tool` at `version` (Debian without a tool)."""
    debian_runtime = (apt_run(["ca-certificates"]),)
    images = {
        "node": Base(f"node:{version}-bookworm-slim"),
        "python": Base(f"python:{version}-slim-bookworm"),
        "go": Base(f"golang:{version}-bookworm", DEBIAN, debian_runtime),
        "rust": Base(f"rust:{version}-slim-bookworm", DEBIAN, debian_runtime),
        "java": Base(_java_image(version, packages), f"eclipse-temurin:{version}-jre"),
        "php": Base(f"php:{version}-cli-bookworm"),
        "ruby": Base(f"ruby:{version}-slim-bookworm"),
        "deno": Base(f"denoland/deno:debian-{version}"),
        "bun": Base(f"oven/bun:{version}"),
        "caddy": Base(CADDY_IMAGE, apt=False),
    }
    return images.get(tool or "", Base(DEBIAN))


def addon_lines(tool: str, version: str) -> list[str]:
    """Instructions adding `tool` to another tool's image; [] when there is no way."""
    if tool == "caddy":
        return [f"COPY --from={CADDY_IMAGE} /usr/bin/caddy /usr/bin/caddy"]
    if tool == "bun":
        return [f"COPY --from=oven/bun:{version} /usr/local/bin/bun /usr/local/bin/bun"]
    if tool == "deno":
        return [f"COPY --from=denoland/deno:bin-{version} /deno /usr/local/bin/deno"]
    if tool == "node":
        image = f"node:{version}-bookworm-slim"
        links = " && ".join(
            f"ln -s ../lib/node_modules/{pkg}/bin/{script} /usr/local/bin/{cmd}"
            for cmd, pkg, script in (
                ("npm", "npm", "npm-cli.js"),
                ("npx", "npm", "npx-cli.js"),
                ("corepack", "corepack", "corepack.js"),
            )
        )
        return [
            f"COPY --from={image} /usr/local/bin/node /usr/local/bin/node",
            f"COPY --from={image} /usr/local/lib/node_modules /usr/local/lib/node_modules",
            shell_run(links),
        ]
    return []


def apt_run(packages: Iterable[str]) -> str:
    """One RUN installing Debian packages (names from `_APT` only), lists removed after."""
    names = " ".join(sorted(set(packages)))
    return shell_run(
        "apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y "
        f"--no-install-recommends {names} && rm -rf /var/lib/apt/lists/*"
    )


def setup_lines(setup: Setup, primary: str | None, base: Base) -> list[str]:
    """The setup phase: other toolchains, Debian packages, fixed installs, what is left out."""
    lines: list[str] = []
    apt = list(setup.apt)
    if primary == "python":
        apt = [a for a in apt if a not in _APT["python3"]]
    for tool in _PRIORITY:
        if tool == primary or tool not in setup.tools:
            continue
        added = addon_lines(tool, setup.tools[tool])
        if tool == "python" and not added:
            apt += _APT["python3"]
            continue
        lines += added or [comment(f"not available on this image: {encode(tool)}")]
    lines += setup.copies
    if apt and base.apt:
        lines.append(apt_run(apt))
    elif apt:
        lines.append(comment(f"no apt on this image, not installed: {encode(sorted(apt))}"))
    lines += [exec_run(argv) for argv in setup.argv]
    if setup.unknown:
        lines.append(comment(f"unknown packages, not installed: {encode(setup.unknown)}"))
    return lines


# --------------------------------------------------------------------------- phases


def _commands(phase: Mapping[str, Any]) -> list[str]:
    return [shell_run(cmd) for cmd in _strings(phase.get("cmds"))]


def _cache_note(phase: Mapping[str, Any], name: str) -> list[str]:
    dirs = _strings(phase.get("cacheDirectories"))
    if not dirs:
        return []
    return [comment(f"{name}: cacheDirectories not mounted (kaniko): {encode(dirs)}")]


def _inputs(phase: Mapping[str, Any]) -> list[str] | None:
    """The install phase's `onlyIncludeFiles`, None when absent or not all plain paths."""
    files = phase.get("onlyIncludeFiles")
    if not isinstance(files, list):
        return None
    names = _strings(files)
    plain = all(_INPUT.fullmatch(n) and ".." not in n.split("/") for n in names)
    return sorted(set(names)) if plain and len(names) == len(files) else None


def install_lines(phase: Mapping[str, Any]) -> tuple[list[str], bool]:
    """The install phase, and whether it copied the whole context."""
    commands = _commands(phase)
    lines = [comment("install"), *_cache_note(phase, "install")]
    inputs = _inputs(phase)
    if not commands:
        return [], False
    if inputs is None:
        return [*lines, f"COPY . {APP_DIR}", *commands], True
    copies = [f"COPY {encode([n, f'{APP_DIR}/{n}'])}" for n in inputs]
    return [*lines, *copies, *commands], False


def build_lines(phase: Mapping[str, Any], copied: bool) -> list[str]:
    lines = [comment("build"), *_cache_note(phase, "build")]
    if not copied:
        lines.append(f"COPY . {APP_DIR}")
    return [*lines, *_commands(phase)]


def asset_lines(assets: object) -> list[str]:
    """`staticAssets` written to ASSETS_DIR by one exec-form RUN (base64, no quoting)."""
    files = _mapping(assets)
    if not files:
        return []
    parts = [f"rm -rf {APP_DIR}/.slipway", f"mkdir -p {ASSETS_DIR}"]
    for name in sorted(files):
        text = files[name]
        if not isinstance(name, str) or not _ASSET_NAME.fullmatch(name):
            raise DeployFailed(f"the plan names a static asset with an unusable name: {name!r}.")
        if not isinstance(text, str):
            raise DeployFailed(f"the plan's static asset {name} is not text.")
        data = base64.b64encode(text.encode("utf-8")).decode("ascii")
        parts.append(f"printf %s {data} | base64 -d > {ASSETS_DIR}/{name}")
    return [comment("static assets"), shell_run(" && ".join(parts))]


def env_lines(variables: object) -> list[str]:
    """The plan's variables as ENV lines (sorted by key), the unusable ones as comments."""
    lines = [f'ENV PATH="{APP_PATH}:${{PATH}}"']
    items = _mapping(variables)
    for key in sorted(items, key=str):
        value = items[key]
        if not isinstance(key, str) or not _KEY.fullmatch(key):
            lines.append(comment(f"skipped variable with an unusable name: {encode(str(key))}"))
        elif not isinstance(value, str) or _CONTROL.search(value):
            lines.append(comment(f"skipped variable {key}: its value has a line break"))
        else:
            lines.append(f"ENV {key}={env_quote(value)}")
    return lines


def runtime_lines(plan: Mapping[str, Any], caddy: bool) -> list[str]:
    """Who runs the image, where, and what it starts."""
    lines = ["ENV HOME=/tmp", f"ENV PORT={PORT}"]
    if caddy:
        lines.append("ENV XDG_CONFIG_HOME=/tmp/.config XDG_DATA_HOME=/tmp/.local/share")
    lines += [f"USER {USER}", f"EXPOSE {PORT}", "ENTRYPOINT []"]
    start = _mapping(plan.get("start")).get("cmd")
    if isinstance(start, str) and start.strip():
        lines.append(f"CMD {encode(['/bin/sh', '-c', start])}")
    else:
        lines.append(comment("no start command: the deployment names one"))
    return lines


def _two_stages(plan: Mapping[str, Any], primary: str | None, setup: Setup, base: Base) -> bool:
    """Run on the slim image: it exists, and the start command needs nothing else."""
    start = _mapping(plan.get("start")).get("cmd")
    if not base.runtime or primary is None or not isinstance(start, str) or not start.strip():
        return False
    if len(setup.tools) > 1 or setup.apt or setup.argv or setup.copies or setup.unknown:
        return False
    return not _BUILD_TOOLS[primary].search(start)


# --------------------------------------------------------------------------- the Dockerfile


def render(plan: Mapping[str, Any], *, versions: Mapping[str, str] | None = None) -> str:
    """The Dockerfile building `plan` from the repository as build context (see the module's
    docstring). `versions`: tool -> version resolved for the app ("node" -> "18.20.4"), when
    the caller has them; otherwise the plan's own say. DeployFailed on an unusable asset."""
    setup = read_setup(plan, versions or {})
    primary = primary_tool(setup)
    packages = _strings(_phase(plan, "setup").get("nixPkgs"))
    base = base_image(primary, setup.tools.get(primary or "", ""), packages)
    split = _two_stages(plan, primary, setup, base)
    variables = env_lines(plan.get("variables"))
    install, copied = install_lines(_phase(plan, "install"))
    lines = [
        comment(f"Generated by Slipway from the build plan (provider: {provider_name(plan)})."),
        comment("Build context: the repository. Edit the plan, not this file."),
        f"FROM {base.image}" + (" AS build" if split else ""),
        comment("setup: " + encode(packages)),
        *setup_lines(setup, primary, base),
        *_commands(_phase(plan, "setup")),
        f"WORKDIR {APP_DIR}",
        *variables,
        *install,
        *build_lines(_phase(plan, "build"), copied),
        *asset_lines(plan.get("staticAssets")),
    ]
    if split:
        lines += [
            f"FROM {base.runtime}",
            *base.runtime_setup,
            f"WORKDIR {APP_DIR}",
            *variables,
            f"COPY --from=build {APP_DIR} {APP_DIR}",
        ]
    lines += runtime_lines(plan, "caddy" in setup.tools)
    return "\n".join(lines) + "\n"
