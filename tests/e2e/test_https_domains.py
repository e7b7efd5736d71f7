"""HTTPS and custom domains through `slipway up`, with certificates from Pebble (Let's
Encrypt's ACME test server) and its DNS (pebble-challtestsrv), both on loopback:

- a custom domain goes pendingDns (no record) -> ready once its A record points here; the
  router serves the app on that name over HTTPS with Pebble's certificate, plain HTTP
  redirects, the certificate is renewed before expiry under load without a failed request,
  and `/metrics` counts it;
- a hostname another workspace claimed is refused (409), and a deleted domain stops routing;
- a challenge Pebble cannot validate gives `failed` with Pebble's reason;
- with the operator's wildcard certificate, a 10/90 split is exact over HTTPS and a tag's URL
  and a domain bound to a tag reach the tag's revision.
"""

from __future__ import annotations

import os
import ssl
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from tests.conftest import PYTHON_APP
from tests.e2e.conftest import Platform, free_port, start_platform, stop_platform, wait_for
from tests.support.pebble import Pebble
from tests.support.tlscerts import ThrowawayCA

pytestmark = [pytest.mark.e2e, pytest.mark.long]

FINISHED = {"succeeded", "failed", "cancelled"}
VALIDITY_SECONDS = 30  # renewed a third before expiry: 10 s before


def version(n: int) -> dict[str, str]:
    return {"main.py": PYTHON_APP.replace('"hello"', f'"v{n}"'), "requirements.txt": ""}


def deploy(api: httpx.Client, ws: str, app_id: str, **extra: object) -> dict:
    r = api.post(f"/workspaces/{ws}/deploy", json={"appId": app_id, **extra})
    assert r.status_code == 202, r.text
    done = wait_for(api, f"/workspaces/{ws}/deploy/{r.json()['id']}", until=FINISHED)
    assert done["status"] == "succeeded", done
    return done


def until(check, *, timeout: float = 90.0, what: str = "the condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def https(port: int, roots: bytes, name: str, path: str = "/") -> httpx.Response:
    """GET https://name:port/path through the router on loopback, trusting `roots`."""
    ctx = ssl.create_default_context(cadata=roots.decode())
    with httpx.Client(verify=ctx, timeout=10) as c:
        return c.get(
            f"https://127.0.0.1:{port}{path}",
            headers={"Host": name},
            extensions={"sni_hostname": name},
        )


def served_certificate(port: int, roots: bytes, name: str) -> x509.Certificate:
    import socket

    ctx = ssl.create_default_context(cadata=roots.decode())
    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
        ctx.wrap_socket(raw, server_hostname=name) as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der)


@pytest.fixture
def acme(tmp_path: Path) -> Iterator[tuple[Pebble, int]]:
    router_port = free_port()
    with Pebble(tmp_path / "pebble", http_port=router_port, validity_seconds=VALIDITY_SECONDS) as p:
        yield p, router_port


@pytest.fixture
def acme_platform(tmp_path: Path, acme: tuple[Pebble, int]) -> Iterator[tuple[Platform, int]]:
    pebble, router_port = acme
    https_port = free_port()
    running = start_platform(
        tmp_path,
        router_port=router_port,
        extra_args=("--https-port", str(https_port), "--public-address", "127.0.0.1"),
        extra_env={
            "SLIPWAY_ACME_DIRECTORY": pebble.directory_url,
            "SLIPWAY_ACME_CA_BUNDLE": str(pebble.ca_bundle),
            "SLIPWAY_DNS_RESOLVERS": pebble.dns_address,
        },
    )
    try:
        yield running, https_port
    finally:
        stop_platform(running)


def web_app(platform: Platform, make_repo) -> tuple[str, httpx.Client, dict, Any]:
    """Workspace `acme` with the app `web` (not deployed): (workspace id, client, app, repo)."""
    ws, key = platform.workspace("acme")
    api = platform.client(key)
    repo = make_repo("web")
    repo.commit(version(1), "v1")
    app = api.post(f"/workspaces/{ws}/apps", json={"name": "web", "gitUrl": repo.url}).json()
    return ws, api, app, repo


def test_a_custom_domain_gets_a_certificate_and_keeps_it_renewed(
    acme_platform: tuple[Platform, int], acme: tuple[Pebble, int], make_repo
) -> None:
    platform, https_port = acme_platform
    pebble, _ = acme
    ws, api, app, repo = web_app(platform, make_repo)
    deployed = deploy(api, ws, app["id"])
    domains = f"/workspaces/{ws}/apps/{app['id']}/domains"

    # No DNS record yet: pendingDns, saying which record to create.
    r = api.post(domains, json={"hostname": "API.Example.test."})
    assert r.status_code == 201, r.text
    added = r.json()
    assert added["hostname"] == "api.example.test"
    assert added["status"] == "pendingDns"
    assert added["dnsRecord"] == {
        "type": "CNAME",
        "name": "api.example.test",
        "value": "web.acme.localhost",
    }
    pending = until(
        lambda: (d := api.get(f"{domains}/api.example.test").json())["reason"] and d,
        what="the DNS check",
    )
    assert pending["status"] == "pendingDns"
    assert "api.example.test" in pending["reason"]

    # The record appears: the next check finds it, Pebble validates, the router serves it.
    pebble.add_a("api.example.test", "127.0.0.1")
    ready = until(
        lambda: (d := api.get(f"{domains}/{added['id']}").json())["status"] == "ready" and d,
        what="the certificate",
    )
    assert ready["reason"] is None
    assert ready["url"] == f"https://api.example.test:{https_port}"
    assert "Pebble" in ready["certificate"]["issuer"]
    roots = pebble.root_pem()
    r = https(https_port, roots, "api.example.test", "/hello")
    assert r.status_code == 200
    assert r.text.startswith("v1 path=/hello host=api.example.test")
    first = served_certificate(https_port, roots, "api.example.test")
    assert first.serial_number == int(ready["certificate"]["serial"], 16)
    plain = httpx.get(
        f"http://127.0.0.1:{platform.router_port}/a?b=1",
        headers={"Host": "api.example.test"},
        timeout=10,
    )
    assert plain.status_code == 308
    assert plain.headers["location"] == f"https://api.example.test:{https_port}/a?b=1"
    status = api.get(f"/workspaces/{ws}/deploy/{deployed['id']}/runtime-status").json()
    cert_condition = next(c for c in status["conditions"] if c["type"] == "CertificateProvisioned")
    assert (cert_condition["status"], cert_condition["reason"]) == ("True", "CertificatesReady")
    assert cert_condition["message"] == "api.example.test: ready"
    metrics = platform.metrics()
    assert 'slipway_domains{status="ready"} 1.0' in metrics
    assert 'slipway_certificate_expiry_days{hostname="api.example.test"}' in metrics

    # Renewal a third of its life before expiry, under load: no request fails.
    statuses: Counter[int] = Counter()
    stop = threading.Event()

    def load() -> None:
        while not stop.is_set():
            try:
                statuses[https(https_port, roots, "api.example.test").status_code] += 1
            except httpx.HTTPError as exc:  # a failed handshake or connection counts
                statuses[type(exc).__name__] += 1  # type: ignore[index]

    loaders = [threading.Thread(target=load) for _ in range(3)]
    for t in loaders:
        t.start()
    try:
        renewed = until(
            lambda: (
                (c := served_certificate(https_port, roots, "api.example.test")).serial_number
                != first.serial_number
                and c
            ),
            timeout=VALIDITY_SECONDS,
            what="the renewed certificate",
        )
        time.sleep(1)
    finally:
        stop.set()
        for t in loaders:
            t.join()
    assert renewed.not_valid_after_utc > first.not_valid_after_utc
    assert set(statuses) == {200}, statuses
    assert statuses[200] > 20
    after = api.get(f"{domains}/{added['id']}").json()
    assert after["status"] == "ready"
    assert int(after["certificate"]["serial"], 16) == renewed.serial_number

    # Another workspace cannot claim the name; deleting it stops its routing.
    other_ws, other_key = platform.workspace("other")
    other = platform.client(other_key)
    theirs = other.post(
        f"/workspaces/{other_ws}/apps", json={"name": "web", "gitUrl": repo.url}
    ).json()
    r = other.post(
        f"/workspaces/{other_ws}/apps/{theirs['id']}/domains",
        json={"hostname": "api.example.test"},
    )
    assert r.status_code == 409, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert api.delete(f"{domains}/api.example.test").status_code == 200
    gone = httpx.get(
        f"http://127.0.0.1:{platform.router_port}/",
        headers={"Host": "api.example.test"},
        timeout=10,
    )
    assert gone.status_code == 404
    assert list((platform.data_dir / "certs").iterdir()) == []


def test_a_challenge_pebble_cannot_validate_fails_with_its_reason(
    acme_platform: tuple[Platform, int], acme: tuple[Pebble, int], make_repo
) -> None:
    platform, _ = acme_platform
    pebble, _ = acme
    ws, api, app, _ = web_app(platform, make_repo)
    domains = f"/workspaces/{ws}/apps/{app['id']}/domains"
    # The CNAME points at the app's host, as the answer says, but that name has no address
    # in this DNS: Slipway's check passes, Pebble cannot reach the router.
    pebble.set_cname("www.example.test", "web.acme.localhost")
    r = api.post(domains, json={"hostname": "www.example.test"})
    assert r.status_code == 201, r.text
    failed = until(
        lambda: (d := api.get(f"{domains}/www.example.test").json())["status"] == "failed" and d,
        what="the failed challenge",
    )
    assert "www.example.test" in failed["reason"]
    assert "acme-challenge" in failed["reason"] or "resolve" in failed["reason"]
    assert failed["certificate"] is None
    assert failed["nextCheckAt"] is not None  # tried again later

    bad = api.post(domains, json={"hostname": "127.0.0.1"})
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "hostname"
    under_base = api.post(domains, json={"hostname": "x.acme.localhost"})
    assert under_base.status_code == 422
    assert api.post(domains, json={"hostname": "*.example.test"}).status_code == 422


def test_the_split_and_tags_hold_over_https(tmp_path: Path, make_repo) -> None:
    ca = ThrowawayCA.make()
    cert, _ = ca.leaf_file(tmp_path / "wildcard.pem", "*.acme.localhost")
    https_port = free_port()
    platform = start_platform(
        tmp_path, extra_args=("--https-port", str(https_port), "--tls-cert", str(cert))
    )
    try:
        ws, key = platform.workspace("acme")
        api = platform.client(key)
        repo = make_repo("api")
        repo.commit(version(1), "v1")
        app = api.post(f"/workspaces/{ws}/apps", json={"name": "api", "gitUrl": repo.url})
        app_id = app.json()["id"]
        assert app.json()["url"] == f"https://api.acme.localhost:{https_port}"
        deploy(api, ws, app_id)
        repo.commit(version(2), "v2")
        deploy(api, ws, app_id, noTraffic=True)
        splits = [
            {"revisionName": "api-00002", "percent": 10, "tag": "canary"},
            {"revisionName": "api-00001", "percent": 90},
        ]
        r = api.post(f"/workspaces/{ws}/deploy/apps/{app_id}/traffic", json={"splits": splits})
        assert r.status_code == 200, r.text
        host = "api.acme.localhost"
        ctx = ssl.create_default_context(cadata=ca.pem.decode())
        with httpx.Client(verify=ctx, timeout=10) as c:
            seen = Counter(
                c.get(
                    f"https://127.0.0.1:{https_port}/",
                    headers={"Host": host},
                    extensions={"sni_hostname": host},
                ).text.split()[0]
                for _ in range(100)
            )
        assert seen == {"v2": 10, "v1": 90}
        assert https(https_port, ca.pem, f"canary---{host}").text.startswith("v2 ")
        # Plain HTTP on a host the operator's certificate covers: redirected (httpsOnly).
        plain = platform.get_app(host, "/x")
        assert plain.status_code == 308
        assert plain.headers["location"] == f"https://{host}:{https_port}/x"
        api.patch(f"/workspaces/{ws}/apps/{app_id}", json={"httpsOnly": False})
        assert platform.get_app(host).status_code == 200

        # A domain bound to the tag, through the CLI: routed to the tag's revision (plain
        # HTTP until its certificate comes, which this platform cannot get: no ACME here).
        env = {k: v for k, v in os.environ.items() if not k.startswith("SLIPWAY_API")}
        env |= {"XDG_CONFIG_HOME": str(tmp_path / "config"), "SLIPWAY_WORKSPACE": ""}

        def cli(*args: str) -> str:
            done = subprocess.run(
                [sys.executable, "-m", "slipway", *args], env=env, capture_output=True,
                text=True, timeout=60, stdin=subprocess.DEVNULL, check=True,
            )  # fmt: skip
            return done.stdout

        cli("login", "--workspace", ws, "--api-key", key, "--api-url", platform.api)
        added = cli("domains", "add", "api", "canary.example.com", "--tag", "canary")
        assert f"canary.example.com  CNAME  canary---{host}" in added
        listed = cli("domains", "list", "api").splitlines()
        assert listed[-1].split("\t")[:3] == ["canary.example.com", "canary", "pendingDns"]
        assert platform.get_app("canary.example.com").text.startswith("v2 ")
        r = api.post(
            f"/workspaces/{ws}/apps/{app_id}/domains",
            json={"hostname": "beta.example.com", "tag": "nope"},
        )
        assert r.status_code == 422
    finally:
        stop_platform(platform)
