"""Platform overhead: a Slipway build vs the same plan's commands run by hand in a shell.

"By hand" is what a developer would type: `git clone` the repository, then each install and
build command of `slipway plan` with `sh -c`, with the plan's variables, unsandboxed, and
npm's cache in a directory of its own. The platform build is `LocalBuilder.build` for the
same commit: checkout, plan, setup check, the same commands in the bubblewrap sandbox, and
packaging as an OCI image layout. Both use warm npm caches (one untimed warm-up each), and
the platform build sets `NIXPACKS_NO_CACHE=1` so it runs the install rather than reusing
it; each round commits a code-only change first (the same commit twice would reuse the
image). Rounds alternate hand/platform; the ratio is taken per round. The app is the
~50-dependency Node app of build_rebuild.py.

    python bench/build_overhead.py --rounds 5
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from build_common import commit, make_app, node_repo, summary, timed_build

from slipway.builder.local import LocalBuilder
from slipway.builder.plan import make_plan
from slipway.builder.source import GitSource
from slipway.domain.giturls import LocalRepos


def by_hand(repo: Path, work: Path, cache: Path) -> float:
    started = time.perf_counter()
    subprocess.run(["git", "clone", "-q", "--", str(repo), str(work)], check=True)
    plan = make_plan(work, env={})
    env = {**os.environ, **plan["variables"], "npm_config_cache": str(cache)}
    env.update(npm_config_update_notifier="false", npm_config_fund="false")
    env["NPM_CONFIG_AUDIT"] = "false"
    for cmd in plan["phases"]["install"]["cmds"] + plan["phases"]["build"]["cmds"]:
        subprocess.run(["sh", "-c", cmd], cwd=work, env=env, check=True, capture_output=True)
    elapsed = time.perf_counter() - started
    shutil.rmtree(work)
    return elapsed


async def platform(builder: LocalBuilder, repo: Path, index: int) -> float:
    env = {"NPM_CONFIG_AUDIT": "false", "NIXPACKS_NO_CACHE": "1"}
    elapsed, _, lines = await timed_build(builder, make_app(str(repo), env=env))
    assert not any("Reusing" in line for line in lines), lines
    assert not any("already built" in line for line in lines), lines
    return elapsed


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="slipway-bench-") as tmp:
        root = Path(tmp)
        repo = node_repo(root)
        data = root / "data"
        builder = LocalBuilder(
            data, GitSource(data / "git", local=LocalRepos(anywhere=True)), push_to=""
        )
        by_hand(repo, root / "hand", root / "npm-cache")  # warm-ups, untimed
        await platform(builder, repo, -1)
        rounds = []
        for i in range(args.rounds):
            # A new commit per round: the same commit would be an image reuse, not a build.
            commit(repo, f"round {i}", {"server.js": f"console.log('round {i}');\n"})
            hand = by_hand(repo, root / "hand", root / "npm-cache")
            ours = await platform(builder, repo, i)
            rounds.append((hand, ours))
            print(f"round {i}: by hand {hand:.2f}s  slipway {ours:.2f}s  ratio {ours / hand:.3f}")
    hands, ours_ = zip(*rounds, strict=True)
    print(f"by hand          {summary(list(hands))}")
    print(f"slipway build    {summary(list(ours_))}")
    ratios = [o / h for h, o in rounds]
    print(f"slipway / hand   {summary(ratios, unit='', digits=3)}  (target <= 1.15)")


if __name__ == "__main__":
    asyncio.run(main())
