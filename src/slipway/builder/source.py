"""Git repositories: fetch into a per-app bare cache, resolve commits, export trees.

Each app has one bare repository, `cache_dir/<app id>.git`, that mirrors the remote's branches
(`+refs/heads/*:refs/heads/*`, pruned, no tags). Every resolve fetches first, so a branch
always resolves to the remote's current tip; fetches of one app are serialised by a lock.

Nothing a user typed reaches git unchecked: the URL passes `check_git_url`, branches and SHAs
pass `check_branch`/`check_sha`, and all of them are passed after `--` or `--end-of-options`
so none can be read as an option. Git runs as an argument list (never through a shell), with
only the http(s)/ssh transports enabled (plus `file` when local repositories are allowed), no
terminal prompts, no system or global config, no hooks and no submodules. It never runs with
the operator's identity for a tenant's URL: `HOME` is an empty directory of its own, no SSH
agent, no credential helper, and ssh offers no key (`IdentitiesOnly`, no identity file). A
local repository's path is checked again once its links are resolved (`LocalRepos`), and
git gets the resolved path. Git's own error text is never shown: it may echo credentials
embedded in the URL.

`archive` starts `git archive` of exactly one commit (optionally of one sub-folder), writing
the tar to a pipe: the builder unpacks it in a sandbox (`untar.py`), never on the host.
"""

from __future__ import annotations

import asyncio
import os
import re
import shlex
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

from slipway.builder import proc
from slipway.domain.errors import DeployFailed, Invalid, Unreachable
from slipway.domain.giturls import NO_LOCAL, LocalRepos, check_git_url, local_path
from slipway.domain.models import App, Commit
from slipway.domain.names import branch_problem, check_branch, check_sha

_SAFE_ID = re.compile(r"^[A-Za-z0-9_-]{1,100}$")
_FULL_SHA = re.compile(r"^[0-9a-f]{40}$")
_ROOT_PART = re.compile(r"^[A-Za-z0-9._@+ -]{1,255}$")
_CHUNK = 65536
_REFSPEC = "+refs/heads/*:refs/heads/*"
# Submodules are never fetched, so their URLs (which no validator saw) never reach git.
_NO_SUBMODULES = ("-c", "submodule.recurse=false", "-c", "fetch.recurseSubmodules=false")


def _ssh_command(home: str) -> str:
    """ssh with no key of the operator's (ssh finds those through the passwd entry, not
    $HOME), no agent, no prompt, and host keys learnt on first use into Slipway's own file.
    git runs it through `sh -c` with host and path as separate arguments, never in this
    string; `home` is Slipway's own directory, quoted."""
    known = shlex.quote(str(Path(home) / "known_hosts"))
    return (
        "ssh -F /dev/null -o IdentitiesOnly=yes -o IdentityFile=/dev/null -o IdentityAgent=none"
        f" -o BatchMode=yes -o StrictHostKeyChecking=accept-new -o UserKnownHostsFile={known}"
        " -o ConnectTimeout=20"
    )


def git_env(home: str = os.devnull) -> dict[str, str]:
    """The environment git runs with: no prompts, no askpass, no system or user config, no
    credentials of the operator's; `home` is an empty directory of Slipway's."""
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "TMPDIR") or k.startswith("LC_")}
    env.update(
        HOME=home,
        XDG_CONFIG_HOME=home,
        GIT_SSH_COMMAND=_ssh_command(home),
        GIT_ASKPASS="/bin/false",
        SSH_ASKPASS="/bin/false",
        GIT_TERMINAL_PROMPT="0",
        GIT_CONFIG_NOSYSTEM="1",
        # No ~/.gitconfig either: a `url.*.insteadOf` there could rewrite a checked URL.
        GIT_CONFIG_GLOBAL=os.devnull,
        # Protocols of policy "user" are refused for URLs git did not get from us (submodules).
        GIT_PROTOCOL_FROM_USER="0",
        LANG="C",
    )
    return env


def root_subpath(root_directory: str | None) -> str | None:
    """`app.root_directory` as a clean relative POSIX path, None for the repository root."""
    if root_directory is None or root_directory.strip("/") in ("", "."):
        return None
    if root_directory.startswith("/"):
        raise DeployFailed("the root directory must be a path relative to the repository.")
    parts = [p for p in PurePosixPath(root_directory).parts if p != "."]
    if any(p == ".." or not _ROOT_PART.fullmatch(p) for p in parts):
        raise DeployFailed("the root directory must not contain '..' or unusual characters.")
    return "/".join(parts)


def names_ok(branch: str) -> bool:
    """Whether a branch name git printed is one Slipway accepts (and may echo back)."""
    return branch_problem(branch) is None


def server_of(url: str) -> str:
    """The git server a URL names, without credentials ("github.com", "10.0.0.5:8080")."""
    if "://" in url:
        authority = url.split("://", 1)[1].split("/", 1)[0]
        return authority.rsplit("@", 1)[-1] or "the repository"
    if ":" in url and not url.startswith("/"):  # git@host:path
        return url.split(":", 1)[0].rsplit("@", 1)[-1]
    return "the local repository"


class GitSource:
    """Implements `slipway.ports.Source`, plus `archive` for the builder.

    Resolving waits at most `deadline` seconds (the app's fetch lock included): a commit asked
    for by SHA that the app's cache already holds needs no fetch at all; otherwise git fetches
    with a low-speed limit (under 1 kB/s for `deadline` seconds) and is killed at the
    deadline, and the caller gets `Unreachable` (504) naming the git server."""

    def __init__(
        self, cache_dir: Path, *, local: LocalRepos = NO_LOCAL, deadline: float = 10.0
    ) -> None:
        self.cache_dir = cache_dir
        self.local = local
        self.deadline = deadline
        self.home = cache_dir / ".home"  # git's HOME: empty, private
        self._locks: dict[str, asyncio.Lock] = {}

    # ------------------------------------------------------------------ public

    async def resolve(self, app: App, *, branch: str | None, sha: str | None) -> Commit:
        """The commit to build: `sha` > `branch` > the app's branch > the remote's HEAD."""
        if sha:
            check_sha("gitCommitSha", sha)
        wanted = branch or app.git_branch
        if wanted is not None:
            check_branch("gitBranch", wanted)
        if sha and (self.repo_dir(app) / "HEAD").exists():
            full = await self._rev_parse(app, f"{sha}^{{commit}}")
            if full is not None:  # already here: the remote need not answer
                return Commit(branch=branch, sha=full, message=await self._subject(app, full))
        if wanted is None and not sha:
            wanted = await self.default_branch(app)
        await self.fetch(app)
        if sha:
            full = await self._rev_parse(app, f"{sha}^{{commit}}")
            if full is None:
                raise Invalid.field("gitCommitSha", "no such commit (or it is ambiguous)")
            return Commit(branch=branch, sha=full, message=await self._subject(app, full))
        assert wanted is not None
        full = await self._rev_parse(app, f"refs/heads/{wanted}^{{commit}}")
        if full is None:
            raise Invalid.field("gitBranch", await self._no_branch(app, wanted))
        return Commit(branch=wanted, sha=full, message=await self._subject(app, full))

    async def default_branch(self, app: App) -> str:
        """The branch the remote's HEAD points at (`git ls-remote --symref`), within the
        deadline; Invalid when the remote has no HEAD branch (an empty repository)."""
        url = self._checked_url(app.git_url)
        async with self._lock(app.id):
            await self._ensure_repo(app)
        argv = self._git(self.repo_dir(app), ["ls-remote", "--symref", "--", url, "HEAD"],
                         config=self._slow())  # fmt: skip
        try:
            async with asyncio.timeout(self.deadline):
                rc, out, _ = await proc.run(argv, env=self._env())
        except TimeoutError:
            raise self._unreachable(app) from None
        if rc != 0:
            raise Invalid.field("gitUrl", "could not fetch the repository")
        for line in out.decode("utf-8", "replace").splitlines():
            ref, _, name = line.partition("\t")
            if name == "HEAD" and ref.startswith("ref: refs/heads/"):
                found = ref.removeprefix("ref: refs/heads/")
                if names_ok(found):
                    return found
        raise Invalid.field(
            "gitBranch", "the repository has no default branch (is it empty?): name a branch"
        )

    async def _ensure_repo(self, app: App) -> Path:
        repo = self.repo_dir(app)
        if not (repo / "HEAD").exists():
            repo.parent.mkdir(parents=True, exist_ok=True)
            await self._git_ok(["init", "--quiet", "--bare", str(repo)], "could not initialise")
        return repo

    async def _no_branch(self, app: App, wanted: str) -> str:
        """The 422 message for an unknown branch, listing (some of) the branches that exist."""
        listing = ["for-each-ref", "--count=11", "--format=%(refname:short)", "refs/heads/"]
        rc, out, _ = await proc.run(self._git(self.repo_dir(app), listing), env=self._env(),
                                    timeout=60)  # fmt: skip
        printed = out.decode("utf-8", "replace").split() if rc == 0 else []
        found = [b for b in printed if names_ok(b)]
        if not found:
            return f"no branch named '{wanted}' in the repository (it has no branches)"
        listed = ", ".join(found[:10]) + (", ..." if len(found) > 10 else "")
        return f"no branch named '{wanted}' in the repository; its branches: {listed}"

    async def fetch(self, app: App) -> None:
        """Bring the app's bare cache up to date with the remote's branches, within the
        deadline; Unreachable past it."""
        url = self._checked_url(app.git_url)
        try:
            async with asyncio.timeout(self.deadline):
                await self._fetch(app, url)
        except TimeoutError:
            raise self._unreachable(app) from None

    def _unreachable(self, app: App) -> Unreachable:
        return Unreachable(
            f"the git server {server_of(app.git_url)} did not answer within "
            f"{self.deadline:g} seconds; nothing was queued."
        )

    def _slow(self) -> list[str]:
        """git's HTTP low-speed limit: under 1 kB/s for the whole deadline is a dead server."""
        return ["-c", "http.lowSpeedLimit=1000", "-c", f"http.lowSpeedTime={self.deadline:g}"]

    async def _fetch(self, app: App, url: str) -> None:
        async with self._lock(app.id):
            repo = await self._ensure_repo(app)
            slow = self._slow()
            fetch = ["fetch", "--prune", "--no-tags", "--no-recurse-submodules", "--quiet"]
            args = [*fetch, "--", url, _REFSPEC]
            rc, _, _ = await proc.run(self._git(repo, args, config=slow), env=self._env())
            if rc != 0:
                raise Invalid.field("gitUrl", "could not fetch the repository")

    async def archive(self, app: App, sha: str, *, stdout: int) -> asyncio.subprocess.Process:
        """Start `git archive` of commit `sha` (its `root_directory` only), writing a tar to
        the file descriptor `stdout`; `archive_done` waits for it."""
        if not _FULL_SHA.fullmatch(sha):
            raise DeployFailed("the commit to build must be a full 40-character SHA.")
        sub = root_subpath(app.root_directory)
        treeish = f"{sha}:{sub}" if sub else sha
        argv = self._git(self.repo_dir(app), ["archive", "--format=tar", treeish])
        return await proc.spawn(
            argv, env=self._env(), stdout=stdout, stderr=asyncio.subprocess.DEVNULL
        )

    @staticmethod
    async def archive_done(git: asyncio.subprocess.Process, app: App) -> None:
        """Wait for `archive`'s git; DeployFailed when it could not export the tree."""
        if await git.wait() == 0:
            return
        sub = root_subpath(app.root_directory)
        if sub:
            raise DeployFailed(f"the root directory '{sub}' does not exist in this commit.")
        raise DeployFailed("the commit could not be checked out.")

    def _checked_url(self, value: str) -> str:
        """The URL git may fetch: checked, and for a local path, checked again resolved."""
        url = check_git_url("gitUrl", value, local=self.local)
        path = local_path(url)
        if path is None:
            return url
        resolved = os.path.realpath(path)
        refusal = self.local.refusal(resolved)
        if refusal is not None:
            raise Invalid.field("gitUrl", refusal)
        return resolved

    def repo_dir(self, app: App) -> Path:
        if not _SAFE_ID.fullmatch(app.id):
            raise ValueError("unexpected characters in an app id")
        return self.cache_dir / f"{app.id}.git"

    # ------------------------------------------------------------------ helpers

    def _env(self) -> dict[str, str]:
        self.home.mkdir(mode=0o700, parents=True, exist_ok=True)
        return git_env(str(self.home))

    def _lock(self, app_id: str) -> asyncio.Lock:
        return self._locks.setdefault(app_id, asyncio.Lock())

    def _git(self, repo: Path, args: list[str], *, config: Sequence[str] = ()) -> list[str]:
        protocols = ["-c", "protocol.allow=never"]
        allowed = ["https", "http", "ssh"] + (["file"] if self.local.enabled else [])
        for name in allowed:
            protocols += ["-c", f"protocol.{name}.allow=always"]
        return [
            "git",
            *protocols,
            "-c",
            "core.hooksPath=/dev/null",
            "-c",
            "credential.helper=",
            *_NO_SUBMODULES,
            *config,
            f"--git-dir={repo}",
            *args,
        ]

    async def _git_ok(self, args: list[str], what: str) -> bytes:
        rc, out, _ = await proc.run(["git", *args], env=self._env(), timeout=60)
        if rc != 0:
            raise DeployFailed(f"{what} the git cache.")
        return out

    async def _rev_parse(self, app: App, spec: str) -> str | None:
        argv = self._git(
            self.repo_dir(app), ["rev-parse", "--verify", "--quiet", "--end-of-options", spec]
        )
        rc, out, _ = await proc.run(argv, env=self._env(), timeout=60)
        full = out.decode().strip()
        return full if rc == 0 and _FULL_SHA.fullmatch(full) else None

    async def _subject(self, app: App, sha: str) -> str:
        argv = self._git(self.repo_dir(app), ["log", "-1", "--format=%s", sha, "--"])
        rc, out, _ = await proc.run(argv, env=self._env(), timeout=60)
        return out.decode("utf-8", errors="replace").strip() if rc == 0 else ""
