"""Certificates from an ACME (RFC 8555) directory: Let's Encrypt, its staging directory, or
Pebble in the tests, through certbot's `acme` library.

`acme` is synchronous (requests), so each blocking stretch runs in a thread; the hooks that
publish and withdraw the HTTP-01 answer are the caller's coroutines and run on the loop:

    thread: account, new order, its HTTP-01 challenges -> loop: publish(token, answer)
    -> thread: answer the challenges, poll, finalize with a new key, download
    -> loop: withdraw(token), whatever happened

The account key (EC P-256) is made once per directory URL and kept in `account_dir`
(0600 files in a 0700 dir, named by a hash of the URL, so staging and production accounts
never mix). Registering again with the same key returns the existing account, so every
order simply registers: a restart, or an authority that forgot the account, needs nothing
special. Each order has its own `ClientNetwork` (session, nonces), so orders for different
hostnames may run at once.

Errors become `CertificateError`: a failed validation says what the authority saw and is
not retryable (the user must fix DNS or routing); an unreachable, busy or rate-limiting
authority is. No key ever reaches an error or a log line.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import hashlib
import json
import os
import tempfile
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar, cast

import requests
from acme import challenges, crypto_util, messages
from acme import errors as acme_errors
from acme.client import ClientNetwork, ClientV2
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from josepy.jwa import ES256
from josepy.jwk import JWKEC

from slipway.ports import CertificateError, ChallengeHook, IssuedCertificate

DEADLINE_SECONDS = 90.0  # validation, finalization and download, once the answer is published
NETWORK_TIMEOUT_SECONDS = 30  # one HTTP request to the directory
USER_AGENT = "slipway-acme"

# Problem types that a retry will not fix: the name, its DNS or CAA records, or what the
# authority reached at it (order-level; a failed challenge is a ValidationError).
_NAME_PROBLEMS = frozenset(
    {"rejectedIdentifier", "unsupportedIdentifier", "caa", "dns", "connection",
     "unauthorized", "incorrectResponse", "tls"}
)  # fmt: skip

T = TypeVar("T")


@dataclass(frozen=True)
class _Challenge:
    body: messages.ChallengeBody
    response: challenges.ChallengeResponse
    token: str
    validation: str = field(repr=False)


@dataclass(frozen=True)
class _Order:
    client: ClientV2
    order: messages.OrderResource
    challenges: list[_Challenge]
    key_pem: bytes = field(repr=False)


class AcmeAuthority:
    """`CertificateAuthority` over the ACME directory at `directory_url`."""

    def __init__(
        self,
        directory_url: str,
        account_dir: Path,
        *,
        ca_bundle: str | None = None,
        email: str | None = None,
        deadline_seconds: float = DEADLINE_SECONDS,
    ) -> None:
        self.directory_url = directory_url
        self.account_dir = account_dir
        self._ca_bundle = ca_bundle
        self._email = email
        self._deadline_seconds = deadline_seconds
        slug = hashlib.sha256(directory_url.encode()).hexdigest()[:16]
        self.key_path = account_dir / f"account-{slug}.key"
        self.account_path = account_dir / f"account-{slug}.json"
        self._key: JWKEC | None = None
        self._lock = threading.Lock()  # the key and account files, across concurrent orders

    async def issue(
        self, hostname: str, *, publish: ChallengeHook, withdraw: Callable[[str], Awaitable[None]]
    ) -> IssuedCertificate:
        """See `CertificateAuthority.issue`. What `publish` or `withdraw` raise goes to the
        caller as it is."""
        net: ClientNetwork | None = None
        try:
            net = await self._in_thread(hostname, self._network)
            order = await self._in_thread(hostname, self._order, net, hostname)
            published: list[str] = []
            try:
                for challenge in order.challenges:
                    published.append(challenge.token)
                    await publish(challenge.token, challenge.validation)
                return await self._in_thread(hostname, self._finish, order)
            finally:
                for token in published:
                    await withdraw(token)
        finally:
            if net is not None:
                net.session.close()

    def account_uri(self) -> str | None:
        """The account's URL at the directory, once registered."""
        try:
            uri = json.loads(self.account_path.read_text()).get("account")
        except (OSError, ValueError):
            return None
        return uri if isinstance(uri, str) else None

    # ------------------------------------------------------------------ in a thread

    async def _in_thread(self, hostname: str, call: Callable[..., T], *args: object) -> T:
        try:
            return await asyncio.to_thread(call, *args)
        except CertificateError:
            raise
        except Exception as error:
            raise self._certificate_error(hostname, error) from error

    def _network(self) -> ClientNetwork:
        return ClientNetwork(
            self._account_key(),
            alg=ES256,
            # requests' `verify` takes a CA bundle's path as well; acme only annotates bool.
            verify_ssl=cast(bool, self._ca_bundle or True),
            user_agent=USER_AGENT,
            timeout=NETWORK_TIMEOUT_SECONDS,
        )

    def _order(self, net: ClientNetwork, hostname: str) -> _Order:
        client = ClientV2(ClientV2.get_directory(self.directory_url, net), net)
        self._register(client)
        key_pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        order = client.new_order(crypto_util.make_csr(key_pem, [hostname]))
        pending = []
        for authz in order.authorizations:
            if authz.body.status == messages.STATUS_VALID:
                continue  # the authority reuses an earlier validation of the name
            http01 = next(
                (c for c in authz.body.challenges if isinstance(c.chall, challenges.HTTP01)),
                None,
            )
            if http01 is None:
                raise CertificateError(
                    f"The ACME server at {self.directory_url} offers no HTTP-01 challenge "
                    f"for {hostname}"
                )
            response, validation = http01.response_and_validation(net.key)
            pending.append(_Challenge(http01, response, http01.chall.encode("token"), validation))
        return _Order(client, order, pending, key_pem)

    def _finish(self, order: _Order) -> IssuedCertificate:
        for challenge in order.challenges:
            order.client.answer_challenge(challenge.body, challenge.response)
        # acme compares its deadline with the naive local time.
        deadline = datetime.datetime.now() + datetime.timedelta(seconds=self._deadline_seconds)
        done = order.client.poll_and_finalize(order.order, deadline)
        return _issued(done.fullchain_pem.encode(), order.key_pem)

    def _register(self, client: ClientV2) -> None:
        """Register the key's account, or find it: RFC 8555 answers a known key with its
        account's URL, which `acme` raises as ConflictError."""
        new = messages.NewRegistration.from_data(email=self._email, terms_of_service_agreed=True)
        try:
            uri = client.new_account(new).uri
        except acme_errors.ConflictError as existing:
            uri = existing.location
            client.net.account = messages.RegistrationResource(
                uri=uri, body=messages.Registration()
            )
        with self._lock:
            if uri != self.account_uri():
                record = {"directory": self.directory_url, "account": uri}
                _write_private(self.account_path, json.dumps(record).encode())

    def _account_key(self) -> JWKEC:
        with self._lock:
            if self._key is None:
                if not self.key_path.exists():
                    key = ec.generate_private_key(ec.SECP256R1())
                    pem = key.private_bytes(
                        serialization.Encoding.PEM,
                        serialization.PrivateFormat.PKCS8,
                        serialization.NoEncryption(),
                    )
                    _write_private(self.key_path, pem, exclusive=True)
                # Read back what is on disk: another process sharing the data dir may have
                # made it first.
                loaded = serialization.load_pem_private_key(self.key_path.read_bytes(), None)
                if not isinstance(loaded, ec.EllipticCurvePrivateKey):
                    raise CertificateError(f"{self.key_path} is not an EC private key")
                self._key = JWKEC(key=loaded)
            return self._key

    # ------------------------------------------------------------------ errors

    def _certificate_error(self, hostname: str, error: Exception) -> CertificateError:
        where = f"The ACME server at {self.directory_url}"
        if isinstance(error, acme_errors.ValidationError):
            details = [
                challenge.error.detail or str(challenge.error)
                for authz in error.failed_authzrs
                for challenge in authz.body.challenges
                if challenge.error is not None
            ]
            return CertificateError(
                f"The ACME server could not validate {hostname}: "
                + ("; ".join(details) or "it gave no detail")
            )
        if isinstance(error, acme_errors.IssuanceError):
            error = error.error
        if isinstance(error, messages.Error):
            detail = error.detail or error.description or error.typ
            if error.code == "rateLimited":
                return CertificateError(f"{where} is rate limiting: {detail}", retryable=True)
            if error.code == "serverInternal":
                return CertificateError(f"{where} had an internal error: {detail}", retryable=True)
            if error.code in _NAME_PROBLEMS:
                return CertificateError(f"The ACME server would not issue for {hostname}: {detail}")
            return CertificateError(f"{where} refused {hostname}: {detail}", retryable=True)
        if isinstance(error, acme_errors.TimeoutError):
            return CertificateError(
                f"{where} did not finish the order for {hostname} within "
                f"{self._deadline_seconds:g} s",
                retryable=True,
            )
        if isinstance(error, requests.RequestException):
            return CertificateError(
                f"{where} could not be reached ({_network_problem(error)})", retryable=True
            )
        return CertificateError(f"{where} failed for {hostname}: {error}", retryable=True)


def _issued(chain_pem: bytes, key_pem: bytes) -> IssuedCertificate:
    leaf = x509.load_pem_x509_certificates(chain_pem)[0]
    names = leaf.issuer.get_attributes_for_oid(NameOID.COMMON_NAME)
    issuer = names[0].value if names else leaf.issuer.rfc4514_string()
    return IssuedCertificate(
        chain_pem=chain_pem,
        key_pem=key_pem,
        not_before=leaf.not_valid_before_utc,
        not_after=leaf.not_valid_after_utc,
        serial=format(leaf.serial_number, "x"),
        issuer=issuer.decode() if isinstance(issuer, bytes) else issuer,
    )


def _network_problem(error: requests.RequestException) -> str:
    """A few words for why a request failed ("Connection refused"), not urllib3's paragraph."""
    if isinstance(error, requests.exceptions.SSLError):
        return "its TLS certificate could not be verified"
    if isinstance(error, requests.exceptions.Timeout):
        return "no answer in time"
    cause: BaseException | None = error
    for _ in range(8):  # requests -> MaxRetryError -> NewConnectionError -> the OSError
        if cause is None:
            break
        if isinstance(cause, OSError) and cause.strerror:
            return cause.strerror
        reason = getattr(cause, "reason", None)
        first = cause.args[0] if cause.args else None
        cause = (
            reason if isinstance(reason, BaseException)
            else first if isinstance(first, BaseException)
            else cause.__cause__ or cause.__context__
        )  # fmt: skip
    return "the connection failed"


def _write_private(path: Path, data: bytes, *, exclusive: bool = False) -> None:
    """Write `data` to `path` (0600, its dir 0700) through a temporary file, so no reader sees
    half of it. `exclusive`: leave an existing file as it is."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.parent.chmod(0o700)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=".tmp")  # 0600
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        if exclusive:
            with contextlib.suppress(FileExistsError):
                os.link(tmp, path)
        else:
            Path(tmp).replace(path)
    finally:
        Path(tmp).unlink(missing_ok=True)
