"""Pushing an OCI image layout to a registry with the distribution API (and reading it back).

`SLIPWAY_REGISTRY` names the registry: `host:port` (plain HTTP for loopback and `localhost`,
HTTPS otherwise) or a full `http://` / `https://` URL. The repository is
`{workspace}/{app}` and the tag `sha256-{first 12 hex of the manifest digest}`, so `imageRef`
is `{host:port}/{workspace}/{app}:sha256-{12 hex}`.

A push is the protocol's plainest form: for each blob (layers, then config) a `HEAD` to skip
what the registry already has, else `POST /v2/<name>/blobs/uploads/` and one monolithic
`PUT <location>?digest=...` streaming the file; then `PUT /v2/<name>/manifests/<tag>` with the
manifest's exact bytes, so the registry's digest is the layout's digest. Blocking (httpx
sync client); the builder runs it in a thread.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode, urljoin

import httpx

from slipway.builder.oci import MANIFEST
from slipway.domain.errors import DeployFailed

_CHUNK = 1 << 20


@dataclass(frozen=True)
class Registry:
    base_url: str  # "http://127.0.0.1:5000"
    host: str  # "127.0.0.1:5000", as it appears in image references

    @classmethod
    def parse(cls, value: str) -> Registry:
        value = value.strip()
        if "://" in value:
            scheme, _, host = value.partition("://")
            host = host.rstrip("/")
        else:
            host = value.rstrip("/")
            local = host.startswith(("127.", "localhost", "[::1]"))
            scheme = "http" if local else "https"
        if scheme not in {"http", "https"} or not host or "/" in host:
            raise ValueError(f"SLIPWAY_REGISTRY must be host:port or a URL, not {value!r}")
        return cls(base_url=f"{scheme}://{host}", host=host)


def push(registry: Registry, layout: Path, *, name: str, tag: str, timeout: float = 300) -> str:
    """Push the layout's single manifest as `name:tag`; return the registry's digest."""
    index = json.loads((layout / "index.json").read_text(encoding="utf-8"))
    digest = str(index["manifests"][0]["digest"])
    manifest_bytes = _blob(layout, digest).read_bytes()
    manifest = json.loads(manifest_bytes)
    try:
        with httpx.Client(base_url=registry.base_url, timeout=timeout) as client:
            for blob in [*manifest["layers"], manifest["config"]]:
                _push_blob(client, name, blob["digest"], _blob(layout, blob["digest"]))
            url = f"/v2/{name}/manifests/{tag}"
            answer = client.put(url, content=manifest_bytes, headers={"Content-Type": MANIFEST})
            _check(answer, "the manifest")
    except httpx.HTTPError as exc:
        raise DeployFailed(f"the registry {registry.host} could not be reached.") from exc
    pushed = answer.headers.get("Docker-Content-Digest", digest)
    if pushed != digest:
        raise DeployFailed(f"the registry {registry.host} stored a different manifest digest.")
    return digest


def pull_manifest(registry: Registry, *, name: str, reference: str) -> tuple[str, bytes]:
    """(digest header, body) of a manifest, as a client pulling it sees them."""
    with httpx.Client(base_url=registry.base_url, timeout=30) as client:
        answer = client.get(f"/v2/{name}/manifests/{reference}", headers={"Accept": MANIFEST})
        answer.raise_for_status()
        return answer.headers.get("Docker-Content-Digest", ""), answer.content


# What a manifest HEAD accepts: OCI and Docker v2 manifests and indexes (kaniko pushes Docker
# v2 manifests; a registry answers 404 for a stored type the client did not accept).
MANIFEST_TYPES = ", ".join((
    MANIFEST,
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
))  # fmt: skip


def manifest_digest(
    registry: Registry, *, name: str, reference: str, timeout: float = 30
) -> str | None:
    """The digest of manifest `name:reference` (a tag or a digest) per the registry's
    `Docker-Content-Digest`, None when the registry does not have it. DeployFailed when the
    registry cannot be reached or refuses."""
    try:
        with httpx.Client(base_url=registry.base_url, timeout=timeout) as client:
            answer = client.head(
                f"/v2/{name}/manifests/{reference}", headers={"Accept": MANIFEST_TYPES}
            )
    except httpx.HTTPError as exc:
        raise DeployFailed(f"the registry {registry.host} could not be reached.") from exc
    if answer.status_code == 404:
        return None
    if answer.status_code >= 300:
        raise DeployFailed(
            f"the registry {registry.host} refused to show {name} (HTTP {answer.status_code})."
        )
    return answer.headers.get("Docker-Content-Digest") or None


def _blob(layout: Path, digest: str) -> Path:
    return layout / "blobs" / "sha256" / digest.removeprefix("sha256:")


def _push_blob(client: httpx.Client, name: str, digest: str, path: Path) -> None:
    if client.head(f"/v2/{name}/blobs/{digest}").status_code == 200:
        return
    started = client.post(f"/v2/{name}/blobs/uploads/")
    _check(started, "an upload")
    location = urljoin(f"{client.base_url}/v2/{name}/blobs/uploads/", started.headers["Location"])
    size = str(path.stat().st_size)
    headers = {"Content-Type": "application/octet-stream", "Content-Length": size}
    joiner = "&" if "?" in location else "?"  # keep the registry's own upload state
    target = f"{location}{joiner}{urlencode({'digest': digest})}"
    done = client.put(target, content=_read(path), headers=headers)
    _check(done, f"blob {digest[:19]}")


def _read(path: Path) -> Iterator[bytes]:
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            yield chunk


def _check(answer: httpx.Response, what: str) -> None:
    if answer.status_code >= 300:
        raise DeployFailed(
            f"the registry refused {what} (HTTP {answer.status_code}); the image stays local."
        )
