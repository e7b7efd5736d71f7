"""The core loop through `slipway up`: create an app from a git repository, deploy it with the
spec's curl body, watch it succeed, reach it through the router, replace it, and fail safely."""

from __future__ import annotations

import json
import time

import pytest
from tests.conftest import NODE_APP, PYTHON_APP
from tests.e2e.conftest import deploy, wait_for

pytestmark = pytest.mark.e2e


def test_python_and_node_apps_deploy_and_serve_through_the_router(platform, make_repo):
    ws_id, key = platform.workspace("acme")
    api = platform.client(key)

    py = make_repo("py")
    py.commit({"main.py": PYTHON_APP, "requirements.txt": ""}, "feat: first version")
    created = api.post(
        f"/workspaces/{ws_id}/apps",
        json={"name": "my-api", "gitUrl": py.url, "env": {"GREETING": "v1"}},
    )
    assert created.status_code == 201, created.text
    app = created.json()
    assert app["url"] == f"http://my-api.acme.localhost:{platform.router_port}"

    # The spec's curl body, verbatim in shape.
    triggered = api.post(
        f"/workspaces/{ws_id}/deploy", json={"appId": app["id"], "gitBranch": "main"}
    )
    assert triggered.status_code == 202, triggered.text
    dep = triggered.json()
    assert dep["status"] == "queued"
    assert dep["gitCommitSha"] == py.git("rev-parse", "HEAD")
    assert dep["gitCommitMessage"] == "feat: first version"
    assert dep["buildpack"] == "nixpacks"

    done = wait_for(api, f"/workspaces/{ws_id}/deploy/{dep['id']}", until={"succeeded", "failed"})
    assert done["status"] == "succeeded", done
    assert done["revisionName"] == "my-api-00001"
    assert done["imageRef"].startswith("local/acme/my-api:sha256-")
    assert done["durationSeconds"] is not None
    answer = platform.get_app("my-api.acme.localhost")
    assert answer.status_code == 200
    assert answer.text.startswith("v1 path=/")
    assert "host=my-api.acme.localhost" in answer.text

    logs = api.get(f"/workspaces/{ws_id}/deploy/{dep['id']}/logs").json()["logs"]
    assert any("Python" in line for line in logs)
    status = api.get(f"/workspaces/{ws_id}/deploy/{dep['id']}/runtime-status").json()
    assert status["phase"] == "Running"
    assert status["ready"] == 1

    # A second deploy of a new commit replaces the first.
    py.commit({"main.py": PYTHON_APP.replace('"hello"', '"second"')}, "feat: second")
    api.patch(f"/workspaces/{ws_id}/apps/{app['id']}", json={"env": {}})
    dep2 = api.post(f"/workspaces/{ws_id}/deploy", json={"appId": app["id"]}).json()
    done2 = wait_for(api, f"/workspaces/{ws_id}/deploy/{dep2['id']}", until={"succeeded", "failed"})
    assert done2["status"] == "succeeded", done2
    assert done2["revisionName"] == "my-api-00002"
    assert platform.get_app("my-api.acme.localhost").text.startswith("second ")

    # A new start command and a run-time variable deploy the same image: no phase runs.
    api.patch(
        f"/workspaces/{ws_id}/apps/{app['id']}",
        json={"startCommand": "exec python main.py", "env": {"GREETING": "v3"}},
    )
    restarted = deploy(api, ws_id, app["id"])
    assert restarted["status"] == "succeeded", restarted
    assert restarted["imageRef"] == done2["imageRef"]
    restart_logs = api.get(f"/workspaces/{ws_id}/deploy/{restarted['id']}/logs").json()["logs"]
    assert any("already built: no phase runs" in line for line in restart_logs), restart_logs
    assert not any("Running install command" in line for line in restart_logs)
    assert restarted["revisionName"] == "my-api-00003"
    assert platform.get_app("my-api.acme.localhost").text.startswith("v3 ")

    # A Node app with a build script.
    node = make_repo("node")
    node.commit(
        {
            "package.json": json.dumps(
                {
                    "name": "web",
                    "version": "1.0.0",
                    "scripts": {
                        "build": "node -e \"require('fs').writeFileSync('built.json', "
                        "JSON.stringify({built: 'yes'}))\"",
                        "start": "node server.js",
                    },
                }
            ),
            "server.js": NODE_APP,
        },
        "node app",
    )
    web = api.post(f"/workspaces/{ws_id}/apps", json={"name": "web", "gitUrl": node.url}).json()
    dep3 = api.post(f"/workspaces/{ws_id}/deploy", json={"appId": web["id"]}).json()
    done3 = wait_for(api, f"/workspaces/{ws_id}/deploy/{dep3['id']}", until={"succeeded", "failed"})
    assert done3["status"] == "succeeded", api.get(
        f"/workspaces/{ws_id}/deploy/{dep3['id']}/logs"
    ).json()
    assert platform.get_app("web.acme.localhost").text == "node hello built=yes"

    listed = api.get(f"/workspaces/{ws_id}/deploy", params={"appId": app["id"]}).json()
    assert [d["id"] for d in listed["data"]] == [restarted["id"], dep2["id"], dep["id"]]
    assert listed["meta"] == {"total": 3, "page": 1, "limit": 20, "totalPages": 1}


def test_failed_build_and_unhealthy_app_leave_the_old_revision_serving(platform, make_repo):
    ws_id, key = platform.workspace("team")
    api = platform.client(key)
    repo = make_repo("svc")
    repo.commit({"main.py": PYTHON_APP}, "good")
    app = api.post(f"/workspaces/{ws_id}/apps", json={"name": "svc", "gitUrl": repo.url}).json()
    assert deploy(api, ws_id, app["id"])["status"] == "succeeded"

    # A build command that fails.
    api.patch(
        f"/workspaces/{ws_id}/apps/{app['id']}", json={"buildCommand": "echo boom >&2; exit 3"}
    )
    bad = api.post(f"/workspaces/{ws_id}/deploy", json={"appId": app["id"]}).json()
    failed = wait_for(api, f"/workspaces/{ws_id}/deploy/{bad['id']}", until={"succeeded", "failed"})
    assert failed["status"] == "failed"
    assert "3" in failed["error"]
    assert failed["revisionName"] is None
    logs = api.get(f"/workspaces/{ws_id}/deploy/{bad['id']}/logs").json()["logs"]
    assert "boom" in logs
    assert platform.get_app("svc.team.localhost").status_code == 200
    status = api.get(f"/workspaces/{ws_id}/deploy/{bad['id']}/runtime-status").json()
    assert status["phase"] == "Failed"

    # An app that never becomes healthy (listens on the wrong port).
    api.patch(f"/workspaces/{ws_id}/apps/{app['id']}", json={"buildCommand": None})
    repo.commit({"main.py": "import time\ntime.sleep(600)\n"}, "broken: never listens")
    sick = api.post(f"/workspaces/{ws_id}/deploy", json={"appId": app["id"]}).json()
    failed = wait_for(
        api, f"/workspaces/{ws_id}/deploy/{sick['id']}", until={"succeeded", "failed"}, timeout=60
    )
    assert failed["status"] == "failed"
    assert "health" in failed["error"]
    answer = platform.get_app("svc.team.localhost")
    assert answer.status_code == 200
    assert answer.text.startswith("hello")

    # An app that crashes says why: its last lines of output, in the error and the log.
    crash = "import sys\nprint('loading settings', flush=True)\nsys.exit('KeyError: DB')\n"
    repo.commit({"main.py": crash}, "broken: crashes")
    crashed = deploy(api, ws_id, app["id"])
    assert crashed["status"] == "failed"
    assert crashed["error"].startswith("the app exited with status 1 before becoming healthy.")
    assert crashed["error"].endswith("lines of output:\nloading settings\nKeyError: DB")
    logs = api.get(f"/workspaces/{ws_id}/deploy/{crashed['id']}/logs").json()["logs"]
    assert logs[-2:] == ["[app] loading settings", "[app] KeyError: DB"]

    # An app bound to a fixed port is told so, well before the health check's time limit.
    fixed = PYTHON_APP.replace('int(os.environ["PORT"])', "8000")
    repo.commit({"main.py": fixed}, "broken: fixed port")
    started = time.monotonic()
    wrong = deploy(api, ws_id, app["id"])
    assert wrong["status"] == "failed"
    assert wrong["error"].startswith("the app listens on port 8000, not on $PORT=8080")
    assert time.monotonic() - started < 30
    assert platform.get_app("svc.team.localhost").text.startswith("hello")


def test_unknown_host_and_app_without_replicas(platform):
    assert platform.get_app("nothing.here.localhost").status_code == 404
