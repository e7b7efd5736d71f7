"""No shell anywhere: every process Slipway starts gets an argument list.

Ruff's S602/S604/S605 (selected through "S" in pyproject.toml) flag the common forms; this
test walks the syntax tree of every module of the package and of the benchmarks and fails on
`shell=True`, `os.system`, `os.popen`, `asyncio.create_subprocess_shell` and
`subprocess.getoutput`/`getstatusoutput`, however they are imported or spelled.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN_CALLS = frozenset(
    {"system", "popen", "create_subprocess_shell", "getoutput", "getstatusoutput"}
)


def shell_uses(source: str, filename: str = "<test>") -> list[str]:
    """`file:line what` for every shell-reaching call in `source`."""
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.Call):
            name = node.func.attr if isinstance(node.func, ast.Attribute) else None
            name = node.func.id if isinstance(node.func, ast.Name) else name
            if name in FORBIDDEN_CALLS:
                found.append(f"{filename}:{node.lineno} {name}()")
            for kw in node.keywords:
                if kw.arg == "shell" and not (
                    isinstance(kw.value, ast.Constant) and kw.value.value is False
                ):
                    found.append(f"{filename}:{node.lineno} shell=")
        elif isinstance(node, ast.ImportFrom) and node.module in ("os", "subprocess", "asyncio"):
            found += [
                f"{filename}:{node.lineno} import {a.name}"
                for a in node.names
                if a.name in FORBIDDEN_CALLS
            ]
    return found


def test_the_scanner_catches_every_form() -> None:
    sample = (
        "import os, subprocess, asyncio\nfrom os import system\n"
        "subprocess.run('ls', shell=True)\nos.system('ls')\nos.popen('ls')\n"
        "asyncio.create_subprocess_shell('ls')\nsubprocess.getoutput('ls')\n"
        "subprocess.run(['ls'], shell=flag)\nsubprocess.run(['ls'], shell=False)\n"
    )
    assert len(shell_uses(sample)) == 7


def test_no_module_reaches_a_shell() -> None:
    files = sorted((ROOT / "src").rglob("*.py")) + sorted((ROOT / "bench").rglob("*.py"))
    assert len(files) > 20
    found = [hit for f in files for hit in shell_uses(f.read_text(), str(f.relative_to(ROOT)))]
    assert found == []
