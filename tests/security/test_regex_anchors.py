"""Allowlist patterns are anchored for real: none accepts `"valid\\n"`.

Python's `$` also matches just before a trailing newline, so `re.compile(r"^[a-z]+$")` with
`.match("abc\\n")` accepts the newline, which then reaches a header, a path or a process. This
test walks the syntax tree of every module of the package and fails on `.match(` or
`.search(` on a compiled pattern that ends in `$` (without `re.MULTILINE`), and on
`re.match`/`re.search` with such a pattern: those must use `.fullmatch(`. A second set of
tests sends `"valid\\n"` through the API fields whose validators the sweep changed.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import httpx
from tests.security.tenants import Tenant

SRC = Path(__file__).resolve().parents[2] / "src"
LOOSE_METHODS = frozenset({"match", "search"})


def _pattern_text(node: ast.expr) -> str | None:
    """The pattern's source text when it is a literal (or an f-string ending in a literal)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr) and node.values:
        last = node.values[-1]
        if isinstance(last, ast.Constant) and isinstance(last.value, str):
            return last.value
    return None


def _multiline(call: ast.Call) -> bool:
    flags = [*call.args[1:], *(k.value for k in call.keywords if k.arg == "flags")]
    return any(
        "M" in ast.unparse(f).replace("re.", "").split("|") or "MULTILINE" in ast.unparse(f)
        for f in flags
    )


def _ends_anchored(call: ast.Call) -> bool:
    text = _pattern_text(call.args[0]) if call.args else None
    return (
        text is not None
        and text.endswith("$")
        and not text.endswith("\\$")
        and not _multiline(call)
    )


def _is_re_call(node: ast.AST, names: frozenset[str]) -> bool:
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id == "re"
        and node.func.attr in names
    )


def loose_anchors(source: str, filename: str = "<test>") -> list[str]:
    """`file:line` of every `.match`/`.search` that a trailing newline gets through."""
    tree = ast.parse(source, filename)
    anchored = {
        target.id
        for node in ast.walk(tree)
        if isinstance(node, ast.Assign)
        and _is_re_call(node.value, frozenset({"compile"}))
        and _ends_anchored(node.value)  # type: ignore[arg-type]
        for target in node.targets
        if isinstance(target, ast.Name)
    }
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
            continue
        if node.func.attr not in LOOSE_METHODS:
            continue
        owner = node.func.value
        name = owner.id if isinstance(owner, ast.Name) else getattr(owner, "attr", None)
        if name in anchored or (_is_re_call(node, LOOSE_METHODS) and _ends_anchored(node)):
            found.append(f"{filename}:{node.lineno} {name}.{node.func.attr}")
    return found


def test_no_anchored_pattern_is_used_with_match_or_search() -> None:
    found = []
    for path in sorted(SRC.rglob("*.py")):
        found += loose_anchors(path.read_text(encoding="utf-8"), str(path.relative_to(SRC)))
    assert found == [], "use .fullmatch( on patterns ending in $:\n" + "\n".join(found)


def test_the_scan_catches_each_spelling() -> None:
    bad = """
import re
_A = re.compile(r"^[a-z]+$")
_B = re.compile(rf"^{PREFIX}[0-9]+$")
_OK = re.compile(r"^root: (\\S+)$", re.M)
_PREFIX_ONLY = re.compile(r"^/api/")
def f(x):
    _A.match(x); _B.search(x); re.match(r"^[a-z]+$", x)
    _OK.search(x); _PREFIX_ONLY.match(x); _A.fullmatch(x)
"""
    assert [f.split(" ", 1)[1] for f in loose_anchors(bad)] == ["_A.match", "_B.search", "re.match"]
    assert re.match(r"^[a-z]+$", "valid\n")  # why: `$` lets the newline through
    assert not re.fullmatch(r"^[a-z]+$", "valid\n")


async def test_a_trailing_newline_is_refused_by_the_swept_fields(
    client: httpx.AsyncClient, alpha: Tenant, git_url: str
) -> None:
    bodies = [
        {"env": {"VALID\n": "x"}},
        {"healthCheckPath": "/valid\n"},
        {"rootDirectory": "valid\n"},
    ]
    for i, extra in enumerate(bodies):
        body = {"name": f"nl-{chr(97 + i)}", "gitUrl": git_url, **extra}
        r = await client.post(
            f"/api/v1/workspaces/{alpha.ws_id}/apps", json=body, headers=alpha.headers
        )
        assert r.status_code == 422, (extra, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
    for headers in ({"Idempotency-Key": "valid\n"},):
        r = await client.post(
            f"/api/v1/workspaces/{alpha.ws_id}/api-keys",
            json={"name": "valid"},
            headers={**alpha.headers, **headers},
        )
        assert r.status_code in (400, 422), r.text
    r = await client.post(
        f"/api/v1/workspaces/{alpha.ws_id}/api-keys",
        json={"name": "valid\n"},
        headers=alpha.headers,
    )
    assert r.status_code == 422, r.text
    listed = await client.get(f"/api/v1/workspaces/{alpha.ws_id}/apps", headers=alpha.headers)
    assert not [a for a in listed.json()["data"] if a["name"].startswith("nl-")]
