# ruff: noqa: SIM115, S310
"""What hostile tenant code tries, as the build command, the release command and the app of
`test_tenant_escape.py`. It prints one line per attempt, `PROBE <phase> <check> <result>`,
and as the app (`serve`) it then serves HTTP on $PORT with SO_REUSEPORT, holding every other
socket it managed to open. Kept as a plain script: it is committed into the tenant's repo."""

import ctypes
import errno
import http.server
import os
import socket
import sys
import time
import urllib.request

PHASE = sys.argv[1]
libc = ctypes.CDLL(None, use_errno=True)
held = []


def emit(check, result):
    print(f"PROBE {PHASE} {check} {result}", flush=True)


def connect(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
        return "open"
    except OSError as exc:
        return type(exc).__name__


def listening():
    ports = set()
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = open(name).read().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            if fields[3] == "0A":
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ",".join(str(p) for p in sorted(ports)) or "none"


def syscall(nr, *args):
    result = libc.syscall(nr, *[ctypes.c_long(a) for a in args])
    return "ok" if result >= 0 else errno.errorcode.get(ctypes.get_errno(), "?")


def status(field):
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"):
            return line.split(":", 1)[1].strip()
    return "?"


for spec in os.environ.get("PROBE_PORTS", "").split(","):
    label, _, port = spec.partition(":")
    if port:
        emit(f"connect-{label}", connect(int(port)))
emit("uid", os.getuid())
emit("capeff", status("CapEff"))
emit("seccomp", status("Seccomp"))
emit("nonewprivs", status("NoNewPrivs"))
emit("unshare-user", syscall(272, 0x10000000))  # x86_64 numbers: unshare(CLONE_NEWUSER)
emit("keyctl", syscall(250, 0, -3, 0, 0, 0))  # KEYCTL_GET_KEYRING_ID of the session keyring
emit("mount", syscall(165, 0, 0, 0, 0, 0))
emit("ptrace", syscall(101, 16, 1, 0, 0))  # PTRACE_ATTACH to pid 1
bind_port = 47123  # a constant: an env value would be redacted from the logs
if bind_port:
    try:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("0.0.0.0", bind_port))
        sock.listen()
        held.append(sock)
        emit("bind", "ok")
    except OSError as exc:
        emit("bind", type(exc).__name__)
emit("listening", listening())

if PHASE == "serve":
    pids = []
    try:
        for _ in range(2000):
            pid = os.fork()
            if pid == 0:
                time.sleep(60)
                os._exit(0)
            pids.append(pid)
    except OSError as exc:
        emit("fork-stopped-by", type(exc).__name__)
    emit("forks", len(pids))
    for pid in pids:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
    victim = os.environ.get("PROBE_VICTIM_HOST")
    if victim:
        router = os.environ["SLIPWAY_ROUTER_URL"]
        request = urllib.request.Request(router, headers={"Host": victim})
        try:
            emit("via-router", urllib.request.urlopen(request, timeout=5).read().decode()[:20])
        except OSError as exc:
            emit("via-router", type(exc).__name__)

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = b"hostile"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    class Server(http.server.ThreadingHTTPServer):
        def server_bind(self):
            self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            super().server_bind()

    Server(("0.0.0.0", int(os.environ["PORT"])), Handler).serve_forever()
