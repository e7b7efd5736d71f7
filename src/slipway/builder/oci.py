"""Packaging a built `/app` tree as an OCI image layout on disk.

Layout of `images/<manifest hex>/`:
    oci-layout, index.json, blobs/sha256/<hex>   the OCI image layout (spec v1.0)
    app/                                         the same files, unpacked (bound at /app)
    image.json                                   what `find_image` needs to rebuild `Image`

The single layer is an uncompressed tar of `app/...` written deterministically (entries in
sorted order, mtime 0, uid/gid 0, no user names, modes 0755 or 0644), and the JSON blobs are
canonical (sorted keys, no spaces), so the same tree with the same settings always gives the
same manifest digest. The tree on disk is made to match the layer while it is written: the
build's files (its app's uid wrote them) become root's, readable by every app's uid and
writable by none, so replicas of any revision that shares the image read it and no sandbox
changes it. A build's tree is never followed through a link (O_NOFOLLOW, lstat).

The image is assembled in a temporary directory and renamed into place; when that digest is
already on disk the new copy is discarded and the existing one reused. An image stored once
is shared by every app whose build gives the same digest, so nothing on disk names its first
owner: `image.json` holds no reference, and each build names the image for its own
workspace and app (`ImageSpec.ref_prefix`); `load` names it by its digest alone.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import secrets
import shutil
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from slipway.domain.models import Image

MANIFEST = "application/vnd.oci.image.manifest.v1+json"
CONFIG = "application/vnd.oci.image.config.v1+json"
LAYER = "application/vnd.oci.image.layer.v1.tar"
INDEX = "application/vnd.oci.image.index.v1+json"
_DIGEST = re.compile(r"^sha256:([0-9a-f]{64})$")


@dataclass(frozen=True)
class ImageSpec:
    """What goes into the image besides the files."""

    ref_prefix: str  # "{registry}/{workspace}/{app}"
    start_command: str
    env: dict[str, str]
    port: str
    labels: dict[str, str]


def canonical(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def digest_hex(digest: str) -> str | None:
    m = _DIGEST.fullmatch(digest)
    return m.group(1) if m else None


def _walk(root: Path, rel: str = "") -> Iterator[tuple[Path, str]]:
    """(host path, path relative to root) of every entry below root, depth-first, sorted."""
    with os.scandir(root / rel if rel else root) as it:
        entries = sorted(it, key=lambda e: e.name)
    for entry in entries:
        sub = f"{rel}/{entry.name}" if rel else entry.name
        yield Path(entry.path), sub
        if entry.is_dir(follow_symlinks=False):
            yield from _walk(root, sub)


def _normalise(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.mtime = 0
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    if not info.issym():
        info.mode = 0o755 if info.isdir() or info.mode & 0o100 else 0o644
    return info


def _info(tar: tarfile.TarFile, path: Path, arcname: str) -> tarfile.TarInfo | None:
    """The layer's entry for `path`, made root's on disk first (tarfile looks the owner's
    name up, which is slow for the build's uid: it has no passwd entry)."""
    os.lchown(path, 0, 0)
    info = tar.gettarinfo(str(path), arcname=arcname)
    return _normalise(info) if info is not None else None


def _settle(path: Path, info: tarfile.TarInfo) -> None:
    """Make the file on disk what the layer says: root's (`_info`), with the layer's mode."""
    if not info.issym():
        path.chmod(info.mode, follow_symlinks=False)


def write_layer(app_tree: Path, dest: Path) -> tuple[str, int]:
    """Write the tar of `app_tree` as `app/...` to `dest`; return (sha256 hex, size).

    Entries other than files, directories and links are removed from the tree."""
    with tarfile.open(dest, "w", format=tarfile.PAX_FORMAT) as tar:
        root = _info(tar, app_tree, "app")
        assert root is not None
        _settle(app_tree, root)
        tar.addfile(root)
        for path, rel in _walk(app_tree):
            info = _info(tar, path, f"app/{rel}")
            if info is None or not (info.isreg() or info.isdir() or info.issym() or info.islnk()):
                path.unlink()  # sockets, fifos and devices have no place in an image
                continue
            _settle(path, info)
            if info.isreg():
                fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
                with os.fdopen(fd, "rb") as f:
                    tar.addfile(info, f)
            else:
                tar.addfile(info)
    return _hash_file(dest), dest.stat().st_size


def _hash_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _put_blob(blobs: Path, data: bytes) -> dict[str, Any]:
    hexd = hashlib.sha256(data).hexdigest()
    (blobs / hexd).write_bytes(data)
    return {"digest": f"sha256:{hexd}", "size": len(data)}


def _config(spec: ImageSpec, layer_hex: str) -> dict[str, Any]:
    return {
        "architecture": "amd64" if os.uname().machine == "x86_64" else os.uname().machine,
        "os": "linux",
        "created": "1970-01-01T00:00:00Z",
        "config": {
            "Env": [f"{k}={v}" for k, v in sorted(spec.env.items())],
            "Cmd": ["sh", "-c", spec.start_command] if spec.start_command else None,
            "WorkingDir": "/app",
            "ExposedPorts": {f"{spec.port}/tcp": {}},
            "Labels": dict(sorted(spec.labels.items())),
        },
        "rootfs": {"type": "layers", "diff_ids": [f"sha256:{layer_hex}"]},
    }


def package(images_dir: Path, app_tree: Path, spec: ImageSpec) -> Image:
    """Turn `app_tree` into an image under `images_dir` (moving the tree into it)."""
    tmp = images_dir / f".tmp-{secrets.token_hex(8)}"
    blobs = tmp / "blobs" / "sha256"
    blobs.mkdir(parents=True)
    try:
        layer_hex, layer_size = write_layer(app_tree, tmp / "layer.tar")
        (tmp / "layer.tar").rename(blobs / layer_hex)
        config = _put_blob(blobs, canonical(_config(spec, layer_hex)))
        layer = {"mediaType": LAYER, "digest": f"sha256:{layer_hex}", "size": layer_size}
        manifest_doc = {
            "schemaVersion": 2,
            "mediaType": MANIFEST,
            "config": {"mediaType": CONFIG, **config},
            "layers": [layer],
        }
        manifest = _put_blob(blobs, canonical(manifest_doc))
        hexd = manifest["digest"].removeprefix("sha256:")
        image = _describe(images_dir / hexd, f"{spec.ref_prefix}:sha256-{hexd[:12]}", spec)
        _write_index(tmp, manifest, f"sha256-{hexd[:12]}")
        shutil.move(str(app_tree), str(tmp / "app"))
        (tmp / "image.json").write_bytes(canonical(_image_json(image)))
        _install(tmp, images_dir / hexd)
        return image
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _describe(path: Path, ref: str, spec: ImageSpec) -> Image:
    return Image(
        ref=ref,
        digest=f"sha256:{path.name}",
        start_command=spec.start_command,
        path=str(path),
        app_dir=str(path / "app"),
    )


def _write_index(layout: Path, manifest: dict[str, Any], ref: str) -> None:
    (layout / "oci-layout").write_bytes(canonical({"imageLayoutVersion": "1.0.0"}))
    entry = {
        "mediaType": MANIFEST,
        **manifest,
        "annotations": {"org.opencontainers.image.ref.name": ref},
    }
    index = {"schemaVersion": 2, "mediaType": INDEX, "manifests": [entry]}
    (layout / "index.json").write_bytes(canonical(index))


def _image_json(image: Image) -> dict[str, str]:
    return {"digest": image.digest, "startCommand": image.start_command}


def _install(tmp: Path, final: Path) -> None:
    """Rename the assembled layout into place, or keep the copy already there (the same
    digest is the same content)."""
    if (final / "image.json").is_file():
        return
    with contextlib.suppress(FileNotFoundError):
        shutil.rmtree(final)  # a half-written leftover without image.json
    with contextlib.suppress(OSError):  # else another build of the same digest won the race
        tmp.rename(final)


def load(path: Path, *, ref: str | None = None) -> Image | None:
    """The Image stored at `path` (an `images/<hex>` directory), None if incomplete; named
    `ref`, or by its digest alone (`sha256:<hex>`) when no app's name is given."""
    try:
        data = json.loads((path / "image.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not (path / "app").is_dir() or data.get("digest") != f"sha256:{path.name}":
        return None
    return Image(
        ref=ref or str(data["digest"]),
        digest=str(data["digest"]),
        start_command=str(data["startCommand"]),
        path=str(path),
        app_dir=str(path / "app"),
    )
