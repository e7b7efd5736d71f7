"""A real ACME directory for the certificate tests: Let's Encrypt's Pebble, with
pebble-challtestsrv as the DNS server its validator asks.

Pebble's HTTPS listener gets a throwaway CA made here (`ca_bundle`), and its HTTP-01
validator connects to `http_port` on whatever address challtestsrv gives the name, so a
test answers the challenges from a server of its own on that port. challtestsrv answers
nothing it was not told (`add_a`, `set_cname`), and its own challenge servers are off.

    with Pebble(tmp_path, http_port=port) as pebble:
        pebble.add_a("api.example.com", "127.0.0.1")
        AcmeAuthority(pebble.directory_url, ..., ca_bundle=str(pebble.ca_bundle))
"""

from __future__ import annotations

import json
import os
import socket
import ssl
import subprocess
import time
from pathlib import Path
from types import TracebackType

import httpx
from tests.support.tlscerts import ThrowawayCA

STARTUP_SECONDS = 15.0
STOP_SECONDS = 5.0


def free_port() -> int:
    """A loopback port nothing listens on now, over TCP and UDP (the DNS server binds both)."""
    while True:
        with socket.socket() as tcp:
            tcp.bind(("127.0.0.1", 0))
            port: int = tcp.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                try:
                    udp.bind(("127.0.0.1", port))
                except OSError:
                    continue
                return port


def _listener_certificate(directory: Path) -> tuple[Path, Path, Path]:
    """A CA and a leaf for 127.0.0.1/localhost signed by it: (ca, cert, key) PEM paths."""
    ca = ThrowawayCA.make("slipway test pebble CA")
    chain, key, _ = ca.leaf("localhost", "127.0.0.1")
    paths = (directory / "ca.pem", directory / "listener.pem", directory / "listener.key")
    ca.write(paths[0])
    paths[1].write_bytes(chain)
    paths[2].write_bytes(key)
    return paths


class Pebble:
    """Pebble and pebble-challtestsrv on free loopback ports, until `stop` (or the `with`)."""

    def __init__(self, tmp: Path, *, http_port: int, validity_seconds: int = 3600) -> None:
        self.dir = tmp / "pebble"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.http_port = http_port
        self.validity_seconds = validity_seconds
        self.ca_bundle, self._cert, self._key = _listener_certificate(self.dir)
        dns_port, self._challtest_port = free_port(), free_port()
        self._port, self._mgmt_port = free_port(), free_port()
        self.dns_address = f"127.0.0.1:{dns_port}"
        self.directory_url = f"https://127.0.0.1:{self._port}/dir"
        self._procs: list[tuple[str, subprocess.Popen[bytes]]] = []
        self._logs: list[Path] = []

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> Pebble:
        try:
            self._spawn(
                "challtestsrv",
                ["pebble-challtestsrv", "-defaultIPv4", "", "-defaultIPv6", "",
                 "-http01", "", "-https01", "", "-tlsalpn01", "",
                 "-dns01", self.dns_address,
                 "-management", f"127.0.0.1:{self._challtest_port}"],
                env={},
            )  # fmt: skip
            config = self.dir / "pebble-config.json"
            config.write_text(json.dumps({"pebble": {
                "listenAddress": f"127.0.0.1:{self._port}",
                "managementListenAddress": f"127.0.0.1:{self._mgmt_port}",
                "certificate": str(self._cert),
                "privateKey": str(self._key),
                "httpPort": self.http_port,
                "tlsPort": free_port(),  # nothing listens: only HTTP-01 is answered
                "ocspResponderURL": "",
                "externalAccountBindingRequired": False,
                "certificateValidityPeriod": self.validity_seconds,
            }}))  # fmt: skip
            self._spawn(
                "pebble",
                ["pebble", "-config", str(config), "-dnsserver", self.dns_address],
                # No random sleeps before validating, no rejected nonces, a fresh
                # authorization per order: fast and deterministic.
                env={"PEBBLE_VA_NOSLEEP": "1", "PEBBLE_WFE_NONCEREJECT": "0",
                     "PEBBLE_AUTHZREUSE": "0"},
            )  # fmt: skip
            self._wait_until_answering()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        for _, proc in reversed(self._procs):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(STOP_SECONDS)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        self._procs.clear()

    def __enter__(self) -> Pebble:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def logs(self) -> str:
        """Both programs' output so far, to print when a test fails."""
        return "\n".join(
            f"---- {path.name}\n{path.read_text(errors='replace')}"
            for path in self._logs
            if path.exists()
        )

    def _spawn(self, name: str, argv: list[str], env: dict[str, str]) -> None:
        log = self.dir / f"{name}.log"
        self._logs.append(log)
        with open(log, "ab") as out:
            self._procs.append(
                (
                    name,
                    subprocess.Popen(
                        argv,
                        stdin=subprocess.DEVNULL,
                        stdout=out,
                        stderr=subprocess.STDOUT,
                        env={**os.environ, **env},
                        cwd=self.dir,
                    ),
                )
            )

    def _wait_until_answering(self) -> None:
        deadline = time.monotonic() + STARTUP_SECONDS
        with httpx.Client(verify=self._trust(), timeout=1.0) as client:
            for url in (f"http://127.0.0.1:{self._challtest_port}/clear-a", self.directory_url):
                while True:
                    for name, proc in self._procs:
                        if proc.poll() is not None:
                            raise RuntimeError(f"{name} exited ({proc.returncode}):\n{self.logs()}")
                    try:
                        if url == self.directory_url:
                            client.get(url).raise_for_status()
                        else:
                            client.post(url, json={"host": "ready.invalid."}).raise_for_status()
                        break
                    except httpx.HTTPError:
                        if time.monotonic() > deadline:
                            raise RuntimeError(f"{url} did not answer:\n{self.logs()}") from None
                        time.sleep(0.05)

    # ------------------------------------------------------------------ what tests use

    def root_pem(self) -> bytes:
        """The root that issued (through an intermediate) the certificates of this run."""
        response = httpx.get(f"https://127.0.0.1:{self._mgmt_port}/roots/0", verify=self._trust())
        response.raise_for_status()
        return response.content

    def add_a(self, host: str, *addresses: str) -> None:
        self._manage("add-a", {"host": _fqdn(host), "addresses": list(addresses)})

    def clear_a(self, host: str) -> None:
        self._manage("clear-a", {"host": _fqdn(host)})

    def set_cname(self, host: str, target: str) -> None:
        self._manage("set-cname", {"host": _fqdn(host), "target": _fqdn(target)})

    def clear_cname(self, host: str) -> None:
        self._manage("clear-cname", {"host": _fqdn(host)})

    def _trust(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.ca_bundle)

    def _manage(self, path: str, body: dict[str, object]) -> None:
        response = httpx.post(f"http://127.0.0.1:{self._challtest_port}/{path}", json=body)
        response.raise_for_status()


def _fqdn(host: str) -> str:
    return host if host.endswith(".") else host + "."
