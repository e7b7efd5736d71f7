"""What the router needs to know: which hosts go to which revisions, by weight, and where
each revision's ready replicas listen. Built by the services, applied by the router.

A target without backends gets no requests (the others share them), unless it is `cold`: a
revision of an app that scales to zero, with no ready replica now. The router then holds its
requests and asks for it to be started (activation), and sends them on once it has backends."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Backend:
    host: str
    port: int
    netns: str = ""  # the network namespace `host:port` is in ("" = the host's own)


@dataclass(frozen=True)
class Target:
    revision: str  # the platform-unique revision key "{workspace_id}/{app_id}/{revision}"
    weight: int  # 0-100; a tag host has one target of weight 100
    backends: tuple[Backend, ...]
    cold: bool = False  # no ready replica, and requests start one (see the module's docstring)


@dataclass(frozen=True)
class Route:
    host: str  # lowercase, without the port; `*.example.com` matches one more label
    targets: tuple[Target, ...]
    # HTTPS: the file (private key + chain) served for this host; None: the operator's
    # default certificate if it has one (`--tls-cert`), else no HTTPS for the host.
    certificate: str | None = None
    # Plain HTTP gets a redirect to HTTPS (the app's `httpsOnly`, once a certificate exists);
    # ACME's HTTP-01 path is always answered over plain HTTP.
    https_only: bool = False
    # ACME HTTP-01 answers served at /.well-known/acme-challenge/{token}: (token, answer).
    challenges: tuple[tuple[str, str], ...] = ()


def app_host(app: str, workspace: str, base_domain: str) -> str:
    return f"{app}.{workspace}.{base_domain}".lower()


def tag_host(tag: str, app: str, workspace: str, base_domain: str) -> str:
    return f"{tag}---{app}.{workspace}.{base_domain}".lower()
