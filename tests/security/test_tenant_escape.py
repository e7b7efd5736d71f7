"""Hostile tenant code through the whole platform (`slipway up`), as issue 10's attacker ran
it: a build command, a release command and an app that try to reach the host and the other
tenant, and the host-side facts that must hold while they run. Each test names the attack.

One platform serves the module (deploys are the slow part): workspace `alpha` owns the
hostile apps, `beta` the victim. The probe script is `escape_probe.py`."""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from tests.conftest import PYTHON_APP, GitRepo
from tests.dbswitch import fresh_database_url
from tests.e2e.conftest import Platform, deploy, start_platform, stop_platform, wait_for
from tests.support import procs

pytestmark = pytest.mark.e2e

PROBE = (Path(__file__).parent / "escape_probe.py").read_text()
VICTIM_SECRET = "sk_live_victim_4f3e2d1c"
HOSTILE_SECRET = "sk_live_hostile_9a8b7c6d"
BIND_PORT = 47123  # escape_probe.py's


class Tenants:
    def __init__(self, platform: Platform, root: Path) -> None:
        self.platform = platform
        self.root = root
        self.alpha_id, alpha_key = platform.workspace("alpha")
        self.beta_id, beta_key = platform.workspace("beta")
        self.alpha = platform.client(alpha_key)
        self.beta = platform.client(beta_key)
        self.apps: dict[str, dict] = {}
        self.deployments: dict[str, dict] = {}

    def repo(self, name: str, files: dict[str, str]) -> GitRepo:
        repo = GitRepo(self.root / "repos" / name)
        repo.commit(files, "feat: " + name)
        return repo

    def create(self, api: httpx.Client, ws_id: str, body: dict) -> dict:
        r = api.post(f"/workspaces/{ws_id}/apps", json=body)
        assert r.status_code == 201, r.text
        self.apps[body["name"]] = r.json()
        return r.json()

    def app_logs(self, api: httpx.Client, ws_id: str, app_id: str, wanted: str) -> list[str]:
        deadline = time.monotonic() + 60
        while True:
            logs = api.get(f"/workspaces/{ws_id}/apps/{app_id}/logs?limit=1000").json()["logs"]
            lines = [e["line"] for e in logs]
            if any(wanted in line for line in lines) or time.monotonic() > deadline:
                return lines
            time.sleep(0.3)


@pytest.fixture(scope="module")
def tenants(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tenants]:
    root = tmp_path_factory.mktemp("escape")
    with fresh_database_url() as database_url:  # PostgreSQL on CI's second pass
        yield from _tenants(root, database_url)


def _tenants(root: Path, database_url: str | None) -> Iterator[Tenants]:
    platform = start_platform(root, database_url=database_url)
    try:
        t = Tenants(platform, root)
        victim = t.repo("victim", {"main.py": PYTHON_APP})
        t.create(
            t.beta,
            t.beta_id,
            {
                "name": "victim",
                "gitUrl": victim.url,
                "env": {"STRIPE_KEY": VICTIM_SECRET, "GREETING": "victim"},
                "startCommand": "python3 main.py  # victim-marker",
            },
        )
        t.deployments["victim"] = deploy(t.beta, t.beta_id, t.apps["victim"]["id"])
        ports = f"api:{platform.api_port},router:{platform.router_port},postgres:5432,app:8080"
        hostile = t.repo(
            "hostile", {"probe.py": PROBE, "Procfile": "web: python3 probe.py serve\n"}
        )
        t.create(
            t.alpha,
            t.alpha_id,
            {
                "name": "hostile",
                "gitUrl": hostile.url,
                "buildCommand": "python3 probe.py build",
                "releaseCommand": "python3 probe.py release",
                "startCommand": "python3 probe.py serve  # hostile-marker",
                "env": {
                    "STRIPE_KEY": HOSTILE_SECRET,
                    "PROBE_PORTS": ports,
                    "PROBE_VICTIM_HOST": "victim.beta.localhost",
                },
            },
        )
        t.deployments["hostile"] = deploy(t.alpha, t.alpha_id, t.apps["hostile"]["id"])
        yield t
    finally:
        stop_platform(platform)


def probes(lines: list[str], phase: str) -> dict[str, str]:
    found = {}
    for line in lines:
        match = re.match(rf"PROBE {phase} (\S+) (.*)$", line)
        if match:
            found[match.group(1)] = match.group(2)
    return found


def build_log(t: Tenants) -> list[str]:
    dep = t.deployments["hostile"]
    return t.alpha.get(f"/workspaces/{t.alpha_id}/deploy/{dep['id']}/logs").json()["logs"]


def phase_probes(t: Tenants) -> dict[str, dict[str, str]]:
    serve = t.app_logs(t.alpha, t.alpha_id, t.apps["hostile"]["id"], "PROBE serve listening")
    log = build_log(t)
    return {"build": probes(log, "build"), "release": probes(log, "release"),
            "serve": probes(serve, "serve")}  # fmt: skip


def app_pids(marker: str) -> list[int]:
    """The app's own processes: `sh -c <start command>` (bubblewrap's, which run as root to
    build the sandbox, show the command too, after `--`)."""
    out = subprocess.run(["ps", "-ww", "-eo", "pid,args"], capture_output=True, text=True)
    rows = [line.split(None, 1) for line in out.stdout.splitlines()[1:]]
    return [int(pid) for pid, args in rows if args.startswith("sh -c") and marker in args]


def uid_of(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Uid:"):
            return int(line.split()[1])
    raise AssertionError(f"no Uid line for {pid}")


# --------------------------------------------------------------------------- the attacks


def test_the_hostile_app_deployed_and_ran_every_phase(tenants: Tenants) -> None:
    assert tenants.deployments["hostile"]["status"] == "succeeded", tenants.deployments
    seen = phase_probes(tenants)
    assert all(seen[phase] for phase in ("build", "release", "serve")), seen


def test_host_loopback_is_unreachable_from_builds_release_commands_and_replicas(
    tenants: Tenants,
) -> None:
    """The API (and its /metrics), the database (COPY ... FROM PROGRAM) and the router's host
    port were reachable from every tenant process; nothing of the host's loopback is now."""
    for phase, seen in phase_probes(tenants).items():
        for target in ("api", "router", "postgres"):
            assert seen[f"connect-{target}"] == "ConnectionRefusedError", (phase, seen)


def test_proc_net_shows_only_the_sandbox_own_sockets(tenants: Tenants) -> None:
    platform = tenants.platform
    for phase, seen in phase_probes(tenants).items():
        listening = set(seen["listening"].split(",")) - {"none"}
        assert str(platform.api_port) not in listening and "5432" not in listening, phase
        assert listening <= {str(BIND_PORT), "9080", "8080"}, (phase, listening)


def test_nothing_a_tenant_binds_is_a_port_of_the_host(tenants: Tenants) -> None:
    assert phase_probes(tenants)["serve"]["bind"] == "ok"  # inside its own namespace
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{BIND_PORT}/", timeout=2)


def test_reuseport_on_the_app_port_captures_nothing_of_another_tenant(tenants: Tenants) -> None:
    """A bound B's SO_REUSEPORT port and received 8 of 10 of B's requests."""
    answers = [tenants.platform.get_app("victim.beta.localhost").text for _ in range(10)]
    assert all(a.startswith("victim") for a in answers), answers
    assert tenants.platform.get_app("hostile.alpha.localhost").text == "hostile"


def test_apps_still_reach_each_other_through_the_router(tenants: Tenants) -> None:
    assert phase_probes(tenants)["serve"]["via-router"].startswith("victim")


def test_every_app_runs_as_a_host_uid_of_its_own_never_root(tenants: Tenants) -> None:
    """All tenants were the host's root (bwrap mapped uid 1000 inside to 0 outside)."""
    hostile = {uid_of(pid) for pid in app_pids("hostile-marker")}
    victim = {uid_of(pid) for pid in app_pids("victim-marker")}
    assert len(hostile) == 1 and len(victim) == 1, (hostile, victim)
    assert 0 not in hostile | victim
    assert hostile != victim
    seen = phase_probes(tenants)
    assert {seen[p]["uid"] for p in seen} == {str(next(iter(hostile)))}  # builds too
    for phase in seen.values():
        assert phase["capeff"] == "0000000000000000"
        assert phase["nonewprivs"] == "1"


def test_nested_user_namespaces_and_dangerous_calls_are_refused(tenants: Tenants) -> None:
    for phase, seen in phase_probes(tenants).items():
        assert seen["seccomp"] == "2", phase  # a filter is installed
        assert seen["unshare-user"] == "EPERM", phase
        assert seen["keyctl"] == "EPERM", phase  # unprivileged users may use it elsewhere
        assert seen["mount"] == "EPERM" and seen["ptrace"] == "EPERM", phase


def test_a_fork_bomb_stops_at_the_process_limit(tenants: Tenants) -> None:
    seen = phase_probes(tenants)["serve"]
    assert int(seen["forks"]) < 256, seen  # the limit counts the app's own processes too
    assert seen["fork-stopped-by"] == "BlockingIOError", seen  # EAGAIN from pids.max


def test_no_secret_in_any_command_line(tenants: Tenants) -> None:
    """Env values were bwrap --setenv arguments: every local user read them with ps."""
    for secret in (VICTIM_SECRET, HOSTILE_SECRET):
        assert procs.with_text(secret) == [], secret


def test_the_data_directory_is_private(tenants: Tenants) -> None:
    data = tenants.platform.data_dir
    assert data.stat().st_mode & 0o777 == 0o700
    assert (data / "secret.key").stat().st_mode & 0o777 == 0o600
    database = data / "slipway.db"  # on SQLite
    assert not database.exists() or database.stat().st_mode & 0o777 == 0o600
    for entry in data.iterdir():
        assert entry.stat().st_mode & 0o077 == 0, entry


def test_a_git_url_inside_the_data_directory_is_refused(tenants: Tenants) -> None:
    """A set gitUrl to B's git cache inside the data dir and printed B's source."""
    t = tenants
    cache = t.platform.data_dir / "git" / f"{t.apps['victim']['id']}.git"
    assert cache.is_dir()
    for url in (str(cache), f"file://{cache}", str(t.platform.data_dir)):
        r = t.alpha.post(f"/workspaces/{t.alpha_id}/apps", json={"name": "thief", "gitUrl": url})
        assert r.status_code == 422, r.text
        assert r.json()["errors"][0]["field"] == "gitUrl"
    # A link that leads there from an allowed directory is refused at fetch time.
    link = t.root / "repos" / "innocent"
    link.symlink_to(cache)
    r = t.alpha.post(f"/workspaces/{t.alpha_id}/apps", json={"name": "thief", "gitUrl": str(link)})
    assert r.status_code == 201, r.text
    answer = t.alpha.post(f"/workspaces/{t.alpha_id}/deploy", json={"appId": r.json()["id"]})
    assert answer.status_code == 422, answer.text
    assert "data directory" in answer.text


def test_a_crafted_tree_fails_the_deploy_and_writes_nothing_outside(tenants: Tenants) -> None:
    """Deep directories, a link and a path through it, duplicate entries: the checkout ran on
    the host as root (CVE-2025-4517's family) and wrote into root-only directories."""
    t = tenants
    outside = t.root / "outside"
    outside.mkdir()
    repo = crafted_repo(t.root / "repos" / "crafted", outside)
    app = t.create(t.alpha, t.alpha_id, {"name": "crafted", "gitUrl": repo})
    dep = deploy(t.alpha, t.alpha_id, app["id"])
    assert dep["status"] == "failed"
    assert "unsafe to check out" in dep["error"], dep["error"]
    assert list(outside.iterdir()) == []


def crafted_repo(path: Path, outside: Path) -> str:
    """A commit whose tree holds `escape` (a link to `outside`) and `escape/pwned` (a file
    through it), built with git's plumbing as an attacker would."""
    repo = GitRepo(path)

    def git(*args: str, stdin: str | None = None) -> str:
        env_args = ["git", "-C", str(path), *args]
        return subprocess.run(
            env_args, input=stdin, capture_output=True, text=True, check=True
        ).stdout.strip()

    blob = git("hash-object", "-w", "--stdin", stdin="pwned\n")
    link = git("hash-object", "-w", "--stdin", stdin=str(outside))
    inner = git("mktree", stdin=f"100644 blob {blob}\tpwned\n")
    tree = git(
        "mktree", "--missing", stdin=f"120000 blob {link}\tescape\n040000 tree {inner}\tescape\n"
    )
    commit = git("commit-tree", tree, "-m", "crafted", stdin="")
    git("update-ref", "refs/heads/main", commit)
    return repo.url


LEAK = """
import threading, time
def leak():
    time.sleep(1)
    chunks = []
    while True:
        chunks.append(bytearray(8 << 20))
        time.sleep(0.02)
threading.Thread(target=leak, daemon=True).start()
"""


def test_a_replica_that_runs_out_of_memory_is_oomkilled_and_says_so(tenants: Tenants) -> None:
    t = tenants
    leaky = t.repo("leaky", {"main.py": LEAK + PYTHON_APP})
    body = {"name": "leaky", "gitUrl": leaky.url, "memoryMb": 128}
    app = t.create(t.alpha, t.alpha_id, {**body, "startCommand": "python3 main.py"})
    dep = deploy(t.alpha, t.alpha_id, app["id"])
    assert dep["status"] == "succeeded", dep  # healthy for a second, then the leak
    lines = t.app_logs(t.alpha, t.alpha_id, app["id"], "OOMKilled")
    assert any("OOMKilled" in line and "128 MiB" in line for line in lines), lines[-5:]
    path = f"/workspaces/{t.alpha_id}/deploy/{dep['id']}/runtime-status"
    deadline = time.monotonic() + 30
    while True:
        status = t.alpha.get(path).json()
        healthy = status["conditions"][2]
        if healthy["reason"] == "OOMKilled" or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert (healthy["type"], healthy["status"]) == ("ContainerHealthy", "False"), status
    assert healthy["reason"] == "OOMKilled" and "128 MiB" in healthy["message"], status
    assert status["limits"]["memoryMb"] == 128
    assert status["limits"]["maxProcesses"] == 256
    assert status["limits"]["enforcedBy"] in ("cgroup v1", "cgroup v2")
    scaled = t.alpha.post(f"/workspaces/{t.alpha_id}/deploy/scale",
                          json={"appId": app["id"], "replicas": 0})  # fmt: skip
    assert scaled.status_code == 200


def test_tmp_is_counted_against_memory(tenants: Tenants) -> None:
    t = tenants
    fill = (
        "import os\nwritten = 0\ntry:\n    with open('/tmp/fill', 'wb') as f:\n"
        "        while written < 1 << 30:\n            f.write(b'x' * (1 << 20))\n"
        "            written += 1 << 20\nexcept OSError as exc:\n    pass\n"
        "print('PROBE serve tmp-bytes', written, flush=True)\n"
    )
    repo = t.repo("tmpfill", {"main.py": fill + PYTHON_APP})
    app = t.create(
        t.alpha, t.alpha_id,
        {"name": "tmpfill", "gitUrl": repo.url, "memoryMb": 128, "startCommand": "python3 main.py"},
    )  # fmt: skip
    answer = t.alpha.post(f"/workspaces/{t.alpha_id}/deploy", json={"appId": app["id"]})
    dep = wait_for(t.alpha, f"/workspaces/{t.alpha_id}/deploy/{answer.json()['id']}",
                   until={"succeeded", "failed"})  # fmt: skip
    lines = t.app_logs(t.alpha, t.alpha_id, app["id"], "tmp-bytes")
    written = [int(line.split()[-1]) for line in lines if "tmp-bytes" in line]
    oom = any("OOMKilled" in line for line in lines)
    assert oom or (written and max(written) <= 128 << 20), (dep, lines[-5:])


def test_byte_identical_images_are_named_for_each_workspace(tenants: Tenants) -> None:
    """The second workspace's imageRef and build log named the first one's app."""
    t = tenants
    twin = t.repo("twin", {"main.py": PYTHON_APP, "Procfile": "web: python3 main.py\n"})
    first = t.create(t.alpha, t.alpha_id, {"name": "twin-a", "gitUrl": twin.url})
    second = t.create(t.beta, t.beta_id, {"name": "twin-b", "gitUrl": twin.url})
    a = deploy(t.alpha, t.alpha_id, first["id"])
    b = deploy(t.beta, t.beta_id, second["id"])
    assert a["status"] == b["status"] == "succeeded"
    assert a["imageRef"].split(":")[-1] == b["imageRef"].split(":")[-1]  # one image
    assert "/beta/twin-b:" in b["imageRef"]
    log = t.beta.get(f"/workspaces/{t.beta_id}/deploy/{b['id']}/logs").json()["logs"]
    assert not [line for line in log if "alpha" in line or "twin-a" in line], log
