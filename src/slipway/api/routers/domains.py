"""`/workspaces/{wsId}/apps/{appId}/domains`: custom domains (issue 16). The rules are
`services/resources/domains.py`'s; `{domain}` is the domain's id or its hostname."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from slipway.api.auth import WorkspaceScope
from slipway.api.schemas import CertificateOut, Deleted, DnsRecordOut, DomainIn, DomainOut
from slipway.services.resources import domains
from slipway.services.resources.domains import DomainView

router = APIRouter(prefix="/workspaces/{wsId}/apps/{appId}/domains", tags=["domains"])
AppId = Annotated[str, Path(alias="appId")]
DomainKey = Annotated[str, Path(alias="domain", max_length=300)]


def domain_out(found: DomainView) -> DomainOut:
    d = found.domain
    certificate = None
    if d.not_before is not None and d.not_after is not None:
        certificate = CertificateOut(
            not_before=d.not_before, not_after=d.not_after, serial=d.serial, issuer=d.issuer
        )
    record = found.record
    return DomainOut(
        id=d.id,
        hostname=d.hostname,
        tag=d.tag,
        status=d.status,
        reason=d.reason,
        dns_record=DnsRecordOut(type=record.type, name=record.name, value=record.value),
        url=found.url,
        certificate=certificate,
        next_check_at=d.next_attempt_at,
        created_at=d.created_at,
        updated_at=d.updated_at,
    )


@router.post("", status_code=201, response_model=DomainOut)
async def add_domain(scope: WorkspaceScope, app_id: AppId, body: DomainIn) -> DomainOut:
    added = await domains.add_domain(
        scope.platform, scope.workspace_id, app_id, body.hostname, body.tag
    )
    return domain_out(added)


@router.get("", response_model=list[DomainOut])
async def list_domains(scope: WorkspaceScope, app_id: AppId) -> list[DomainOut]:
    found = await domains.list_domains(scope.platform, scope.workspace_id, app_id)
    return [domain_out(d) for d in found]


@router.get("/{domain}", response_model=DomainOut)
async def get_domain(scope: WorkspaceScope, app_id: AppId, key: DomainKey) -> DomainOut:
    return domain_out(await domains.get_domain(scope.platform, scope.workspace_id, app_id, key))


@router.delete("/{domain}", response_model=Deleted)
async def delete_domain(scope: WorkspaceScope, app_id: AppId, key: DomainKey) -> Deleted:
    return Deleted(id=await domains.delete_domain(scope.platform, scope.workspace_id, app_id, key))
