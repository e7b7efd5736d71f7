"""A whole session through the CLI alone, against `slipway up`: login, create an app, set env,
deploy with --follow, a canary with --no-traffic --tag, traffic, promote, rollback by
revision, logs, restart, cancel, keys, delete. Every command's exit status is checked; the
output is piped (as in CI), so it must hold full ids and whole lines; and no secret (an env
value, the API key) is ever printed."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from tests.conftest import PYTHON_APP

pytestmark = [pytest.mark.e2e, pytest.mark.long]

SECRET = "s3cr3t-value-never-printed"
LONG_LINE = "x" * 150  # longer than any terminal's default width
APP = PYTHON_APP.replace(
    "http.server.ThreadingHTTPServer(",
    f'print("{LONG_LINE}", flush=True)\nhttp.server.ThreadingHTTPServer(',
)
DEP_ID = re.compile(r"\bdep_[0-9a-z]{26}\b")


class Session:
    def __init__(self, env: dict[str, str], key: str) -> None:
        self.env, self.key, self.printed = env, key, ""

    def __call__(self, *args: str, code: int = 0) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "slipway", *args], env=self.env, capture_output=True,
            text=True, timeout=300, stdin=subprocess.DEVNULL,
        )  # fmt: skip
        self.printed += done.stdout + done.stderr
        assert done.returncode == code, f"{args}: {done.returncode}\n{done.stdout}{done.stderr}"
        return done.stdout if code == 0 else done.stderr


def test_a_whole_session_through_the_cli(platform, make_repo, tmp_path: Path) -> None:
    ws_id, key = platform.workspace("acme")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLIPWAY_API")}
    env |= {"XDG_CONFIG_HOME": str(tmp_path / "config"), "SLIPWAY_WORKSPACE": ""}
    cli = Session(env, key)
    cli("login", "--workspace", ws_id, "--api-key", key, "--api-url", platform.api)
    assert ws_id in cli("workspaces")

    repo = make_repo("web")
    repo.commit({"main.py": APP.replace('"hello"', '"v1"'), "requirements.txt": ""}, "v1")
    created = json.loads(cli("apps", "create", "web", "--git-url", repo.url, "--json"))
    cli("env", "set", "web", "COLOR=blue", f"SECRET_TOKEN={SECRET}")
    assert cli("env", "list", "web").split() == ["COLOR", "SECRET_TOKEN"]

    # Deploy, following the log: full ids, whole lines, the URL at the end.
    followed = cli("deploy", "web", "--follow")
    assert followed.splitlines()[-1] == created["url"]
    dep_ids = set(DEP_ID.findall(followed))
    assert len(dep_ids) == 1, followed  # the deployment, named in full
    listed = cli("deployments", "web")
    assert listed.splitlines()[0].split("\t")[:3] == ["ID", "STATUS", "REVISION"]
    assert dep_ids <= set(DEP_ID.findall(listed))
    assert any(LONG_LINE in line for line in cli("app-logs", "web").splitlines())  # unwrapped
    assert "[deploy] Deployment succeeded" in cli("logs", "web")  # the latest deployment

    # A canary that takes no traffic, under its own tag and URL.
    repo.commit({"main.py": APP.replace('"hello"', '"v2"'), "requirements.txt": ""}, "v2")
    canary = cli("deploy", "web", "--no-traffic", "--tag", "canary", "--follow")
    canary_url = created["url"].replace("://", "://canary---")
    assert canary.splitlines()[-1] == canary_url
    assert platform.get_app("web.acme.localhost").text.startswith("v1 ")
    assert platform.get_app("canary---web.acme.localhost").text.startswith("v2 ")
    shown = cli("traffic", "web").splitlines()
    assert shown[1:] == ["web-00002\t0\tcanary", "web-00001\t100\t-"], shown

    cli("traffic", "web", "web-00002=10@canary", "web-00001=90")
    assert "web-00002\t10\tcanary" in cli("traffic", "web")
    cli("promote", "web", "web-00002")
    assert platform.get_app("web.acme.localhost").text.startswith("v2 ")

    rolled = cli("rollback", "web", "--to", "web-00001", "--follow")
    assert rolled.splitlines()[-1] == created["url"]
    assert platform.get_app("web.acme.localhost").text.startswith("v1 ")
    restarted = json.loads(cli("restart", "web", "--json"))
    assert restarted["status"] in ("queued", "deploying", "succeeded")

    # A deploy cancelled by app name while it waits or builds (a slow build command).
    cli("apps", "update", "web", "--build-command", "sleep 60")
    repo.commit({"main.py": APP, "requirements.txt": "", "x.txt": "3"}, "v3")
    started = json.loads(cli("deploy", "web", "--json"))
    cancelled = json.loads(cli("cancel", "web", "--json"))
    assert cancelled["status"] == "cancelled"
    assert cancelled["id"] == started["id"]  # the app's newest running one
    cli("apps", "update", "web", "--unset", "buildCommand")
    assert json.loads(cli("apps", "show", "web", "--json"))["buildCommand"] is None

    # Keys: one created (shown once) and revoked; the last one is kept.
    ci = json.loads(cli("keys", "create", "ci", "--json"))
    assert ci["key"].startswith("dor_sk_")
    cli("keys", "revoke", "ci")
    default = next(k for k in json.loads(cli("keys", "list", "--json")) if k["name"] == "default")
    refused = cli("keys", "revoke", default["id"], code=1)
    assert "last API key" in refused and "(409 from DELETE http://" in refused

    # Errors name what was not found and the URL that was called.
    missing = cli("apps", "show", "nope", code=1)
    assert "no app named 'nope'" in missing and f"{platform.api}/workspaces/{ws_id}/apps" in missing
    shown_app = json.loads(cli("apps", "show", "web", "--json"))
    assert shown_app["env"] == ["COLOR", "SECRET_TOKEN"]  # names only
    assert cli("open", "web").strip() == created["url"]
    cli("apps", "update", "web", "--health-check-path", "/")
    assert json.loads(cli("apps", "show", "web", "--json"))["healthCheckPath"] == "/"

    cli("apps", "delete", "web", "--yes")
    assert "web" not in cli("apps", "list")
    assert (
        httpx.get(
            f"http://127.0.0.1:{platform.router_port}/", headers={"Host": "web.acme.localhost"}
        ).status_code
        == 404
    )

    assert SECRET not in cli.printed and key not in cli.printed  # never printed
    assert cli.printed.count(ci["key"]) == 1  # only when it was created
