"""The platform's event log: one line per thing an operator watching `slipway up` wants to
see (a deployment queued, building, succeeded or failed, a replica that crashed or was
OOM-killed, an autoscaling decision, a start on demand), on the logger `slipway.events` at
INFO. Each line is a sentence; its fields ride along for `--log-format json`
(`extra={"event": {...}}`). Adapters without access to this module (the runtime) log to the
same logger with the same shape. No secret is ever a field: names, ids, statuses, reasons.
"""

from __future__ import annotations

import logging

from slipway.domain.models import Deployment

log = logging.getLogger("slipway.events")


def event(kind: str, message: str, **fields: object) -> None:
    log.info(message, extra={"event": {"kind": kind, **fields}})


def deployment(dep: Deployment, where: str | None = None) -> None:
    """A deployment's status as it is now; `where`: "workspace/app" when known."""
    subject = where or f"{dep.workspace_id}/{dep.app_id}"
    status = dep.status.value
    text = f"deploy {dep.id} {subject} {status}"
    if dep.revision_name and status in ("deploying", "succeeded"):
        text += f" ({dep.revision_name})"
    if dep.error and status == "failed":
        text += f": {dep.error.splitlines()[0]}"
    event(
        "deployment",
        text,
        deployment=dep.id,
        app=dep.app_id,
        workspace=dep.workspace_id,
        status=status,
        revision=dep.revision_name,
    )
