"""GitSource against real repositories: resolving, hostile input, checkout."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest
from builder_git_helpers import Repo, make_app

from slipway.builder.local import LocalBuilder
from slipway.builder.source import GitSource
from slipway.domain.errors import DeployFailed, Invalid
from slipway.domain.giturls import NO_LOCAL, LocalRepos


def _field(exc: pytest.ExceptionInfo[Invalid]) -> str:
    return exc.value.errors[0].field


async def test_resolve_branch_short_and_full_sha(
    make_repo: Callable[[], Repo], source: GitSource
) -> None:
    repo = make_repo()
    first = repo.commit("feat: first")
    repo.git("checkout", "-q", "-b", "feature/x")
    second = repo.commit("feat: second")
    app = make_app(repo.url)

    head = await source.resolve(app, branch="main", sha=None)
    assert (head.branch, head.sha, head.message) == ("main", first, "feat: first")
    feature = await source.resolve(app, branch="feature/x", sha=None)
    assert (feature.branch, feature.sha, feature.message) == ("feature/x", second, "feat: second")
    short = await source.resolve(app, branch=None, sha=first[:7])
    assert (short.sha, short.message) == (first, "feat: first")
    full = await source.resolve(app, branch="feature/x", sha=first)  # the SHA wins
    assert full.sha == first


async def test_fetch_sees_new_commits(make_repo: Callable[[], Repo], source: GitSource) -> None:
    repo = make_repo()
    repo.commit("one")
    app = make_app(repo.url)
    await source.resolve(app, branch=None, sha=None)
    newer = repo.commit("two")
    results = await asyncio.gather(*(source.resolve(app, branch=None, sha=None) for _ in range(3)))
    assert {c.sha for c in results} == {newer}


async def test_unknown_branch_and_commit(make_repo: Callable[[], Repo], source: GitSource) -> None:
    repo = make_repo()
    repo.commit("one")
    app = make_app(repo.url)
    with pytest.raises(Invalid) as exc:
        await source.resolve(app, branch="nope", sha=None)
    assert _field(exc) == "gitBranch"
    with pytest.raises(Invalid) as exc:
        await source.resolve(app, branch=None, sha="deadbeef" * 5)
    assert _field(exc) == "gitCommitSha"
    with pytest.raises(Invalid) as exc:
        await source.resolve(make_app(repo.url, git_branch="gone"), branch=None, sha=None)
    assert _field(exc) == "gitBranch"


@pytest.mark.parametrize(
    ("branch", "sha", "field"),
    [
        ("--upload-pack=touch /tmp/pwned", None, "gitBranch"),
        ("a..b", None, "gitBranch"),
        ("main;rm -rf /", None, "gitBranch"),
        (None, "HEAD", "gitCommitSha"),
        (None, "--all", "gitCommitSha"),
        (None, "abc", "gitCommitSha"),
        (None, "ABCDEF1", "gitCommitSha"),
    ],
)
async def test_hostile_values_rejected_before_git(
    tmp_path: Path, branch: str | None, sha: str | None, field: str
) -> None:
    source = GitSource(tmp_path / "git", local=LocalRepos(anywhere=True))
    app = make_app(str(tmp_path / "no-such-repo"))
    with pytest.raises(Invalid) as exc:
        await source.resolve(app, branch=branch, sha=sha)
    assert _field(exc) == field
    assert not (tmp_path / "git").exists()  # git never ran


async def test_bad_urls(tmp_path: Path, make_repo: Callable[[], Repo]) -> None:
    repo = make_repo()
    repo.commit("one")
    strict = GitSource(tmp_path / "strict", local=NO_LOCAL)
    with pytest.raises(Invalid) as exc:
        await strict.resolve(make_app(repo.url), branch=None, sha=None)
    assert _field(exc) == "gitUrl"
    with pytest.raises(Invalid) as exc:
        await strict.resolve(make_app("file://" + repo.url), branch=None, sha=None)
    assert _field(exc) == "gitUrl"
    for url in ("--upload-pack=x", "ext::sh -c touch% /tmp/x"):
        with pytest.raises(Invalid):
            await strict.resolve(make_app(url), branch=None, sha=None)
    assert not (tmp_path / "strict").exists()


async def test_unreachable_repository_hides_credentials(tmp_path: Path) -> None:
    source = GitSource(tmp_path / "git", local=LocalRepos(anywhere=True))
    for url in ("https://user:s3cret@127.0.0.1:1/x.git", str(tmp_path / "missing")):
        with pytest.raises(Invalid) as exc:
            await source.resolve(make_app(url), branch=None, sha=None)
        assert _field(exc) == "gitUrl"
        assert "could not fetch" in exc.value.detail
        assert "s3cret" not in exc.value.detail


async def test_checkout_exact_commit_and_root_directory(
    make_repo: Callable[[], Repo], source: GitSource, builder: LocalBuilder, tmp_path: Path
) -> None:
    repo = make_repo()
    first = repo.commit("one", {"services/web/main.py": "print(1)\n", "top.txt": "t"})
    repo.commit("two", {"services/web/later.py": "", "services/web/main.py": "print(2)\n"})
    app = make_app(repo.url, root_directory="services/web")
    await source.resolve(app, branch=None, sha=None)
    dest = tmp_path / "out" / "app"
    await builder.checkout(app, first, dest)
    assert sorted(p.name for p in dest.iterdir()) == ["main.py"]
    assert (dest / "main.py").read_text() == "print(1)\n"

    for root in ("missing", "../escape"):
        with pytest.raises(DeployFailed):
            await builder.checkout(make_app(repo.url, root_directory=root), first, tmp_path / root)
    with pytest.raises(DeployFailed):
        await builder.checkout(app, "HEAD", tmp_path / "x")


async def test_an_app_without_a_branch_builds_the_repository_head(
    make_repo: Callable[[], Repo], source: GitSource
) -> None:
    repo = make_repo()
    repo.git("checkout", "-q", "-b", "master")
    tip = repo.commit("feat: on master")
    app = make_app(repo.url)
    assert app.git_branch is None
    head = await source.resolve(app, branch=None, sha=None)
    assert (head.branch, head.sha) == ("master", tip)


async def test_an_unknown_branch_names_the_branches_that_exist(
    make_repo: Callable[[], Repo], source: GitSource
) -> None:
    repo = make_repo()
    repo.commit("one")
    repo.git("branch", "-q", "develop")
    with pytest.raises(Invalid) as caught:
        await source.resolve(make_app(repo.url), branch="mian", sha=None)
    assert caught.value.errors[0].message == (
        "no branch named 'mian' in the repository; its branches: develop, main"
    )
