"""Apps shaped like the frameworks' own getting-started apps deploy through `slipway up` with
no Slipway-specific file, and serve their real pages: Flask (without gunicorn), FastAPI,
Django, Express with yarn, Fastify, and a Vite single-page app served by caddy. Their
dependencies come from the package registries, as a user's would. The lockfiles are made the
way their authors make them (`yarn install`, `npm install --package-lock-only`) before the
first commit.

The same apps' public originals were checked by hand; docs/builds.md lists them."""

from __future__ import annotations

import json
import subprocess
import time

import pytest
from tests.e2e.conftest import FINISHED, wait_for

pytestmark = pytest.mark.e2e

FLASK = """\
from flask import Flask

app = Flask(__name__)


@app.route("/")
def index():
    return "<h1>Hello from Flask</h1>"
"""

FASTAPI = """\
from fastapi import FastAPI

app = FastAPI()


@app.get("/")
def root():
    return {"message": "Hello from FastAPI"}
"""

DJANGO = {
    "requirements.txt": "django>=4.2,<6\ngunicorn\n",
    "manage.py": """\
#!/usr/bin/env python
import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
""",
    "mysite/__init__.py": "",
    "mysite/settings.py": """\
SECRET_KEY = "not-a-secret-for-a-test"
DEBUG = False
ALLOWED_HOSTS = ["*"]
ROOT_URLCONF = "mysite.urls"
WSGI_APPLICATION = "mysite.wsgi.application"
INSTALLED_APPS = ["django.contrib.contenttypes", "django.contrib.auth"]
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": "/tmp/db.sqlite3"}}
USE_TZ = True
""",
    "mysite/urls.py": """\
from django.http import HttpResponse
from django.urls import path

urlpatterns = [path("", lambda request: HttpResponse("Hello from Django"))]
""",
    "mysite/wsgi.py": """\
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")
application = get_wsgi_application()
""",
}

EXPRESS = """\
const express = require("express");
const app = express();
app.get("/", (req, res) => res.send("Hello from Express"));
app.listen(process.env.PORT || 3000, () => console.log("listening"));
"""

FASTIFY = """\
const fastify = require("fastify")({ logger: true });
fastify.get("/", async () => ({ hello: "Fastify" }));
fastify.listen({ port: Number(process.env.PORT) || 3000, host: "0.0.0.0" }, (err) => {
  if (err) { fastify.log.error(err); process.exit(1); }
});
"""

VITE_INDEX = """\
<!doctype html>
<html>
  <head><title>Vite SPA</title></head>
  <body><div id="app"></div><script type="module" src="/src/main.js"></script></body>
</html>
"""
VITE_MAIN = 'document.querySelector("#app").textContent = "Hello from Vite";\n'


def _lockfile(repo_dir, argv: list[str]) -> None:
    subprocess.run(argv, cwd=repo_dir, check=True, capture_output=True, timeout=300)


def test_framework_apps_deploy_unchanged_and_serve_their_pages(platform, make_repo):
    apps: dict[str, dict] = {}
    repos = {}

    flask = repos["flask"] = make_repo("flask")
    flask.commit({"requirements.txt": "flask\n", "main.py": FLASK}, "flask app")
    fastapi = repos["fastapi"] = make_repo("fastapi")
    fastapi.commit({"requirements.txt": "fastapi\nuvicorn\n", "main.py": FASTAPI}, "fastapi")
    django = repos["django"] = make_repo("django")
    django.commit(DJANGO, "django project")

    express = repos["express"] = make_repo("express")
    express.write({
        "package.json": json.dumps({"name": "express-app", "version": "1.0.0", "main": "app.js",
                                    "scripts": {"start": "node app.js"},
                                    "dependencies": {"express": "^4.19.2"}}),
        "app.js": EXPRESS,
        ".gitignore": "node_modules\n",
    })  # fmt: skip
    _lockfile(express.path, ["npx", "--yes", "yarn@1.22.22", "install", "--ignore-scripts",
                             "--non-interactive", "--silent"])  # fmt: skip
    express.commit({}, "express app with yarn.lock")

    vite = repos["vite"] = make_repo("vite")
    vite.write({
        "package.json": json.dumps({"name": "vite-spa", "private": True, "type": "module",
                                    "scripts": {"dev": "vite", "build": "vite build"},
                                    "devDependencies": {"vite": "^5.4.0"}}),
        "index.html": VITE_INDEX,
        "src/main.js": VITE_MAIN,
    })  # fmt: skip
    _lockfile(vite.path, ["npm", "install", "--package-lock-only", "--ignore-scripts",
                          "--no-audit", "--no-fund"])  # fmt: skip
    vite.commit({}, "vite spa")

    fastify = repos["fastify"] = make_repo("fastify")
    fastify.write({
        "package.json": json.dumps({"name": "fastify-app", "version": "1.0.0",
                                    "scripts": {"start": "node server.js"},
                                    "dependencies": {"fastify": "^4.28.0"}}),
        "server.js": FASTIFY,
        ".gitignore": "node_modules\n",
    })  # fmt: skip
    _lockfile(fastify.path, ["npm", "install", "--package-lock-only", "--ignore-scripts",
                             "--no-audit", "--no-fund"])  # fmt: skip
    fastify.commit({}, "fastify app")

    # Three workspaces, so builds run side by side (one at a time per workspace).
    spaces = [platform.workspace(name) for name in ("py", "web", "more")]
    placement = {"flask": 0, "fastapi": 2, "django": 0, "express": 1, "vite": 1, "fastify": 2}
    deployments = {}
    for name, repo in repos.items():
        ws_id, key = spaces[placement[name]]
        api = platform.client(key)
        created = api.post(f"/workspaces/{ws_id}/apps", json={"name": name, "gitUrl": repo.url})
        assert created.status_code == 201, created.text
        apps[name] = created.json()
        answer = api.post(f"/workspaces/{ws_id}/deploy", json={"appId": apps[name]["id"]})
        assert answer.status_code == 202, answer.text
        deployments[name] = (api, ws_id, answer.json()["id"])

    hosts = {}
    for name, (api, ws_id, dep_id) in deployments.items():
        done = wait_for(api, f"/workspaces/{ws_id}/deploy/{dep_id}", until=FINISHED, timeout=600)
        logs = api.get(f"/workspaces/{ws_id}/deploy/{dep_id}/logs").json()["logs"]
        assert done["status"] == "succeeded", (name, done["error"], "\n".join(logs[-30:]))
        hosts[name] = apps[name]["url"].split("//", 1)[1].split(":", 1)[0]
        if name == "flask":
            assert any("Note: start command guessed" in line for line in logs), logs
        if name == "express":
            assert "[nixpacks] Running install command: yarn install --frozen-lockfile" in logs

    assert "Hello from Flask" in platform.get_app(hosts["flask"]).text
    assert platform.get_app(hosts["fastapi"]).json() == {"message": "Hello from FastAPI"}
    assert platform.get_app(hosts["django"]).text == "Hello from Django"
    assert platform.get_app(hosts["express"]).text == "Hello from Express"
    assert platform.get_app(hosts["fastify"]).json() == {"hello": "Fastify"}

    page = platform.get_app(hosts["vite"])
    assert page.status_code == 200
    assert "<title>Vite SPA</title>" in page.text
    assert "/src/main.js" not in page.text  # the built page, not the source
    assert page.headers["server"].lower() == "caddy"
    deep = platform.get_app(hosts["vite"], "/settings/profile")  # the SPA's own routes
    assert deep.status_code == 200 and deep.text == page.text
    script = page.text.split('src="', 1)[1].split('"', 1)[0]
    asset = platform.get_app(hosts["vite"], script)
    assert asset.status_code == 200
    assert "Hello from Vite" in asset.text
    assert "immutable" in asset.headers.get("cache-control", "")


def test_a_toolchain_this_host_cannot_provide_fails_in_seconds(platform, make_repo):
    ws_id, key = platform.workspace("versions")
    api = platform.client(key)
    repo = make_repo("py314")
    repo.commit(
        {".python-version": "3.14\n", "requirements.txt": "flask\n", "main.py": FLASK},
        "asks for Python 3.14",
    )
    app = api.post(f"/workspaces/{ws_id}/apps", json={"name": "future", "gitUrl": repo.url})
    started = time.monotonic()
    dep = api.post(f"/workspaces/{ws_id}/deploy", json={"appId": app.json()["id"]}).json()
    done = wait_for(api, f"/workspaces/{ws_id}/deploy/{dep['id']}", until=FINISHED)
    assert time.monotonic() - started < 20
    assert done["status"] == "failed"
    error = done["error"]
    assert "Python 3.14" in error and ".python-version" in error, error
    assert "SLIPWAY_TOOLCHAIN_DIRS" in error
    assert "\n" not in error
