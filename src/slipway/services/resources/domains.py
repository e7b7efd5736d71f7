"""Custom domains (issue 16): `POST|GET|DELETE /workspaces/{ws}/apps/{app}/domains`.

Adding one validates the hostname (`domain/domains.py`), binds it to the app or to one of its
tags, and stores it `pendingDns`, due at once: the certificate loop
(`services/serving/certificates.py`) checks its DNS, then obtains its certificate. The answer
carries the DNS record to create. Deleting one stops its routing at once and removes its
certificate files.
"""

from __future__ import annotations

from dataclasses import dataclass

from slipway.domain.domains import MAX_HOSTNAME, DnsRecord, dns_record, normalize_hostname
from slipway.domain.errors import Invalid, NotFound
from slipway.domain.ids import new_id
from slipway.domain.models import App, Domain, Workspace, utcnow
from slipway.domain.names import label_problem
from slipway.domain.routes import app_host, tag_host
from slipway.services.platform import Platform
from slipway.services.resources.apps import get_app
from slipway.services.serving.reconcile import routes_changed


@dataclass(frozen=True)
class DomainView:
    domain: Domain
    record: DnsRecord  # what to create at the DNS provider
    url: str  # where the app answers on it (https once its certificate is ready)


async def _workspace(platform: Platform, workspace_id: str) -> Workspace:
    workspace = await platform.store.workspaces.get(workspace_id)
    if workspace is None:
        raise NotFound("workspace not found")
    return workspace


def view(platform: Platform, workspace: Workspace, app: App, domain: Domain) -> DomainView:
    base = platform.settings.base_domain
    if domain.tag is None:
        target = app_host(app.name, workspace.name, base)
    else:
        target = tag_host(domain.tag, app.name, workspace.name, base)
    certified = domain.certificate_path is not None
    hostname = domain.hostname.replace("*.", "www.", 1)  # a wildcard's URL: one name of it
    return DomainView(
        domain,
        dns_record(domain.hostname, target),
        platform.host_url(hostname, certified=certified),
    )


async def add_domain(
    platform: Platform, workspace_id: str, app_id: str, hostname: object, tag: object
) -> DomainView:
    app = await get_app(platform, workspace_id, app_id)
    if not isinstance(hostname, str):
        raise Invalid.field("hostname", "must be a string")
    settings = platform.settings
    name = normalize_hostname(
        hostname,
        base_domain=settings.base_domain,
        allow_wildcard=settings.allow_wildcard_domains,
    )
    if tag is not None:
        problem = label_problem(tag) if isinstance(tag, str) else "must be a string or null"
        if problem is not None:
            raise Invalid.field("tag", problem)
        splits = await platform.store.scoped(workspace_id).traffic.get(app.id)
        if not any(s.tag == tag for s in splits):
            raise Invalid.field("tag", f"no revision of {app.name} has the tag {tag!r}")
    now = utcnow()
    domain = Domain(
        id=new_id("dom"),
        workspace_id=workspace_id,
        app_id=app.id,
        hostname=name,
        tag=tag if isinstance(tag, str) else None,
        created_at=now,
        updated_at=now,
        next_attempt_at=now,
    )
    await platform.store.scoped(workspace_id).domains.create(domain)
    workspace = await _workspace(platform, workspace_id)
    await routes_changed(platform, workspace, app)  # it routes from now on (plain HTTP at first)
    platform.domains_changed.set()
    return view(platform, workspace, app, domain)


async def list_domains(platform: Platform, workspace_id: str, app_id: str) -> list[DomainView]:
    app = await get_app(platform, workspace_id, app_id)
    workspace = await _workspace(platform, workspace_id)
    found = await platform.store.scoped(workspace_id).domains.list(app.id)
    return [view(platform, workspace, app, d) for d in found]


async def _find(platform: Platform, workspace_id: str, app: App, key: str) -> Domain:
    domain = None
    if key.isascii() and 0 < len(key) <= MAX_HOSTNAME:  # else it names no domain
        domain = await platform.store.scoped(workspace_id).domains.get(app.id, key.lower())
    if domain is None:
        raise NotFound(f"domain {key} not found")
    return domain


async def get_domain(platform: Platform, workspace_id: str, app_id: str, key: str) -> DomainView:
    app = await get_app(platform, workspace_id, app_id)
    domain = await _find(platform, workspace_id, app, key)
    return view(platform, await _workspace(platform, workspace_id), app, domain)


async def delete_domain(platform: Platform, workspace_id: str, app_id: str, key: str) -> str:
    """Remove the domain (by id or hostname): its host stops routing before the answer, and
    its certificate files go. Returns its id."""
    app = await get_app(platform, workspace_id, app_id)
    domain = await _find(platform, workspace_id, app, key)
    if not await platform.store.scoped(workspace_id).domains.delete(app.id, domain.id):
        raise NotFound(f"domain {key} not found")
    await routes_changed(platform, await _workspace(platform, workspace_id), app)
    if platform.certificates is not None:
        platform.certificates.files.prune(domain.hostname, keep=None)
    return domain.id
