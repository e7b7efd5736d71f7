"""HTTPS at the edge: one listening socket, a certificate per host chosen by SNI.

The listening context carries the operator's default certificate (`--tls-cert/--tls-key`,
typically a wildcard for the base domain) when there is one; its SNI callback switches the
connection to the certificate of the host it names when the route table has one (a custom
domain's, from ACME). A host with neither gets a handshake failure (`unrecognized_name`),
not somebody else's certificate.

Every context allows TLS 1.2 and 1.3 only, forward-secret AEAD ciphers for 1.2 (1.3's
suites are all such), no compression or renegotiation, and ALPN `http/1.1` (the router
speaks HTTP/1.1; a client offering only h2 gets no ALPN answer and may fall back or stop).

Certificate files are named by their fingerprint (`certs/files.py`), so a path never
changes content: contexts are cached by path, and a renewal is a new path in the next
route push. A connection keeps the context it shook hands with.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Callable

from cryptography import x509

log = logging.getLogger("slipway.router")

CIPHERS_TLS12 = "ECDHE+AESGCM:ECDHE+CHACHA20"
ALPN = ["http/1.1"]


def new_context() -> ssl.SSLContext:
    """A server context with the edge's protocol settings and no certificate yet."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers(CIPHERS_TLS12)
    ctx.options |= ssl.OP_NO_COMPRESSION | ssl.OP_NO_RENEGOTIATION
    ctx.set_alpn_protocols(ALPN)
    return ctx


def load_context(cert_file: str, key_file: str | None = None) -> ssl.SSLContext:
    """A server context with the certificate chain (and key) in `cert_file` (`key_file`).
    OSError or ssl.SSLError when they cannot be read or do not match."""
    ctx = new_context()
    ctx.load_cert_chain(cert_file, key_file)
    return ctx


def certificate_names(path: str) -> tuple[str, ...]:
    """The DNS names the first certificate in `path` covers (its subject alternative
    names), for the control plane to know which hosts the default certificate serves."""
    with open(path, "rb") as f:
        data = f.read()
    start = data.find(b"-----BEGIN CERTIFICATE-----")
    if start < 0:
        return ()
    cert = x509.load_pem_x509_certificate(data[start:])
    try:
        alt = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return ()
    return tuple(name.lower() for name in alt.value.get_values_for_type(x509.DNSName))


class Certificates:
    """The router's certificates: the operator's default one and a cache of per-host ones."""

    def __init__(self, default_cert: str | None = None, default_key: str | None = None) -> None:
        self.default: ssl.SSLContext | None = (
            load_context(default_cert, default_key) if default_cert else None
        )
        self._contexts: dict[str, ssl.SSLContext | None] = {}

    def context(self, path: str | None) -> ssl.SSLContext | None:
        """The context serving the certificate file at `path` (None when it cannot be read:
        logged once, and the host falls back to the default certificate)."""
        if path is None:
            return None
        try:
            return self._contexts[path]
        except KeyError:
            pass
        try:
            ctx: ssl.SSLContext | None = load_context(path)
        except (OSError, ssl.SSLError) as exc:
            log.error("cannot load the certificate %s: %s", path, exc)
            ctx = None
        self._contexts[path] = ctx
        return ctx

    def keep_only(self, paths: set[str]) -> None:
        """Forget contexts of files no route names any more (renewed or removed)."""
        for path in [p for p in self._contexts if p not in paths]:
            del self._contexts[path]

    def listening(self, lookup: Callable[[str], ssl.SSLContext | None]) -> ssl.SSLContext:
        """The listening socket's context: the default certificate, and an SNI callback that
        switches to `lookup(server_name)` when it gives one."""
        base = self.default if self.default is not None else new_context()
        has_default = self.default is not None

        def choose(conn: ssl.SSLObject, name: str | None, _ctx: ssl.SSLContext) -> int | None:
            ctx = lookup(name.lower()) if name else None
            if ctx is not None:
                conn.context = ctx
            elif not has_default:
                return ssl.ALERT_DESCRIPTION_UNRECOGNIZED_NAME
            return None

        base.sni_callback = choose
        return base
