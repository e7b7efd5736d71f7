"""HTTPS at the router: certificates by SNI (a host's own, else the operator's default),
TLS 1.2+ with ALPN http/1.1, X-Forwarded-Proto, redirects to HTTPS, ACME HTTP-01 answers over
plain HTTP, and a certificate replaced under load without a failed request."""

from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from backends import Backend
from cryptography import x509
from tests.support.tlscerts import ThrowawayCA

from slipway.domain.routes import Backend as B
from slipway.domain.routes import Route, Target
from slipway.router import RouterServer
from slipway.router.tls import Certificates

BASE = "apps.test"
APP_HOST = f"web.acme.{BASE}"
CUSTOM = "api.example.com"


@pytest.fixture
def ca() -> ThrowawayCA:
    return ThrowawayCA.make()


@pytest.fixture
async def tls_router(
    ca: ThrowawayCA, tmp_path: Path, backends: list[Backend]
) -> AsyncIterator[RouterServer]:
    default, _ = ca.leaf_file(tmp_path / "default.pem", f"*.acme.{BASE}")
    server = RouterServer(registry=None, certificates=Certificates(str(default)))
    await server.start("127.0.0.1", 0, https_port=0)
    yield server
    await server.close()


def route(host: str, backend: Backend, **extra: object) -> Route:
    target = Target("ws/app/r1", 100, (B("127.0.0.1", backend.port),))
    return Route(host, (target,), **extra)  # type: ignore[arg-type]


def client_context(ca: ThrowawayCA) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cadata=ca.pem.decode())
    ctx.set_alpn_protocols(["h2", "http/1.1"])
    return ctx


async def handshake(
    port: int, name: str, ctx: ssl.SSLContext
) -> tuple[x509.Certificate, str | None, str | None]:
    """Shake hands naming `name`: (the router's certificate, ALPN, TLS version)."""
    _, writer = await asyncio.open_connection("127.0.0.1", port, ssl=ctx, server_hostname=name)
    try:
        obj = writer.get_extra_info("ssl_object")
        der = obj.getpeercert(binary_form=True)
        return x509.load_der_x509_certificate(der), obj.selected_alpn_protocol(), obj.version()
    finally:
        writer.close()
        await writer.wait_closed()


def names(cert: x509.Certificate) -> list[str]:
    alt = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    return alt.value.get_values_for_type(x509.DNSName)


async def https_get(
    port: int, host: str, path: str, ca: ThrowawayCA, **kw: object
) -> httpx.Response:
    async with httpx.AsyncClient(verify=client_context(ca), timeout=10) as c:
        return await c.get(
            f"https://127.0.0.1:{port}{path}",
            headers={"Host": host},
            extensions={"sni_hostname": host},
            **kw,  # type: ignore[arg-type]
        )


async def http_get(port: int, host: str, path: str) -> httpx.Response:
    async with httpx.AsyncClient(timeout=10) as c:
        return await c.get(f"http://127.0.0.1:{port}{path}", headers={"Host": host})


async def test_the_default_certificate_serves_the_platform_hosts_over_tls12_and_up(
    tls_router: RouterServer, backends: list[Backend], ca: ThrowawayCA
) -> None:
    a = Backend("a")
    backends.append(a)
    tls_router.set_routes("app", [route(APP_HOST, a)])
    cert, alpn, version = await handshake(tls_router.https_port, APP_HOST, client_context(ca))
    assert names(cert) == [f"*.acme.{BASE}"]
    assert alpn == "http/1.1"
    assert version in ("TLSv1.2", "TLSv1.3")
    r = await https_get(tls_router.https_port, APP_HOST, "/headers", ca)
    assert r.status_code == 200
    seen = {k.lower(): v for k, v in json.loads(r.text).items()}
    assert seen["x-forwarded-proto"] == "https"
    assert seen["host"] == APP_HOST
    plain = await http_get(tls_router.port, APP_HOST, "/headers")
    assert {k.lower(): v for k, v in plain.json().items()}["x-forwarded-proto"] == "http"

    old = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    old.load_verify_locations(cadata=ca.pem.decode())
    old.maximum_version = ssl.TLSVersion.TLSv1_1
    old.minimum_version = ssl.TLSVersion.TLSv1
    old.set_ciphers("ALL:@SECLEVEL=0")
    with pytest.raises((ssl.SSLError, ConnectionError)):
        await handshake(tls_router.https_port, APP_HOST, old)


async def test_sni_picks_the_hosts_own_certificate(
    tls_router: RouterServer, backends: list[Backend], ca: ThrowawayCA, tmp_path: Path
) -> None:
    a = Backend("a")
    backends.append(a)
    own, _ = ca.leaf_file(tmp_path / "custom.pem", CUSTOM)
    tls_router.set_routes("app", [route(APP_HOST, a), route(CUSTOM, a, certificate=str(own))])
    cert, _, _ = await handshake(tls_router.https_port, CUSTOM, client_context(ca))
    assert names(cert) == [CUSTOM]
    assert (await https_get(tls_router.https_port, CUSTOM, "/", ca)).status_code == 200
    # The host's name in another case is the same host.
    cert, _, _ = await handshake(tls_router.https_port, CUSTOM.upper(), client_context(ca))
    assert names(cert) == [CUSTOM]


async def test_a_host_without_a_certificate_gets_no_handshake(
    backends: list[Backend], ca: ThrowawayCA
) -> None:
    a = Backend("a")
    backends.append(a)
    server = RouterServer(registry=None)  # no default certificate
    await server.start("127.0.0.1", 0, https_port=0)
    try:
        server.set_routes("app", [route(APP_HOST, a)])
        with pytest.raises((ssl.SSLError, ConnectionError)):
            await handshake(server.https_port, APP_HOST, client_context(ca))
    finally:
        await server.close()


async def test_https_only_redirects_plain_http_but_answers_acme_challenges(
    tls_router: RouterServer, backends: list[Backend], ca: ThrowawayCA, tmp_path: Path
) -> None:
    a = Backend("a")
    backends.append(a)
    own, _ = ca.leaf_file(tmp_path / "custom.pem", CUSTOM)
    tls_router.set_routes(
        "app",
        [
            route(
                CUSTOM,
                a,
                certificate=str(own),
                https_only=True,
                challenges=(("tok-1", "tok-1.thumb"),),
            )
        ],
    )
    base = f"http://127.0.0.1:{tls_router.port}"
    async with httpx.AsyncClient(base_url=base, headers={"Host": f"{CUSTOM}:80"}) as c:
        r = await c.post("/a/b?q=1", content=b"body")
        assert r.status_code == 308
        assert r.headers["location"] == f"https://{CUSTOM}:{tls_router.https_port}/a/b?q=1"
        r = await c.get("/.well-known/acme-challenge/tok-1")
        assert (r.status_code, r.content) == (200, b"tok-1.thumb")
        assert (await c.get("/.well-known/acme-challenge/other")).status_code == 404
        r = await c.get("/.well-known/acme-challenge/tok-1")  # the connection was kept
        assert r.status_code == 200
    assert (await https_get(tls_router.https_port, CUSTOM, "/a", ca)).status_code == 200
    # Without https_only, plain HTTP goes to the app.
    tls_router.set_routes("app", [route(CUSTOM, a, certificate=str(own))])
    assert (await http_get(tls_router.port, CUSTOM, "/")).status_code == 200


async def test_a_new_certificate_serves_new_connections_and_drops_no_request(
    tls_router: RouterServer, backends: list[Backend], ca: ThrowawayCA, tmp_path: Path
) -> None:
    a = Backend("a")
    backends.append(a)
    first, cert1 = ca.leaf_file(tmp_path / "one.pem", CUSTOM)
    second, cert2 = ca.leaf_file(tmp_path / "two.pem", CUSTOM)
    tls_router.set_routes("app", [route(CUSTOM, a, certificate=str(first))])
    statuses: list[int] = []
    stop = asyncio.Event()

    async def load() -> None:
        while not stop.is_set():  # a new connection each time: a handshake each time
            statuses.append((await https_get(tls_router.https_port, CUSTOM, "/", ca)).status_code)

    loaders = [asyncio.create_task(load()) for _ in range(4)]
    await asyncio.sleep(0.3)
    served, _, _ = await handshake(tls_router.https_port, CUSTOM, client_context(ca))
    assert served.serial_number == cert1.serial_number
    tls_router.set_routes("app", [route(CUSTOM, a, certificate=str(second))])
    served, _, _ = await handshake(tls_router.https_port, CUSTOM, client_context(ca))
    assert served.serial_number == cert2.serial_number
    await asyncio.sleep(0.3)
    stop.set()
    await asyncio.gather(*loaders)
    assert len(statuses) > 20
    assert set(statuses) == {200}
    assert list(tls_router.certificates._contexts) == [str(second)]


async def test_a_wildcard_route_serves_one_label_below_it(
    tls_router: RouterServer, backends: list[Backend], ca: ThrowawayCA, tmp_path: Path
) -> None:
    a = Backend("a")
    backends.append(a)
    own, _ = ca.leaf_file(tmp_path / "wild.pem", "*.example.org")
    tls_router.set_routes("app", [route("*.example.org", a, certificate=str(own))])
    assert (await https_get(tls_router.https_port, "x.example.org", "/", ca)).status_code == 200
    assert (await http_get(tls_router.port, "a.b.example.org", "/")).status_code == 404


def test_an_unreadable_default_certificate_is_refused_at_start(tmp_path: Path) -> None:
    bad = tmp_path / "bad.pem"
    bad.write_text("not a certificate")
    with pytest.raises(ssl.SSLError):
        Certificates(str(bad))
    with pytest.raises(OSError):
        Certificates(str(tmp_path / "missing.pem"))
