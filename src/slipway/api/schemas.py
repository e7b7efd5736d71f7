"""Request and response bodies of the Deploy API: camelCase on the wire, strict on the way in.

Request bodies forbid unknown fields and coerce nothing (`"3"` or `1.5` for an integer is a
422). Their fields are all optional here: which ones are required is the services' rule, so a
create and a PATCH share one body and every missing or bad field is reported at once. Every
string of a request body is `Text`: one that no store, log or process could take (a NUL, or a
lone surrogate that JSON's `\\ud800` escapes can carry) is a 422 naming its field.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, PlainSerializer
from pydantic.alias_generators import to_camel


def rfc3339(value: datetime) -> str:
    """`2025-04-17T12:00:00Z`: UTC, second precision. A naive datetime is taken as UTC."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


Timestamp = Annotated[datetime, PlainSerializer(rfc3339, return_type=str, when_used="json")]


def storable(value: str) -> str:
    """`value` when it is text every layer can store and print; ValueError otherwise."""
    if "\x00" in value:
        raise ValueError("must not contain a NUL character")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode text (no unpaired surrogate)") from None
    return value


Text = Annotated[str, AfterValidator(storable)]


class Out(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class In(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, extra="forbid", strict=True)


# --------------------------------------------------------------------------- apps


class AppIn(In):
    """POST (name and gitUrl required) and PATCH (only what is given changes) of an app."""

    name: Text | None = None
    git_url: Text | None = None
    git_branch: Text | None = None
    root_directory: Text | None = None
    buildpack: Text | None = None
    start_command: Text | None = None
    build_command: Text | None = None
    install_command: Text | None = None
    release_command: Text | None = None
    health_check_path: Text | None = None
    env: dict[Text, Text] | None = None
    min_replicas: int | None = None
    max_replicas: int | None = None
    replicas: int | None = None
    memory_mb: int | None = None
    target_concurrency: int | None = None
    https_only: bool | None = None


class AppOut(Out):
    id: str
    name: str
    git_url: str
    git_branch: str | None  # null until the first deploy learns the default branch
    root_directory: str | None
    buildpack: str
    start_command: str | None
    build_command: str | None
    install_command: str | None
    release_command: str | None
    health_check_path: str | None
    env: dict[str, str]
    min_replicas: int
    max_replicas: int | None
    replicas: int
    memory_mb: int | None  # per replica; null: the platform's default (512)
    target_concurrency: int  # the autoscaler's aim per replica (with maxReplicas set)
    https_only: bool  # plain HTTP redirects to HTTPS on hosts with a certificate
    url: str
    created_at: Timestamp
    updated_at: Timestamp


class PageMeta(Out):
    total: int
    page: int
    limit: int
    total_pages: int


class AppList(Out):
    data: list[AppOut]
    meta: PageMeta


class Deleted(Out):
    id: str
    deleted: bool = True


# --------------------------------------------------------------------------- domains


class DomainIn(In):
    hostname: str
    tag: str | None = None


class DnsRecordOut(Out):
    type: str
    name: str
    value: str


class CertificateOut(Out):
    not_before: Timestamp
    not_after: Timestamp
    serial: str | None
    issuer: str | None


class DomainOut(Out):
    id: str
    hostname: str
    tag: str | None
    status: str  # pendingDns | issuing | ready | failed
    reason: str | None  # why it is not ready (or why its last renewal failed)
    dns_record: DnsRecordOut  # what to create at the DNS provider
    url: str
    certificate: CertificateOut | None
    next_check_at: Timestamp | None  # when Slipway looks at it again
    created_at: Timestamp
    updated_at: Timestamp


# --------------------------------------------------------------------------- api keys


class KeyIn(In):
    name: Text


class KeyCreated(Out):
    id: str
    name: str
    key: str
    created_at: Timestamp


class KeyOut(Out):
    id: str
    name: str
    prefix: str
    created_at: Timestamp
    last_used_at: Timestamp | None


# --------------------------------------------------------------------------- deployments


class DeployIn(In):
    app_id: Text
    git_branch: Text | None = None
    git_commit_sha: Text | None = None
    no_traffic: bool = False


class DeploymentOut(Out):
    id: str
    status: str
    app_id: str
    git_branch: str | None
    git_commit_sha: str | None
    git_commit_message: str | None
    buildpack: str
    image_ref: str | None
    revision_name: str | None
    rolled_back_from: str | None
    error: str | None
    duration_seconds: int | None
    created_at: Timestamp
    started_at: Timestamp | None
    finished_at: Timestamp | None


class DeploymentList(Out):
    data: list[DeploymentOut]
    meta: PageMeta


class Logs(Out):
    logs: list[str]


class ConditionOut(Out):
    type: str
    status: str
    reason: str
    message: str
    last_transition_time: Timestamp


class LimitsOut(Out):
    memory_mb: int
    max_processes: int
    cpus: float
    enforced_by: str  # "cgroup v2", "cgroup v1" or "rlimit"


class RuntimeStatusOut(Out):
    phase: str
    ready: int
    total: int
    conditions: list[ConditionOut]
    limits: LimitsOut | None  # per replica; null where this process cannot know


# --------------------------------------------------------------------------- traffic


class SplitIn(In):
    revision_name: Text
    percent: int
    tag: Text | None = None


class TrafficIn(In):
    splits: list[SplitIn]


class SplitOut(Out):
    revision_name: str
    percent: int
    tag: str | None = None  # left out of the answer when None


class TrafficOut(Out):
    app_id: str
    splits: list[SplitOut]
    updated_at: Timestamp


class PromoteOut(TrafficOut):
    promoted_revision: str


class RevisionOut(Out):
    revision_name: str
    image_ref: str
    traffic_percent: int
    tag: str | None
    deployment_id: str
    ready: int
    total: int
    url: str | None
    created_at: Timestamp


class ScaleIn(In):
    app_id: Text
    replicas: int


class ScaleOut(Out):
    app_id: str
    name: str
    requested_replicas: int
    current_replicas: int
    status: str


class Health(Out):
    status: str = "ok"


class ProblemField(Out):
    field: str
    message: str


class Problem(Out):
    """RFC 9457 problem details (`application/problem+json`)."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    errors: list[ProblemField] | None = None


# --------------------------------------------------------------------------- runtime logs


class AppLogLineOut(Out):
    seq: int
    timestamp: Timestamp
    revision: str
    replica: str
    stream: str
    line: str


class AppLogs(Out):
    logs: list[AppLogLineOut]
    next: int
