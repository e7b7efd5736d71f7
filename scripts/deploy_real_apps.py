"""Deploy real repositories through `slipway up` as a new user would, and report (by hand).

    python scripts/deploy_real_apps.py /tmp/realrepos/flask-hello-world /tmp/realrepos/...
    python scripts/deploy_real_apps.py '/tmp/realrepos/django::DATABASE_URL=sqlite:////tmp/db'

Each argument is a local clone (allowed as a local repository through
SLIPWAY_LOCAL_GIT_ROOTS, set to its parent), optionally followed by `::` and environment
variables for the app as NAME=VALUE pairs separated by `::` (what a user would set with the
apps API). The script starts a platform in a fresh data directory, creates one app per
repository with only `name`, `gitUrl` (and `env` when given), deploys them all, waits,
GETs `/` through the router and prints the outcome and the build's `[nixpacks]`
lines. Not a test: the repositories are the public originals of tests/e2e/test_real_apps.py's
apps (docs/builds.md, "Real apps checked by hand").
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main(repos: list[tuple[Path, dict[str, str]]]) -> None:
    data = Path(tempfile.mkdtemp(prefix="slipway-real-"))
    api_port, router_port = free_port(), free_port()
    roots = ":".join(sorted({str(r.parent) for r, _ in repos}))
    env = {**os.environ, "SLIPWAY_LOCAL_GIT_ROOTS": roots}
    up = [sys.executable, "-m", "slipway", "up", "--data-dir", str(data),
          "--api-port", str(api_port), "--router-port", str(router_port)]  # fmt: skip
    with (data.parent / f"{data.name}.log").open("w") as log:
        platform = subprocess.Popen(up, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        time.sleep(4)
        create = [sys.executable, "-m", "slipway", "workspace", "create", "real", "--json",
                  "--data-dir", str(data)]  # fmt: skip
        ws = json.loads(subprocess.run(create, capture_output=True, text=True, env=env).stdout)
        api = httpx.Client(
            base_url=f"http://127.0.0.1:{api_port}/api/v1",
            headers={"Authorization": f"Bearer {ws['apiKey']}"},
            timeout=60,
        )
        started = {}
        for i, (repo, app_env) in enumerate(repos):
            name = f"{repo.name.split('-')[0][:20].lower()}{i}"
            body = {"name": name, "gitUrl": str(repo), **({"env": app_env} if app_env else {})}
            app = api.post(f"/workspaces/{ws['id']}/apps", json=body)
            dep = api.post(f"/workspaces/{ws['id']}/deploy", json={"appId": app.json()["id"]})
            started[repo.name] = (app.json(), dep.json())
        for label, (app, dep) in started.items():
            path = f"/workspaces/{ws['id']}/deploy/{dep['id']}"
            deadline = time.monotonic() + 900
            while (done := api.get(path).json())["status"] not in ("succeeded", "failed"):
                if time.monotonic() > deadline:
                    break
                time.sleep(2)
            host = app["url"].split("//", 1)[1].split(":", 1)[0]
            page = httpx.get(f"http://127.0.0.1:{router_port}/", headers={"Host": host}, timeout=10)
            logs = api.get(f"{path}/logs").json()["logs"]
            print(f"== {label}: {done['status']} branch={done['gitBranch']} "
                  f"{done['durationSeconds']}s error={done['error']!r}")  # fmt: skip
            print(f"   GET / -> {page.status_code} {page.text[:100]!r}")
            for line in logs:
                if line.startswith("[nixpacks]"):
                    print("  ", line)
    finally:
        platform.terminate()
        platform.wait(30)


def parse(arg: str) -> tuple[Path, dict[str, str]]:
    path, *pairs = arg.split("::")
    return Path(path).resolve(), dict(pair.split("=", 1) for pair in pairs)


if __name__ == "__main__":
    main([parse(arg) for arg in sys.argv[1:]])
