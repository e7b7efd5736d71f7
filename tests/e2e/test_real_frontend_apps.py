"""The two heavy ones: a Next.js app and a create-react-app app, both with a committed
yarn.lock, deploy through `slipway up` with no Slipway-specific file. Next.js is built and
started with `next start`; create-react-app is built and its `build/` served by caddy, never by
its development server.

Their sources are fixtures shaped like Render's own examples (render-examples/nextjs-hello-world
and render-examples/create-react-app, checked by hand: docs/builds.md), with the lockfiles their
authors would commit (`yarn install` with Yarn 1.22.22). The packages come from the real
registry during the build, as a user's would; nothing is installed on the host first."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from tests.e2e.conftest import FINISHED, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.long]

FIXTURES = Path(__file__).parents[1] / "fixtures" / "real_apps"
NETWORK_TROUBLE = "There appears to be trouble with your network connection"


def _repo_from(fixture: str, make_repo):
    repo = make_repo(fixture)
    shutil.copytree(FIXTURES / fixture, repo.path, dirs_exist_ok=True)
    repo.commit({}, f"{fixture} as its author commits it")
    return repo


def _finished(api, ws_id: str, dep_id: str) -> tuple[dict, list[str]]:
    done = wait_for(api, f"/workspaces/{ws_id}/deploy/{dep_id}", until=FINISHED, timeout=900)
    return done, api.get(f"/workspaces/{ws_id}/deploy/{dep_id}/logs").json()["logs"]


def test_next_and_create_react_app_with_yarn_build_and_serve(platform, make_repo):
    started = {}
    for name, fixture in (("next", "nextjs-yarn"), ("cra", "cra-yarn")):
        repo = _repo_from(fixture, make_repo)
        ws_id, key = platform.workspace(f"ws-{name}")
        api = platform.client(key)
        app = api.post(f"/workspaces/{ws_id}/apps", json={"name": name, "gitUrl": repo.url})
        assert app.status_code == 201, app.text
        dep = api.post(f"/workspaces/{ws_id}/deploy", json={"appId": app.json()["id"]})
        assert dep.status_code == 202, dep.text
        started[name] = (api, ws_id, app.json()["id"], dep.json()["id"])

    for name, (api, ws_id, app_id, dep_id) in started.items():
        done, logs = _finished(api, ws_id, dep_id)
        if done["status"] == "failed" and any(NETWORK_TROUBLE in line for line in logs):
            # This machine's registry proxy drops connections under load now and then (yarn
            # retried 4 times, then `read ETIMEDOUT`): deploy again, as a user would; the
            # packages already fetched are in the app's cache.
            print(f"--- {name}, first attempt:", *logs[-20:], sep="\n")
            again = api.post(f"/workspaces/{ws_id}/deploy", json={"appId": app_id})
            done, logs = _finished(api, ws_id, again.json()["id"])
        print(f"--- {name}:", *logs[-60:], sep="\n")  # shown when the test fails
        assert done["status"] == "succeeded", (name, done["error"])
        assert "[nixpacks] Running install command: yarn install --frozen-lockfile" in logs
        assert any("yarn 1.22" in line.lower() for line in logs), logs[:40]

    home = platform.get_app("next.ws-next.localhost")
    assert home.status_code == 200, home.text
    assert "Hello from Next.js" in home.text
    assert home.headers.get("x-powered-by") == "Next.js"  # `next start`, not a static export
    about = platform.get_app("next.ws-next.localhost", "/about")
    assert about.status_code == 200 and "About this Next.js app" in about.text

    page = platform.get_app("cra.ws-cra.localhost")
    assert page.status_code == 200, page.text
    assert "<title>React App</title>" in page.text
    assert page.headers["server"].lower() == "caddy"
    assert "/static/js/main." in page.text  # the production build, not the dev server's page
    assert platform.get_app("cra.ws-cra.localhost", "/any/client/route").text == page.text
