"""Rows to domain dataclasses and back. The only place that knows both shapes.

The tables use the dataclasses' field names as column names, so the mapping is by name; the
few conversions (status enum, env dict copies) are spelled out here.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any, TypeVar

from slipway.domain.models import ApiKey, App, Deployment, Revision, Workspace
from slipway.domain.states import DeploymentStatus
from slipway.store.models import ApiKeyRow, AppRow, Base, DeploymentRow, RevisionRow, WorkspaceRow

T = TypeVar("T")


def _copy(value: Any) -> Any:
    """Env dicts are copied so a caller never shares one with the session or another caller."""
    return dict(value) if isinstance(value, dict) else value


def _from_row(cls: type[T], row: Base) -> T:
    return cls(**{f.name: _copy(getattr(row, f.name)) for f in fields(cls)})  # type: ignore[arg-type]


def values(obj: Any, *, skip: frozenset[str] = frozenset()) -> dict[str, Any]:
    """A dataclass's fields as column values, minus `skip`."""
    out = {f.name: _copy(getattr(obj, f.name)) for f in fields(obj) if f.name not in skip}
    if isinstance(out.get("status"), DeploymentStatus):
        out["status"] = out["status"].value
    return out


def workspace(row: WorkspaceRow) -> Workspace:
    return _from_row(Workspace, row)


def api_key(row: ApiKeyRow) -> ApiKey:
    return _from_row(ApiKey, row)


def app(row: AppRow) -> App:
    return _from_row(App, row)


def deployment(row: DeploymentRow) -> Deployment:
    dep = _from_row(Deployment, row)
    dep.status = DeploymentStatus(row.status)
    return dep


def revision(row: RevisionRow) -> Revision:
    return _from_row(Revision, row)
