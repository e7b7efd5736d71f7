"""Issued certificates on disk, where the router loads them from: one file per certificate,
`<root>/<hostname>/<fingerprint>.pem`, holding the private key and then the chain (the form
`ssl.SSLContext.load_cert_chain(path)` reads).

A renewal writes a new file next to the old one instead of overwriting it, so a router that
still serves the old certificate keeps a consistent key and chain until it switches; `prune`
removes the old ones afterwards. Every file is 0600 in 0700 directories (it holds a private
key), written to a temporary name and renamed, so a reader never sees half a file. The
hostname becomes a directory name, so it is checked strictly first: no `..`, no `/`.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes

from slipway.ports import IssuedCertificate

_HOSTNAME = re.compile(
    r"(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?"
)
_WILDCARD_DIR = "_wildcard."  # '_' is never in a hostname, so no real name can collide


def hostname_dir_name(hostname: str) -> str:
    """The directory name of `hostname`; ValueError unless it is a lowercase DNS name
    (optionally `*.` and a name)."""
    if len(hostname) > 253 or not _HOSTNAME.fullmatch(hostname):
        raise ValueError(f"not a lowercase DNS hostname: {hostname!r}")
    return _WILDCARD_DIR + hostname[2:] if hostname.startswith("*.") else hostname


def fingerprint(chain_pem: bytes) -> str:
    """The first 16 hex digits of the SHA-256 of the leaf's DER (the chain's first)."""
    leaf = x509.load_pem_x509_certificates(chain_pem)[0]
    return leaf.fingerprint(hashes.SHA256()).hex()[:16]


class CertificateDir:
    """`CertificateFiles` under `root` (created 0700 when first written)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path_for(self, hostname: str, chain_pem: bytes) -> Path:
        return self.root / hostname_dir_name(hostname) / f"{fingerprint(chain_pem)}.pem"

    def save(self, hostname: str, cert: IssuedCertificate) -> str:
        target = self.path_for(hostname, cert.chain_pem)
        _private_dir(self.root)
        _private_dir(target.parent)
        key = cert.key_pem if cert.key_pem.endswith(b"\n") else cert.key_pem + b"\n"
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".", suffix=".tmp")  # 0600
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(key + cert.chain_pem)
                out.flush()
                os.fsync(out.fileno())
            Path(tmp).replace(target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        _fsync_dir(target.parent)
        return str(target)

    def prune(self, hostname: str, *, keep: str | None) -> None:
        directory = self.root / hostname_dir_name(hostname)
        if keep is None:
            shutil.rmtree(directory, ignore_errors=True)
            return
        kept = Path(keep)
        if kept.parent.resolve() != directory.resolve():
            # A path from elsewhere would have every file of the hostname deleted.
            raise ValueError(f"{keep} is not a certificate file of {hostname}")
        for path in directory.iterdir() if directory.exists() else ():
            if path.name != kept.name:
                path.unlink(missing_ok=True)


def _private_dir(path: Path) -> None:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.chmod(0o700)  # mkdir's mode is masked by the umask, and an existing dir keeps its own


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
