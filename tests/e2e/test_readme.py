"""The README's walkthrough, run as written (only its ports and its /tmp directory changed
for this test's platform) from a second working directory: the shell blocks between "A
60-second walkthrough" and the curl commands of the Deploy API, in one bash, and the app
answers what the README says it answers."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

README = Path(__file__).resolve().parents[2] / "README.md"


def walkthrough() -> list[str]:
    text = README.read_text()
    section = text[text.index("## A 60-second walkthrough") :]
    section = section[: section.index("The same with the Deploy API's own curl commands")]
    return re.findall(r"```sh\n(.*?)```", section, re.S)


def test_the_readme_walkthrough_works_from_another_directory(platform, tmp_path: Path) -> None:
    blocks = walkthrough()
    assert len(blocks) == 3, blocks
    script = "set -euo pipefail\n" + "\n".join(blocks)
    script = script.replace("/tmp/hello", str(tmp_path / "hello"))
    script = script.replace(":8080/", f":{platform.router_port}/")
    elsewhere = tmp_path / "second-terminal"
    elsewhere.mkdir()
    env = {
        **os.environ,
        "SLIPWAY_DATA_DIR": str(platform.data_dir),  # what `slipway up` was given
        "SLIPWAY_API_URL": platform.api,  # the walkthrough's API is on port 8000
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@x",
        "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@x",
    }  # fmt: skip
    done = subprocess.run(
        ["bash", "-c", script], cwd=elsewhere, env=env, capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.rstrip().endswith("hello from slipway"), done.stdout
    assert "my-api.acme.localhost" in done.stdout  # the deploy ended with the app's URL
    said = platform.log_path.read_text()  # `slipway up` talks: the deployment's events
    for status in ("queued", "building", "deploying", "succeeded (my-api-00001)"):
        assert re.search(rf"deploy dep_\w+ acme/my-api {re.escape(status)}", said), said[-3000:]
    assert f"data {platform.data_dir.resolve()}" in said
