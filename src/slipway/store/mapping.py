"""Rows to domain dataclasses and back. The only place that knows both shapes.

The tables use the dataclasses' field names as column names, so the mapping is by name; the
few conversions are spelled out here: the status enum, and `env`, which is sealed on the way
in and opened on the way out (`sealing.py`), so no env value reaches the database in clear.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any, TypeVar

from slipway.domain.models import ApiKey, App, Deployment, Domain, Revision, Workspace
from slipway.domain.states import DeploymentStatus
from slipway.store.models import (
    ApiKeyRow,
    AppRow,
    Base,
    DeploymentRow,
    DomainRow,
    RevisionRow,
    WorkspaceRow,
)
from slipway.store.sealing import EnvCipher

T = TypeVar("T")


def _from_row(cls: type[T], row: Base, cipher: EnvCipher | None = None) -> T:
    data = {f.name: getattr(row, f.name) for f in fields(cls)}  # type: ignore[arg-type]
    if "env" in data:
        if cipher is None:
            raise TypeError(f"{cls.__name__} has an env: reading it needs the cipher")
        data["env"] = cipher.open(data["env"])
    return cls(**data)


def values(
    obj: Any, *, skip: frozenset[str] = frozenset(), cipher: EnvCipher | None = None
) -> dict[str, Any]:
    """A dataclass's fields as column values, minus `skip`; `env` sealed with `cipher`."""
    out = {f.name: getattr(obj, f.name) for f in fields(obj) if f.name not in skip}
    if isinstance(out.get("status"), DeploymentStatus):
        out["status"] = out["status"].value
    if "env" in out:
        if cipher is None:
            raise TypeError(f"{type(obj).__name__} has an env: storing it needs the cipher")
        out["env"] = cipher.seal(out["env"])
    if isinstance(obj, App) and "git_branch" in out:
        out["git_branch"] = out["git_branch"] or ""  # the column predates unset branches
    return out


def workspace(row: WorkspaceRow) -> Workspace:
    return _from_row(Workspace, row)


def api_key(row: ApiKeyRow) -> ApiKey:
    return _from_row(ApiKey, row)


def app(row: AppRow, cipher: EnvCipher) -> App:
    found = _from_row(App, row, cipher)
    found.git_branch = found.git_branch or None  # "" in the table: the repository's HEAD
    return found


def deployment(row: DeploymentRow) -> Deployment:
    dep = _from_row(Deployment, row)
    dep.status = DeploymentStatus(row.status)
    return dep


def revision(row: RevisionRow, cipher: EnvCipher) -> Revision:
    return _from_row(Revision, row, cipher)


def domain(row: DomainRow) -> Domain:
    return _from_row(Domain, row)
