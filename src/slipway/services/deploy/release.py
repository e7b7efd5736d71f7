"""The release command (CONTRACT §4, §5): once per deployment and per rollback, after the
image is ready and before any replica of the new revision starts or traffic moves.

It runs in the revision's sandbox with the revision's env and image at `/app`; every output
line goes to the deployment's log. A non-zero exit fails the deployment, and since nothing
has moved yet the revisions that served before keep serving. The error names the exit status
only: the command's output may hold secrets and stays in the log.
"""

from __future__ import annotations

from slipway.domain.errors import DeployFailed
from slipway.ports import LogSink, RevisionSpec
from slipway.services.platform import Platform


async def run_release(
    platform: Platform, spec: RevisionSpec, command: str | None, *, log: LogSink
) -> None:
    if not command:
        return
    await log(f"[release] Running the release command of {spec.revision}")
    code = await platform.runtime.run_once(
        spec, command, log=log, timeout=platform.settings.release_timeout_seconds
    )
    if code != 0:
        raise DeployFailed(f"the release command exited with status {code}.")
    await log("[release] Release command succeeded")
