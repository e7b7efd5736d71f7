"""Rebuild after a code-only change vs the cold first build, for a ~50-dependency Node app.

Each round starts from an empty data directory (so the first build is cold: no npm cache,
no dependency snapshot), builds the app, commits a change to server.js only (same
package-lock.json), builds again, and finally redeploys the same commit (image reuse: no
phase runs). The ratio rebuild/cold is computed per round, in the same run; the report
gives medians and min-max. Network: the npm registry, for the cold build's downloads.

    python bench/build_rebuild.py --rounds 3
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from build_common import commit, make_app, node_repo, summary, timed_build

from slipway.builder.local import LocalBuilder
from slipway.builder.source import GitSource
from slipway.domain.giturls import LocalRepos


async def one_round(root: Path, repo: Path, index: int) -> tuple[float, float, float]:
    data = root / f"data-{index}"
    source = GitSource(data / "git", local=LocalRepos(anywhere=True))
    builder = LocalBuilder(data, source, timeout_seconds=900, push_to="")
    app = make_app(str(repo), env={"NPM_CONFIG_AUDIT": "false", "ROUND": str(index)})
    cold, _, cold_log = await timed_build(builder, app)
    assert any("Running install command: npm ci" in line for line in cold_log), cold_log
    commit(repo, f"code only {index}", {"server.js": f"console.log('round {index}');\n"})
    warm, _, warm_log = await timed_build(builder, app)
    assert any("Reusing installed dependencies" in line for line in warm_log), warm_log
    again, _, again_log = await timed_build(builder, app)
    assert "already built" in again_log[0], again_log
    shutil.rmtree(data, ignore_errors=True)
    return cold, warm, again


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="slipway-bench-") as tmp:
        root = Path(tmp)
        repo = node_repo(root)
        results = [await one_round(root, repo, i) for i in range(args.rounds)]
    colds, warms, agains = zip(*results, strict=True)
    ratios = [w / c for c, w, _ in results]
    for i, (c, w, a) in enumerate(results):
        print(f"round {i}: cold {c:.2f}s  rebuild {w:.2f}s  ratio {w / c:.3f}  reuse {a:.3f}s")
    print(f"cold build        {summary(list(colds))}")
    print(f"code-only rebuild {summary(list(warms))}")
    print(f"rebuild / cold    {summary(ratios, unit='', digits=3)}  (target <= 0.25)")
    print(f"same-commit reuse {summary(list(agains), digits=3)}  (builder part of a redeploy)")


if __name__ == "__main__":
    asyncio.run(main())
