"""One tenant must not hold the API or the build queue (issue 11): a tarpit git server, a
flood of deploys, and slow builds of one workspace against another's deploy."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import httpx
import pytest
from tests.conftest import PYTHON_APP, GitRepo
from tests.e2e.conftest import Platform as Running
from tests.e2e.conftest import deploy, start_platform, stop_platform, wait_for
from tests.security.tenants import Tenant

from slipway.services.platform import Platform


class Tarpit:
    """A TCP server that accepts and never answers; counts connections open at once."""

    def __init__(self) -> None:
        self.open = 0
        self.most = 0
        self.port = 0
        self._server: asyncio.Server | None = None

    async def _hold(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.open += 1
        self.most = max(self.most, self.open)
        try:
            await reader.read()  # until the client gives up
        finally:
            self.open -= 1
            writer.close()

    async def __aenter__(self) -> Tarpit:
        self._server = await asyncio.start_server(self._hold, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._server.wait_closed(), 2)


@pytest.fixture
async def tarpit() -> AsyncIterator[Tarpit]:
    async with Tarpit() as pit:
        yield pit


async def _deployments(client: httpx.AsyncClient, t: Tenant, app_id: str) -> int:
    r = await client.get(f"{t.base}/deploy", params={"appId": app_id}, headers=t.headers)
    return int(r.json()["meta"]["total"])


async def test_a_tarpit_git_server_holds_a_deploy_only_until_its_deadline(
    client: httpx.AsyncClient, platform: Platform, alpha: Tenant, tarpit: Tarpit
) -> None:
    """POST /deploy waited on the tenant's git server for up to 300 s."""
    platform.source.deadline = 1.0  # type: ignore[attr-defined]
    url = f"http://127.0.0.1:{tarpit.port}/slow/repo.git"
    made = await client.post(f"{alpha.base}/apps", json={"name": "slow", "gitUrl": url},
                             headers=alpha.headers)  # fmt: skip
    app_id = made.json()["id"]
    started = time.monotonic()
    answers = await asyncio.gather(
        *(client.post(f"{alpha.base}/deploy", json={"appId": app_id}, headers=alpha.headers)
          for _ in range(5))
    )  # fmt: skip
    elapsed = time.monotonic() - started
    statuses = sorted(r.status_code for r in answers)
    assert statuses == [429, 429, 429, 504, 504], statuses
    assert elapsed < 4.0
    timed_out = next(r for r in answers if r.status_code == 504)
    assert f"127.0.0.1:{tarpit.port}" in timed_out.json()["detail"]
    assert next(r for r in answers if r.status_code == 429).headers["retry-after"]
    assert tarpit.most <= platform.settings.max_resolving_per_workspace
    assert await _deployments(client, alpha, app_id) == 0  # nothing stored


async def test_a_known_commit_needs_no_answer_from_the_git_server(
    client: httpx.AsyncClient, platform: Platform, alpha: Tenant, tarpit: Tarpit
) -> None:
    platform.source.deadline = 1.0  # type: ignore[attr-defined]
    first = await client.post(f"{alpha.base}/deploy", json={"appId": alpha.app_id},
                              headers=alpha.headers)  # fmt: skip
    assert first.status_code == 202
    sha = first.json()["gitCommitSha"]
    url = f"http://127.0.0.1:{tarpit.port}/moved.git"
    await client.patch(f"{alpha.base}/apps/{alpha.app_id}", json={"gitUrl": url},
                       headers=alpha.headers)  # fmt: skip
    again = await client.post(f"{alpha.base}/deploy", headers=alpha.headers,
                              json={"appId": alpha.app_id, "gitCommitSha": sha})  # fmt: skip
    assert again.status_code == 202, again.text
    assert tarpit.most == 0


async def test_a_flood_of_deploys_is_capped_per_workspace(
    client: httpx.AsyncClient, platform: Platform, alpha: Tenant, beta: Tenant
) -> None:
    platform.settings = replace(platform.settings, max_queued_per_workspace=3)
    queued_before = 1  # the tenants start with one queued deployment each (tenants.py)
    answers = [
        await client.post(f"{alpha.base}/deploy", json={"appId": alpha.app_id},
                          headers=alpha.headers)
        for _ in range(4)
    ]  # fmt: skip
    assert [r.status_code for r in answers] == [202] * (3 - queued_before) + [429] * 2
    assert answers[-1].headers["retry-after"] == "10"
    other = await client.post(f"{beta.base}/deploy", json={"appId": beta.app_id},
                              headers=beta.headers)  # fmt: skip
    assert other.status_code == 202  # another workspace is not affected


# --------------------------------------------------------------------------- through slipway up


@pytest.fixture
def running(tmp_path: Path) -> Iterator[Running]:
    platform = start_platform(tmp_path)
    try:
        yield platform
    finally:
        stop_platform(platform)


@pytest.mark.e2e
def test_one_workspace_slow_builds_do_not_delay_another_deploy(
    running: Running, tmp_path: Path
) -> None:
    noisy_id, noisy_key = running.workspace("noisy")
    quiet_id, quiet_key = running.workspace("quiet")
    noisy, quiet = running.client(noisy_key), running.client(quiet_key)
    repo = GitRepo(tmp_path / "repos" / "app")
    repo.commit({"main.py": PYTHON_APP}, "feat: app")
    slow = []
    for i in range(3):
        body = {"name": f"slow{i}", "gitUrl": repo.url, "buildCommand": "sleep 30"}
        app = noisy.post(f"/workspaces/{noisy_id}/apps", json=body).json()
        answer = noisy.post(f"/workspaces/{noisy_id}/deploy", json={"appId": app["id"]})
        assert answer.status_code == 202
        slow.append(answer.json()["id"])
    app = quiet.post(f"/workspaces/{quiet_id}/apps", json={"name": "web", "gitUrl": repo.url})
    done = deploy(quiet, quiet_id, app.json()["id"])
    assert done["status"] == "succeeded", done
    waited = datetime.fromisoformat(done["startedAt"]) - datetime.fromisoformat(done["createdAt"])
    assert waited.total_seconds() <= 5, done  # not queued behind the noisy builds
    statuses = [noisy.get(f"/workspaces/{noisy_id}/deploy/{d}").json()["status"] for d in slow]
    assert statuses.count("building") == 1 and statuses.count("queued") == 2, statuses
    for dep in slow:
        noisy.post(f"/workspaces/{noisy_id}/deploy/{dep}/cancel")
    for dep in slow:
        wait_for(noisy, f"/workspaces/{noisy_id}/deploy/{dep}", until={"cancelled"})
