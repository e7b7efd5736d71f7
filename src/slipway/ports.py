"""The Protocols the services need. Concrete classes live in store/, builder/, runtime/ and
router/, and only `slipway.bootstrap` chooses them.

Every repository under `ScopedStore` is bound to one workspace: its queries filter by that
workspace in the repository layer, so a handler cannot forget to.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from slipway.domain.models import (
    ApiKey,
    App,
    Commit,
    Deployment,
    Domain,
    IdempotencyRecord,
    Image,
    Revision,
    StoredResponse,
    TrafficSplit,
    Workspace,
)
from slipway.domain.routes import Backend, Route
from slipway.domain.states import DeploymentStatus

LogSink = Callable[[str], Awaitable[None]]
"""Receives one build or release log line (no trailing newline) as soon as it is written."""


# --------------------------------------------------------------------------- store


@dataclass(frozen=True)
class PublishedReplica:
    """One replica as its owner published it (`replicas` table), for processes without it."""

    revision_key: str
    host: str
    port: int
    ready: bool
    owner: str = ""
    netns: str = ""  # the replica's network namespace (a path on the owner's host)


class WorkspaceRepo(Protocol):
    async def create(self, ws: Workspace) -> None: ...  # Conflict on a taken name
    async def get(self, workspace_id: str) -> Workspace | None: ...
    async def get_by_name(self, name: str) -> Workspace | None: ...
    async def list(self, *, limit: int | None = None) -> list[Workspace]: ...  # oldest first


class ApiKeyRepo(Protocol):
    async def create(self, key: ApiKey) -> None: ...
    async def list(self) -> list[ApiKey]: ...
    async def delete(self, key_id: str) -> bool: ...


class AppRepo(Protocol):
    async def create(self, app: App) -> App: ...  # with its `serial`; Conflict on a taken name
    async def get(self, app_id: str) -> App | None: ...
    async def get_by_name(self, name: str) -> App | None: ...
    async def list(self, *, offset: int, limit: int) -> tuple[list[App], int]: ...
    async def update(self, app: App) -> None: ...  # Conflict on a taken name
    # The repository's default branch, learnt on the first deploy; only while none is set.
    async def record_branch(self, app_id: str, branch: str) -> None: ...
    async def delete(self, app_id: str) -> bool: ...  # also its deployments, revisions, ...


class DeploymentRepo(Protocol):
    async def create(self, dep: Deployment) -> None: ...
    async def get(self, deployment_id: str) -> Deployment | None: ...
    async def list(
        self, *, app_id: str, status: DeploymentStatus | None, offset: int, limit: int
    ) -> tuple[list[Deployment], int]: ...  # newest first, and the total
    async def count(self, status: DeploymentStatus) -> int: ...  # of the workspace's apps

    async def update(
        self, dep: Deployment, *, expect: frozenset[DeploymentStatus] | None = None
    ) -> bool:
        """Write every field of `dep`. With `expect`, only if the stored status is one of
        them (compare-and-set); returns whether the row was written."""
        ...


class RevisionRepo(Protocol):
    async def create(self, rev: Revision) -> Revision:
        """Store a revision, allocating the app's next number (never reused); returns it with
        `number` and `name` filled in."""
        ...

    async def list(self, app_id: str) -> list[Revision]: ...  # newest first
    async def get(self, app_id: str, name: str) -> Revision | None: ...
    async def get_for_deployment(self, deployment_id: str) -> Revision | None: ...


class TrafficRepo(Protocol):
    async def get(self, app_id: str) -> list[TrafficSplit]: ...
    async def set(self, app_id: str, splits: Sequence[TrafficSplit]) -> None: ...  # atomic


class WarmupRepo(Protocol):
    """Revisions a traffic change starts before it is stored (revision -> replicas), until
    a deadline; desired state the reconciler of any process reads."""

    async def get(self, app_id: str, *, now: datetime) -> dict[str, int]: ...  # unexpired
    async def set(self, app_id: str, counts: Mapping[str, int], *, until: datetime) -> None: ...
    async def clear(self, app_id: str) -> None: ...


class LogRepo(Protocol):
    async def append(self, deployment_id: str, first_index: int, lines: Sequence[str]) -> None: ...

    async def list(self, deployment_id: str, *, since: int = 0) -> list[str]: ...


class IdempotencyRepo(Protocol):
    async def claim(
        self, record: IdempotencyRecord, *, expired_before: datetime
    ) -> IdempotencyRecord | None:
        """Store `record` (no response yet) unless its key is taken: then the stored record.
        Records created before `expired_before` count as absent and are removed."""
        ...

    async def complete(self, key: str, response: StoredResponse) -> None: ...
    async def release(self, key: str) -> None: ...  # the first request failed: forget it


class DomainRepo(Protocol):
    async def create(self, domain: Domain) -> None: ...  # Conflict: the hostname is taken
    async def list(self, app_id: str) -> list[Domain]: ...  # by hostname
    async def get(self, app_id: str, key: str) -> Domain | None: ...  # by id or hostname
    async def delete(self, app_id: str, domain_id: str) -> bool: ...


class ScopedStore(Protocol):
    workspace_id: str
    api_keys: ApiKeyRepo
    apps: AppRepo
    deployments: DeploymentRepo
    revisions: RevisionRepo
    traffic: TrafficRepo
    warmups: WarmupRepo
    logs: LogRepo
    idempotency: IdempotencyRepo
    domains: DomainRepo


class Tenants(Protocol):
    """The workspaces and everything they own, one workspace at a time (every use case)."""

    workspaces: WorkspaceRepo

    def scoped(self, workspace_id: str) -> ScopedStore: ...


class KeyLookup(Protocol):
    """Authentication (`resources/keys.py`): a key by its hash, across workspaces."""

    async def find_api_key(self, key_hash: str) -> ApiKey | None: ...
    async def touch_api_key(self, key_id: str) -> None: ...  # sets last_used_at


class PlatformView(Protocol):
    """Questions across workspaces: the reconciler's resync and `/metrics`."""

    async def active_deployments(self) -> list[Deployment]: ...  # building or deploying
    async def serving_apps(self) -> list[tuple[Workspace, App]]: ...  # apps with traffic


class CertificateBoard(Protocol):
    """Custom domains across workspaces: the certificate loop and `/metrics`."""

    async def domains_due(self, now: datetime) -> list[Domain]: ...  # next_attempt_at <= now
    async def all_domains(self) -> list[Domain]: ...
    async def save_domain(self, domain: Domain) -> bool: ...  # False: it was deleted


class DeploymentLeases(Protocol):
    """Which worker runs which deployment (the worker, rollbacks, recovery;
    store/leases.py explains them)."""

    @property
    def single_process(self) -> bool: ...  # SQLite: every role runs in one process

    async def claim_deployment(
        self, *, owner: str, lease_seconds: float, handovers: bool, builds_per_workspace: int = 1
    ) -> Deployment | None:
        """The next runnable deployment under `owner`'s lease: queued ones (then `building`),
        at most `builds_per_workspace` building per workspace, the least busy workspace first;
        with `handovers`, also `deploying` ones nobody owns."""
        ...

    async def acquire_deployment(
        self, deployment_id: str, *, owner: str, lease_seconds: float
    ) -> bool: ...
    async def renew_deployment(
        self, deployment_id: str, *, owner: str, lease_seconds: float
    ) -> bool: ...  # False once it is no longer active under `owner`
    async def release_deployment(self, deployment_id: str, *, owner: str) -> bool: ...
    async def expired_deployments(
        self, *, now: datetime, other_than: str | None = None
    ) -> list[Deployment]: ...
    async def requeue_deployment(
        self, deployment_id: str, *, now: datetime, other_than: str | None = None
    ) -> bool:
        """Recovery only, if its lease is still dead: `building -> queued`; a `deploying`
        one loses its owner (the replica owner claims and resumes it)."""
        ...


class NamedLeases(Protocol):
    """Elections among processes (`platform/leasing.Leadership`: the replica owner)."""

    async def lead(self, name: str, *, owner: str, lease_seconds: float) -> bool: ...
    async def resign(self, name: str, *, owner: str) -> None: ...


class ReplicaBoard(Protocol):
    """Replicas published by their owner for other processes (`serving/published.py`;
    store/published.py)."""

    async def publish_replicas(
        self, *, owner: str, key: str, replicas: Sequence[PublishedReplica]
    ) -> None: ...  # replaces owner's rows of revision `key`
    async def heartbeat_replicas(self, *, owner: str, purge_before: datetime) -> None: ...
    async def withdraw_replicas(self, *, owner: str) -> None: ...
    async def published_replicas(self, *, fresh_after: datetime) -> list[PublishedReplica]: ...


class Notifier(Protocol):
    """A hint to other processes (PostgreSQL NOTIFY; a no-op on SQLite): the deployment log
    and the reconciler send, `Notifications` listeners receive."""

    async def notify(self, channel: str, payload: str) -> None: ...


class Store(
    Tenants,
    KeyLookup,
    PlatformView,
    DeploymentLeases,
    NamedLeases,
    ReplicaBoard,
    Notifier,
    CertificateBoard,
    Protocol,
):
    """All of it, as bootstrap opens it (`store.SqlStore`); a user that needs one part
    takes that part's Protocol."""

    async def migrate(self) -> None: ...
    async def close(self) -> None: ...


class Notifications(Protocol):
    """Channels other processes `Store.notify` on (PostgreSQL LISTEN); a hint, never the
    only signal: listeners also poll."""

    def subscribe(self, channel: str, callback: Callable[[str], None]) -> None: ...


# --------------------------------------------------------------------------- builder


class Source(Protocol):
    async def resolve(self, app: App, *, branch: str | None, sha: str | None) -> Commit:
        """Fetch and resolve to a full commit. Raises Invalid (422) for an unknown branch or
        commit, naming the field."""
        ...


class Builder(Protocol):
    async def build(self, *, workspace: Workspace, app: App, commit: Commit, log: LogSink) -> Image:
        """Check out, plan, install, build and package. Raises DeployFailed with a
        one-sentence reason. Cancelling the calling task kills the whole build."""
        ...

    async def find_image(self, digest: str) -> Image | None:
        """The image with that manifest digest, if it is still on disk (rollbacks)."""
        ...


# --------------------------------------------------------------------------- runtime


@dataclass(frozen=True)
class RevisionSpec:
    """Everything the runtime needs to run replicas of one revision."""

    key: str  # unique across the platform: "{workspace_id}/{app_id}/{revision}"
    workspace_id: str
    app_id: str
    revision: str
    app_dir: str  # the image's /app
    start_command: str
    env: dict[str, str]
    health_check_path: str | None
    app_serial: int = 0  # the app's platform-unique number: the sandbox's uid comes from it
    memory_mb: int | None = None  # the app's own memory limit per replica (None: default)
    image_digest: str = ""  # sha256:... of the image's manifest
    workspace_name: str = ""  # names for a cluster: its image path, labels
    app_name: str = ""
    # The app's autoscaling bounds when it has maxReplicas, on the revision that serves most
    # of its traffic (a cluster's HorizontalPodAutoscaler targets it); None otherwise.
    autoscale: tuple[int, int] | None = None


@dataclass(frozen=True)
class ReplicaLimits:
    """What each replica of a revision may use, and what enforces it."""

    memory_mb: int
    max_processes: int
    cpus: float
    enforced_by: str  # "cgroup v2", "cgroup v1" or "rlimit"


@dataclass(frozen=True)
class ReplicaStatus:
    ready: int
    total: int
    backends: tuple[Backend, ...]  # where the ready replicas listen
    restarts: int = 0
    last_error: str | None = None  # one sentence on the latest crash or failed start
    last_reason: str | None = None  # why the latest replica ended: "OOMKilled", "Error"
    limits: ReplicaLimits | None = None  # None where the runtime does not know


class Runtime(Protocol):
    async def scale(self, spec: RevisionSpec, replicas: int) -> None:
        """Make exactly `replicas` replicas of this revision exist (start or stop some)."""
        ...

    async def wait_ready(self, key: str, count: int, *, timeout: float) -> None:
        """Return once `count` replicas pass their health check; DeployFailed otherwise."""
        ...

    def status(self, key: str) -> ReplicaStatus: ...

    def running_keys(self) -> list[str]:
        """The revision keys this runtime runs replicas of."""
        ...

    async def stop(self, key: str, *, drain_seconds: float = 0.0) -> None: ...

    def on_change(self, callback: Callable[[str], None]) -> None:
        """Call `callback(key)` whenever the set of ready replicas of a revision changes."""
        ...

    def set_drain_gate(self, gate: Callable[[str], Awaitable[None]]) -> None:
        """Before stopping replicas that `scale` took out of a revision (already not ready),
        await `gate(key)`: the services take them out of the routes and wait for their
        in-flight requests. Without a gate the runtime waits a fixed short time."""
        ...

    async def run_once(
        self, spec: RevisionSpec, command: str, *, log: LogSink, timeout: float
    ) -> int:
        """Run `command` once in the revision's sandbox (its image at /app, its env), every
        output line to `log`; returns the exit status. DeployFailed when it outlives
        `timeout`; cancelling the caller kills its whole process tree."""
        ...

    async def close(self) -> None: ...  # stops every replica it started


@dataclass(frozen=True)
class AppLogLine:
    """One output line of one replica of an app."""

    seq: int  # per app, increasing: the cursor for `since`
    timestamp: float  # Unix seconds
    revision: str
    replica: str
    stream: str  # "stdout" or "stderr"
    line: str


class RuntimeLogs(Protocol):
    """Replica output of every app, kept on disk within a bound per app."""

    def read(
        self, workspace_id: str, app_id: str, *, since: int | None, limit: int, revision: str | None
    ) -> list[AppLogLine]:
        """With `since`, the first `limit` lines from that seq; without, the last `limit`."""
        ...

    def next_seq(self, workspace_id: str, app_id: str) -> int: ...

    async def wait(self, workspace_id: str, app_id: str, timeout: float) -> None:
        """Return at the app's next line, or after `timeout` seconds."""
        ...


# --------------------------------------------------------------------------- router


class Router(Protocol):
    def set_routes(self, app_id: str, routes: Sequence[Route]) -> None:
        """Replace every route of one app at once; in-flight requests are unaffected."""
        ...

    def remove_app(self, app_id: str) -> None: ...

    def in_flight(self, revision_key: str) -> int:
        """Requests to that revision being proxied right now (draining waits for 0)."""
        ...

    def load(self) -> dict[str, tuple[float, int]]:
        """Per revision key, counters that only grow: (concurrency-seconds, requests begun),
        fresh to within a quarter of a second. Two readings give a revision's average
        concurrency and request rate between them (the autoscaler samples every half
        second)."""
        ...

    def on_activate(self, callback: Callable[[str], None]) -> None:
        """Call `callback(revision_key)` when requests wait for a cold revision (one at zero
        that starts on demand), and again every second while they wait."""
        ...

    def refuse_held(self, revision_key: str, reason: str, seconds: float) -> None:
        """The revision could not start: answer its waiting requests 503 with `reason`, and
        new ones for `seconds`."""
        ...

    async def settled(self) -> None:
        """Return once every change made so far serves requests (a router in another
        process applies them a moment later; `sync_routes` waits here)."""
        ...

    async def metrics(self) -> bytes:
        """The router's Prometheus text when it keeps its figures in another process, for
        `/metrics` to append; empty when they are in this process's registry already."""
        ...


# --------------------------------------------------------------------------- certificates


@dataclass(frozen=True)
class IssuedCertificate:
    """A certificate an authority issued, with the private key made for it."""

    chain_pem: bytes  # the leaf first, then the intermediates
    key_pem: bytes = field(repr=False)  # PKCS#8, unencrypted: 0600 in the data dir only
    not_before: datetime
    not_after: datetime
    serial: str  # hex
    issuer: str  # the issuer's common name


class CertificateError(Exception):
    """The authority would not issue: `reason` is one sentence for the user, from the
    authority's own problem detail where it gave one (a failed challenge says what the
    validation saw). `retryable`: trying again later may help (an unreachable or busy
    authority, a rate limit) rather than needing the user to change something."""

    def __init__(self, reason: str, *, retryable: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable


ChallengeHook = Callable[[str, str], Awaitable[None]]
"""`publish(token, key_authorization)`: returns once every router answers
`GET /.well-known/acme-challenge/{token}` on the hostname with `key_authorization`."""


class CertificateAuthority(Protocol):
    """An ACME (RFC 8555) directory: orders a certificate for one hostname, proving control
    of it with an HTTP-01 challenge that the router serves."""

    async def issue(
        self, hostname: str, *, publish: ChallengeHook, withdraw: Callable[[str], Awaitable[None]]
    ) -> IssuedCertificate:
        """Order, answer the challenge (after `publish`), finalize with a new key, download.
        `withdraw(token)` runs when the challenge is over, whatever the outcome. Raises
        `CertificateError`."""
        ...


class DnsCheck(Protocol):
    async def points_here(
        self, hostname: str, *, cname_targets: Sequence[str], addresses: Sequence[str]
    ) -> str | None:
        """None when `hostname` reaches the platform: a CNAME to one of `cname_targets`, or
        A/AAAA records that are all in `addresses`. Otherwise one sentence saying what DNS
        answered (no record, another address, a CNAME elsewhere, the resolver failed)."""
        ...


class CertificateFiles(Protocol):
    """Certificates and their keys in the data dir, one private file each (key + chain)."""

    def save(self, hostname: str, cert: IssuedCertificate) -> str:
        """Write it (0600, atomically, named by its fingerprint) and return the file's path;
        earlier files of the hostname stay until `prune`."""
        ...

    def prune(self, hostname: str, *, keep: str | None) -> None:
        """Delete the hostname's files except `keep` (None: all of them)."""
        ...
