"""AcmeAuthority against a real ACME directory (Pebble): a certificate issued through an
HTTP-01 challenge that a small server of the test answers, the account kept and reused, and
each way an order fails as the `CertificateError` the caller can act on."""

from __future__ import annotations

import asyncio
import datetime
import ssl
import stat
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.verification import PolicyBuilder, Store
from tests.support.pebble import Pebble, free_port

from slipway.certs.authority import AcmeAuthority
from slipway.ports import CertificateError

VALIDITY = 3600
CHALLENGE_PATH = "/.well-known/acme-challenge/"


class ChallengeServer:
    """What the router does for HTTP-01: answers the published tokens, on Pebble's httpPort.
    It records what was published, withdrawn and asked, to check the hooks' pairing."""

    def __init__(self) -> None:
        self.answers: dict[str, str] = {}
        self.published: list[str] = []
        self.withdrawn: list[str] = []
        self.asked: list[tuple[str, str]] = []  # (Host, path)
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.asked.append((self.headers.get("Host", ""), self.path))
                token = self.path.removeprefix(CHALLENGE_PATH)
                answer = server.answers.get(token) if self.path.startswith(CHALLENGE_PATH) else None
                body = (answer or "not found").encode()
                self.send_response(200 if answer else 404)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port: int = self._http.server_address[1]
        self._thread = threading.Thread(
            target=self._http.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    async def publish(self, token: str, key_authorization: str) -> None:
        self.published.append(token)
        self.answers[token] = key_authorization

    async def withdraw(self, token: str) -> None:
        self.withdrawn.append(token)
        self.answers.pop(token, None)

    def close(self) -> None:
        self._http.shutdown()
        self._http.server_close()
        self._thread.join()


@pytest.fixture
def challenges() -> Iterator[ChallengeServer]:
    server = ChallengeServer()
    yield server
    server.close()


@pytest.fixture
def pebble(tmp_path: Path, challenges: ChallengeServer) -> Iterator[Pebble]:
    with Pebble(tmp_path, http_port=challenges.port, validity_seconds=VALIDITY) as pebble:
        yield pebble
        print(pebble.logs())  # shown with a failing test's teardown output


def authority(pebble: Pebble, account_dir: Path) -> AcmeAuthority:
    return AcmeAuthority(
        pebble.directory_url,
        account_dir,
        ca_bundle=str(pebble.ca_bundle),
        email="ops@example.com",
        deadline_seconds=30,
    )


async def test_issues_a_certificate_that_verifies_up_to_pebbles_root(
    pebble: Pebble, challenges: ChallengeServer, tmp_path: Path
) -> None:
    pebble.add_a("api.example.com", "127.0.0.1")

    issued = await authority(pebble, tmp_path / "acme").issue(
        "api.example.com", publish=challenges.publish, withdraw=challenges.withdraw
    )

    leaf, *intermediates = x509.load_pem_x509_certificates(issued.chain_pem)
    verifier = (
        PolicyBuilder()
        .store(Store(x509.load_pem_x509_certificates(pebble.root_pem())))
        .build_server_verifier(x509.DNSName("api.example.com"))
    )
    verifier.verify(leaf, intermediates)  # raises unless the chain leads to the root
    assert issued.not_before == leaf.not_valid_before_utc
    assert issued.not_before.tzinfo == datetime.UTC
    assert abs((issued.not_after - issued.not_before).total_seconds() - VALIDITY) < 60
    assert issued.serial == format(leaf.serial_number, "x")
    assert issued.issuer.startswith("Pebble Intermediate CA")
    key = serialization.load_pem_private_key(issued.key_pem, None)
    assert key.public_key() == leaf.public_key()
    assert issued.key_pem.startswith(b"-----BEGIN PRIVATE KEY-----")  # PKCS#8
    # The same key and chain are what ssl serves from.
    both = tmp_path / "both.pem"
    both.write_bytes(issued.key_pem + issued.chain_pem)
    ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_cert_chain(both)

    assert len(challenges.published) == 1
    assert challenges.withdrawn == challenges.published
    token = challenges.published[0]
    assert ("api.example.com", CHALLENGE_PATH + token) in [
        (host.partition(":")[0], path) for host, path in challenges.asked
    ]


async def test_orders_for_two_hostnames_run_at_once(
    pebble: Pebble, challenges: ChallengeServer, tmp_path: Path
) -> None:
    pebble.add_a("a.example.com", "127.0.0.1")
    pebble.add_a("b.example.com", "127.0.0.1")
    acme = authority(pebble, tmp_path / "acme")

    first, second = await asyncio.gather(
        *(
            acme.issue(name, publish=challenges.publish, withdraw=challenges.withdraw)
            for name in ("a.example.com", "b.example.com")
        )
    )

    names = [
        x509.load_pem_x509_certificate(cert.chain_pem)
        .extensions.get_extension_for_class(x509.SubjectAlternativeName)
        .value.get_values_for_type(x509.DNSName)
        for cert in (first, second)
    ]
    assert names == [["a.example.com"], ["b.example.com"]]
    assert sorted(challenges.withdrawn) == sorted(challenges.published)
    assert len(challenges.published) == 2
    assert len(list((tmp_path / "acme").glob("*.key"))) == 1  # one account key, made once


async def test_the_account_is_kept_and_reused_after_a_restart(
    pebble: Pebble, challenges: ChallengeServer, tmp_path: Path
) -> None:
    pebble.add_a("api.example.com", "127.0.0.1")
    account_dir = tmp_path / "acme"
    first = authority(pebble, account_dir)
    await first.issue("api.example.com", publish=challenges.publish, withdraw=challenges.withdraw)
    uri = first.account_uri()
    files = {p: p.read_bytes() for p in account_dir.iterdir()}

    second = authority(pebble, account_dir)  # a new process would make a new one
    await second.issue("api.example.com", publish=challenges.publish, withdraw=challenges.withdraw)

    assert uri is not None
    assert uri.startswith(pebble.directory_url.removesuffix("/dir"))
    assert second.account_uri() == uri
    assert {p: p.read_bytes() for p in account_dir.iterdir()} == files  # nothing new
    assert sorted(p.suffix for p in files) == [".json", ".key"]
    assert stat.S_IMODE(account_dir.stat().st_mode) == 0o700
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in files)
    # Another directory (production after staging) gets an account of its own.
    elsewhere = AcmeAuthority("https://acme.example.org/directory", account_dir)
    assert elsewhere.key_path != first.key_path
    assert elsewhere.account_path != first.account_path


async def test_a_name_without_dns_fails_validation_for_good(
    pebble: Pebble, challenges: ChallengeServer, tmp_path: Path
) -> None:
    with pytest.raises(CertificateError) as failed:
        await authority(pebble, tmp_path / "acme").issue(
            "nowhere.example.com", publish=challenges.publish, withdraw=challenges.withdraw
        )

    error = failed.value
    assert error.retryable is False
    assert error.reason.startswith("The ACME server could not validate nowhere.example.com: ")
    detail = error.reason.partition(": ")[2]  # Pebble's own words
    assert "nowhere.example.com" in detail
    assert "could not resolve" in detail
    assert "\n" not in error.reason
    assert "PRIVATE KEY" not in error.reason
    assert len(challenges.published) == 1
    assert challenges.withdrawn == challenges.published


async def test_an_unreachable_directory_is_worth_retrying(
    challenges: ChallengeServer, tmp_path: Path
) -> None:
    url = f"https://127.0.0.1:{free_port()}/dir"  # nothing listens there

    with pytest.raises(CertificateError) as failed:
        await AcmeAuthority(url, tmp_path / "acme").issue(
            "api.example.com", publish=challenges.publish, withdraw=challenges.withdraw
        )

    assert failed.value.retryable is True
    assert (
        failed.value.reason == f"The ACME server at {url} could not be reached (Connection refused)"
    )
    assert challenges.published == challenges.withdrawn == []  # no order, nothing to publish


async def test_a_directory_with_an_untrusted_certificate_is_reported(
    pebble: Pebble, challenges: ChallengeServer, tmp_path: Path
) -> None:
    # No ca_bundle: the system's CAs do not know Pebble's listener.
    acme = AcmeAuthority(pebble.directory_url, tmp_path / "acme")

    with pytest.raises(CertificateError) as failed:
        await acme.issue(
            "api.example.com", publish=challenges.publish, withdraw=challenges.withdraw
        )

    assert failed.value.retryable is True
    assert "could not be verified" in failed.value.reason
    assert pebble.directory_url in failed.value.reason
    assert challenges.published == challenges.withdrawn == []
