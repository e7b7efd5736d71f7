"""CertificateDir: one private file per certificate (key, then chain) that Python's ssl loads,
named by the leaf's fingerprint, pruned on request, and no way out of its root."""

from __future__ import annotations

import datetime
import ssl
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from slipway.certs.files import CertificateDir
from slipway.ports import IssuedCertificate


def self_signed(hostname: str) -> IssuedCertificate:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(hostname)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    return IssuedCertificate(
        chain_pem=cert.public_bytes(serialization.Encoding.PEM),
        key_pem=key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        serial=format(cert.serial_number, "x"),
        issuer=hostname,
    )


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_save_writes_a_private_file_that_ssl_loads(tmp_path: Path) -> None:
    files = CertificateDir(tmp_path / "certs")
    cert = self_signed("api.example.com")

    path = Path(files.save("api.example.com", cert))

    leaf = x509.load_pem_x509_certificate(cert.chain_pem)
    assert path == tmp_path / "certs" / "api.example.com" / (
        leaf.fingerprint(hashes.SHA256()).hex()[:16] + ".pem"
    )
    assert mode(path) == 0o600
    assert mode(path.parent) == 0o700
    assert mode(tmp_path / "certs") == 0o700
    ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_cert_chain(path)  # key and chain, matching
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left


def test_a_wildcard_is_stored_under_a_name_no_hostname_can_take(tmp_path: Path) -> None:
    files = CertificateDir(tmp_path)

    path = Path(files.save("*.example.com", self_signed("example.com")))

    assert path.parent == tmp_path / "_wildcard.example.com"


def test_prune_keeps_the_one_named_and_removes_the_rest(tmp_path: Path) -> None:
    files = CertificateDir(tmp_path)
    old = files.save("api.example.com", self_signed("api.example.com"))
    new = files.save("api.example.com", self_signed("api.example.com"))
    other = files.save("www.example.com", self_signed("www.example.com"))
    assert old != new

    files.prune("api.example.com", keep=new)

    assert not Path(old).exists()
    assert Path(new).exists()
    assert Path(other).exists()


def test_prune_without_keep_removes_the_hostname(tmp_path: Path) -> None:
    files = CertificateDir(tmp_path)
    files.save("api.example.com", self_signed("api.example.com"))
    other = files.save("www.example.com", self_signed("www.example.com"))

    files.prune("api.example.com", keep=None)
    files.prune("gone.example.com", keep=None)  # nothing to remove: fine

    assert not (tmp_path / "api.example.com").exists()
    assert Path(other).exists()


def test_prune_refuses_a_file_of_another_hostname(tmp_path: Path) -> None:
    files = CertificateDir(tmp_path)
    mine = files.save("api.example.com", self_signed("api.example.com"))
    other = files.save("www.example.com", self_signed("www.example.com"))

    with pytest.raises(ValueError, match="not a certificate file"):
        files.prune("api.example.com", keep=other)

    assert Path(mine).exists()


@pytest.mark.parametrize(
    "hostname",
    ["..", ".", "../etc", "a/b", "api.example.com/../../x", "/etc", "API.example.com",
     "api..example.com", "-api.example.com", "api.example.com.", "", "a*.example.com",
     "*", "x.*.example.com", "_wildcard.example.com", "api.example.com\x00",
     "api.example.com\n", "a" * 64, ("a" * 63 + ".") * 4 + "com"],
)  # fmt: skip
def test_names_that_are_not_hostnames_are_refused(tmp_path: Path, hostname: str) -> None:
    files = CertificateDir(tmp_path / "certs")

    with pytest.raises(ValueError, match="not a lowercase DNS hostname"):
        files.save(hostname, self_signed("example.com"))
    with pytest.raises(ValueError, match="not a lowercase DNS hostname"):
        files.prune(hostname, keep=None)

    assert not (tmp_path / "certs").exists()
