"""Entities. Plain dataclasses: the store maps them, the services change them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

from slipway.domain.states import DeploymentStatus


def utcnow() -> datetime:
    """Now, in UTC, at second precision (the API's timestamps have no fractions)."""
    return datetime.now(UTC).replace(microsecond=0)


@dataclass
class Workspace:
    id: str
    name: str
    created_at: datetime


@dataclass
class ApiKey:
    id: str
    workspace_id: str
    name: str
    prefix: str  # the first characters of the key, shown in listings
    key_hash: str  # sha256 hex of the whole key; the key itself is never stored
    created_at: datetime
    last_used_at: datetime | None = None


@dataclass
class App:
    id: str
    workspace_id: str
    name: str
    git_url: str
    created_at: datetime
    updated_at: datetime
    git_branch: str | None = None  # None: the repository's HEAD, recorded on the first deploy
    root_directory: str | None = None
    buildpack: str = "nixpacks"
    start_command: str | None = None
    build_command: str | None = None
    install_command: str | None = None
    release_command: str | None = None
    health_check_path: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    min_replicas: int = 0
    max_replicas: int | None = None
    replicas: int = 1
    memory_mb: int | None = None  # per replica; None: the platform's default
    target_concurrency: int = 10  # requests in flight per replica the autoscaler aims at
    # Platform-unique and never reused, handed out by the store when the app is created: the
    # app's sandboxes run as a host uid of their own derived from it.
    serial: int = 0
    https_only: bool = True  # plain HTTP redirects to HTTPS on hosts that have a certificate

    @property
    def scales_to_zero(self) -> bool:
        """Autoscaled down to zero replicas when idle; a request starts it again."""
        return self.max_replicas is not None and self.min_replicas == 0


DomainStatus = Literal["pendingDns", "issuing", "ready", "failed"]
DOMAIN_STATUSES: tuple[DomainStatus, ...] = ("pendingDns", "issuing", "ready", "failed")


@dataclass
class Domain:
    """A hostname of the user's own bound to an app (or to one of its tags), and the state of
    its certificate (`domain/domains.py` has the rules, `services/serving/certificates.py`
    the loop that moves it)."""

    id: str
    workspace_id: str
    app_id: str
    hostname: str  # lowercase, no trailing dot; unique in the whole platform
    created_at: datetime
    updated_at: datetime
    tag: str | None = None  # None: the app's split; else that tag's revision
    status: DomainStatus = "pendingDns"
    reason: str | None = None  # why it is not ready (or why the last renewal failed)
    attempts: int = 0  # failed attempts since the last success (the backoff's step)
    next_attempt_at: datetime | None = None  # when the certificate loop looks at it again
    # The certificate: a file (key + chain, 0600) in the data dir named by its fingerprint.
    certificate_path: str | None = None
    not_before: datetime | None = None
    not_after: datetime | None = None
    serial: str | None = None
    issuer: str | None = None
    # The HTTP-01 challenge being answered (not a secret: served to whoever asks).
    challenge_token: str | None = None
    challenge_answer: str | None = None


@dataclass
class Deployment:
    id: str
    workspace_id: str
    app_id: str
    status: DeploymentStatus
    created_at: datetime
    git_branch: str | None = None
    git_commit_sha: str | None = None
    git_commit_message: str | None = None
    buildpack: str = "nixpacks"
    image_ref: str | None = None
    revision_name: str | None = None
    rolled_back_from: str | None = None
    error: str | None = None
    no_traffic: bool = False
    started_at: datetime | None = None
    finished_at: datetime | None = None
    # The rollout's desired state (services/serving/reconcile.py): set once the release phase is
    # over, the replicas the new revision runs until it enters the traffic list. A rollout
    # resumed by another process finds it and does not run the release command again.
    rollout_replicas: int | None = None

    @property
    def duration_seconds(self) -> int | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return int((self.finished_at - self.started_at).total_seconds())


@dataclass
class Revision:
    """The immutable result of a deployment that reached `deploying`."""

    workspace_id: str
    app_id: str
    name: str  # {app}-{NNNNN}
    number: int
    deployment_id: str
    image_ref: str
    image_digest: str  # sha256:<hex> of the image manifest
    start_command: str
    env: dict[str, str]
    health_check_path: str | None
    created_at: datetime
    memory_mb: int | None = None  # the app's, frozen with the revision


@dataclass(frozen=True)
class TrafficSplit:
    revision_name: str
    percent: int
    tag: str | None = None


@dataclass(frozen=True)
class Commit:
    """A commit resolved from a branch or an abbreviated SHA, before the trigger answers."""

    branch: str | None
    sha: str  # 40 hex
    message: str  # the subject line


@dataclass(frozen=True)
class Image:
    """A built, immutable image: what a revision runs."""

    ref: str  # {registry}/{workspace}/{app}:sha256-{12 hex}
    digest: str  # sha256:<64 hex> of the manifest
    start_command: str
    path: str  # directory of the OCI layout on disk
    app_dir: str  # unpacked /app filesystem the runtime binds at /app


@dataclass(frozen=True)
class StoredResponse:
    """The first answer to an idempotent POST, replayed for a repeat (CONTRACT §2)."""

    status: int
    content_type: str
    body: bytes


@dataclass(frozen=True)
class IdempotencyRecord:
    """An `Idempotency-Key` of a workspace: what it was used for and, once done, the answer."""

    workspace_id: str
    key: str
    fingerprint: str  # sha256 of method, path and body
    created_at: datetime
    response: StoredResponse | None = None  # None while the first request still runs
