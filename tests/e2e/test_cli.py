"""The CLI client against `slipway up`: create an app, `deploy --follow` it (exit 0, the
log scrolls by), see its runtime logs, and a failing build exits non-zero."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from tests.conftest import PYTHON_APP

pytestmark = [pytest.mark.e2e, pytest.mark.long]

APP = PYTHON_APP.replace(
    "http.server.ThreadingHTTPServer(",
    'print("app says hello on stdout", flush=True)\n'
    'import sys; print("app says hi on stderr", file=sys.stderr, flush=True)\n'
    "http.server.ThreadingHTTPServer(",
)


def cli(env: dict[str, str], *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "slipway", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if check:
        assert result.returncode == 0, result.stdout + result.stderr
    return result


def test_cli_deploys_follows_and_reads_logs(platform, make_repo, tmp_path: Path) -> None:
    ws_id, key = platform.workspace("clits")
    env = {
        **os.environ,
        "SLIPWAY_API_URL": platform.api,
        "SLIPWAY_API_KEY": key,
        "SLIPWAY_WORKSPACE": ws_id,
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "COLUMNS": "200",
    }
    repo = make_repo("py")
    repo.commit({"main.py": APP, "requirements.txt": ""}, "feat: first")
    created = json.loads(cli(env, "apps", "create", "web", "--git-url", repo.url, "--json").stdout)
    assert created["name"] == "web"
    assert "web" in cli(env, "apps", "list").stdout

    followed = cli(env, "deploy", "web", "--follow")
    assert "Python" in followed.stdout  # the build log scrolled by
    assert "[deploy] Deployment succeeded" in followed.stdout
    *_, last_status, url = followed.stdout.splitlines()
    assert "succeeded" in last_status and url == created["url"]  # it ends with the URL

    deps = json.loads(cli(env, "deployments", "web", "--json").stdout)["data"]
    assert deps[0]["status"] == "succeeded"
    logs = json.loads(cli(env, "logs", deps[0]["id"], "--json").stdout)["logs"]
    assert json.loads(cli(env, "logs", "web", "--json").stdout)["logs"] == logs  # the latest
    assert logs[-1].startswith("[deploy] Deployment succeeded")
    replay = cli(env, "logs", deps[0]["id"], "--follow", "--json").stdout.splitlines()
    assert json.loads(replay[0]) == {"type": "deployment", "id": deps[0]["id"]}
    assert [json.loads(f)["line"] for f in replay[1:-1]] == logs
    assert json.loads(replay[-1]) == {"type": "status", "status": "succeeded"}

    runtime = json.loads(cli(env, "app-logs", "web", "--json").stdout)["logs"]
    said = {(e["stream"], e["line"]) for e in runtime}
    assert ("stdout", "app says hello on stdout") in said
    assert ("stderr", "app says hi on stderr") in said
    assert all(e["revision"] == "web-00001" for e in runtime)

    revisions = json.loads(cli(env, "revisions", "web", "--json").stdout)
    assert revisions[0]["revisionName"] == "web-00001"
    status = json.loads(cli(env, "status", "web", "--json").stdout)
    assert status["runtime"]["phase"] == "Running"

    bad = cli(env, "traffic", "web", "web-00001=50", check=False)
    assert bad.returncode != 0 and "100" in bad.stderr

    # A build that fails: exit status non-zero, the failure in the output.
    repo.commit({"requirements.txt": "this-package-does-not-exist-slipway==0.0.0\n"}, "broken")
    failed = cli(env, "deploy", "web", "--follow", check=False)
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "failed" in failed.stdout.splitlines()[-1]


def test_cli_without_credentials_says_how_to_log_in(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("SLIPWAY_API_KEY", "SLIPWAY_WORKSPACE")}
    env["XDG_CONFIG_HOME"] = str(tmp_path)
    result = cli(env, "apps", "list", check=False)
    assert result.returncode == 1
    assert "slipway login" in result.stderr
