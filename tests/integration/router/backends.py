"""Tiny threaded HTTP/1.1 backends for the router tests (loopback only)."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Backend

    def log_message(self, *args: object) -> None:
        pass

    def _send(self, body: bytes, status: int = 200) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", ""):
            out = b""
            while True:
                size = int(self.rfile.readline().strip().split(b";")[0], 16)
                if size == 0:
                    self.rfile.readline()
                    return out
                out += self.rfile.read(size)
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length", "0")))

    def do_GET(self) -> None:
        self.server.peers.add(self.client_address)
        path = self.path
        if path == "/headers":
            self._send(json.dumps(dict(self.headers.items())).encode())
        elif path.startswith("/big"):
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            chunk = b"x" * 65536
            for _ in range(int(path.split("=")[1]) // len(chunk)):
                self.wfile.write(b"%x\r\n%b\r\n" % (len(chunk), chunk))
            self.wfile.write(b"0\r\n\r\n")
        elif path == "/close":
            self.send_response(200)
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(b"until-close " * 1000)
            self.close_connection = True
        elif path.startswith("/status/"):
            self._send(b"status", int(path.rsplit("/", 1)[1]))
        elif path == "/reset":
            self.close_connection = True  # hang up without an answer
        elif path.startswith("/sleep/"):
            time.sleep(float(path.rsplit("/", 1)[1]))
            self._send(b"slept")
        elif path == "/slow":
            time.sleep(1.0)
            self._send(f"slow {self.server.name}".encode())
        else:
            self._send(self.server.name.encode())

    def do_HEAD(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "1234")  # the length a GET would have
        self.end_headers()

    def do_POST(self) -> None:
        body = self._read_body()
        info = {"len": len(body), "sha": hashlib.sha256(body).hexdigest()}
        self._send(json.dumps(info).encode())


class Backend(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # socketserver's 5 drops the SYNs of a burst (1 s retries)

    def __init__(self, name: str) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.name = name
        self.peers: set[tuple[str, int]] = set()
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)
        self.thread.start()

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
