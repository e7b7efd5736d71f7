"""The client side of the proxy: one `ClientConnection` per accepted socket.

Requests are parsed once by `httptools.HttpRequestParser`; when the headers are complete the
route is looked up, a target picked and an upstream connection requested, while the body keeps
streaming in. One exchange is proxied at a time; pipelined requests queue up (with reading
paused) and go next.

Every exchange that picked a target is counted in its revision's `RevisionStats` from the
moment its head is parsed until `_forget`, which every ending path goes through (response
done, our own error answer, upstream lost, client gone), so `in_flight` stays exact and each
request is measured once. Nothing on this path logs or looks anything up by name.

The edge is strict (issue 11; `limits.py` has the numbers):
- **Upgrades** are forwarded as ordinary requests. The client's bytes after the request head
  are held, unread by anyone, until the replica answers `101`: only then does the connection
  become a tunnel. Any other answer ends the exchange as HTTP and neither connection is used
  again, so no client byte can reach a pooled upstream connection out of step.
- **Heads**: exactly one valid `Host` (RFC 9110 authority: a name or an IP literal, an
  optional port, no userinfo), checked when it is not in the route cache (which only ever
  holds hosts that passed); absolute-form targets route by their authority. A head over the
  size or header limit is 431; `CONNECT` is 405; anything the parser refuses (`Content-Length`
  with `Transfer-Encoding`, bad chunk sizes, obs-fold, garbage after a request) is 400, given
  after the answers owed to the requests before it, and the connection closes.
- **Unknown hosts and other refusals** are answered as soon as the head is read, `Upgrade`
  and `Expect: 100-continue` included, and close the connection when a body may follow.
- **Deadlines**: a head must be complete `head_seconds` after the connection opened or its
  first byte came (408), an idle kept-alive connection closes after `idle_seconds`, and a
  replica must start answering `response_head_seconds` after the request ended (504); the
  server's sweep calls `check` once a second, and deadlines are set from its clock (a second
  coarse), so the hot path reads an attribute instead of the time.
"""

from __future__ import annotations

import asyncio
import re
from collections import deque
from time import perf_counter
from typing import TYPE_CHECKING, cast

import httptools

from slipway.router.exchange import (
    BAD_GATEWAY,
    BAD_REQUEST,
    CHALLENGE_PREFIX,
    GATEWAY_TIMEOUT,
    HEAD_TOO_LARGE,
    METHOD_NOT_ALLOWED,
    NOT_FOUND,
    PENDING_LIMIT,
    REQUEST_TIMEOUT,
    UNAVAILABLE,
    Exchange,
    build_head,
    challenge_answer,
    closing,
    redirect,
)
from slipway.router.table import normalize_host

if TYPE_CHECKING:
    from slipway.router.server import RouterServer
    from slipway.router.table import CompiledRoute, CompiledTarget

_LAST_CHUNK = b"0\r\n\r\n"
_LABEL = rb"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?"
_AUTHORITY = re.compile(
    rb"(?:" + _LABEL + rb"(?:\." + _LABEL + rb")*\.?|\[[0-9A-Fa-f:.]{2,45}\])(?::[0-9]{1,5})?"
)
_ABSOLUTE = re.compile(rb"https?://([^/?#]*)([^#]*)", re.IGNORECASE)


class _Refused(Exception):
    """Raised from a parser callback: answer `response` and close."""

    def __init__(self, response: bytes, event: str) -> None:
        super().__init__(event)
        self.response = response
        self.event = event


def valid_host(value: bytes) -> bool:
    return _AUTHORITY.fullmatch(value) is not None


class ClientConnection(asyncio.Protocol):
    def __init__(self, server: RouterServer, *, tls: bool = False) -> None:
        self.server = server
        self.tls = tls  # came in over HTTPS (the transport decrypts)
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.write_paused = False  # our write buffer is full: upstreams must not read
        self.deadline = 0.0  # loop time by which the client must act (0: none now)
        self._deadline_event = ""
        self._idle = False  # the deadline is the idle one (no byte of a next request yet)
        self._parser = httptools.HttpRequestParser(self)
        self.peer = b""  # the client's address
        self.trusted = False  # a proxy of the operator's: its X-Forwarded-For is kept
        self._url = b""
        self._headers: list[tuple[bytes, bytes]] = []
        self._building: Exchange | None = None
        self._active: Exchange | None = None
        self._queue: deque[Exchange] = deque()
        self._tunnel: Exchange | None = None
        self._upgrading: Exchange | None = None  # waits for the replica's 101
        self._held = b""  # client bytes after an upgrade request's head
        self._owed: bytes | None = None  # a refusal to give once the exchanges before it end
        self._in_head = False
        self._head_bytes = 0
        self._pauses: set[str] = set()

    # ------------------------------------------------------------------ asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is no subclass
        peer = transport.get_extra_info("peername")
        self.peer = str(peer[0]).encode() if peer else b"unknown"
        self.trusted = self.peer in self.server.trusted
        if not self.server.admit(self):
            return
        self._await_head()

    def data_received(self, data: bytes) -> None:
        tunnel = self._tunnel
        if tunnel is not None:
            self._forward(tunnel, data)
            return
        if self._upgrading is not None or self._owed is not None:
            self._held += data  # nobody reads these until a 101 (reading is paused)
            return
        if self._idle:
            self._await_head()
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade as upgrade:
            self._upgrade(data[upgrade.args[0] :])
            return
        except _Refused as refused:
            self._refuse(refused.response, refused.event)
            return
        except httptools.HttpParserError as exc:
            cause = exc.__context__
            if isinstance(cause, _Refused):
                self._refuse(cause.response, cause.event)
            else:
                self._refuse(BAD_REQUEST, "bad_request")
            return
        if self._in_head:
            self._head_bytes += len(data)
            if self._head_bytes > self.server.limits.max_head_bytes:
                self._refuse(HEAD_TOO_LARGE, "head_too_large")

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.server.release(self)
        for ex in (self._active, *self._queue):
            if ex is None:
                continue
            if ex.upstream is not None:
                ex.upstream.abort()
                ex.upstream = None
            self._forget(ex)
        self._active = self._tunnel = self._upgrading = None
        self._queue.clear()

    def pause_writing(self) -> None:
        self.write_paused = True
        ex = self._active
        if ex is not None and ex.upstream is not None:
            ex.upstream.pause()

    def resume_writing(self) -> None:
        self.write_paused = False
        ex = self._active
        if ex is not None and ex.upstream is not None:
            ex.upstream.resume()

    # ------------------------------------------------------------------ parser callbacks

    def on_message_begin(self) -> None:
        self._in_head = True

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name, value))  # bounded by the head's size (data_received)

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._head_bytes = 0
        self.deadline = 0.0
        parser = self._parser
        method = parser.get_method()
        url, headers = self._url, self._headers
        self._url, self._headers = b"", []
        if len(headers) > self.server.limits.max_headers:
            raise _Refused(HEAD_TOO_LARGE, "head_too_large")
        if method == b"CONNECT":
            raise _Refused(METHOD_NOT_ALLOWED, "bad_request")
        authority = None
        if url[:1] != b"/":
            absolute = _ABSOLUTE.fullmatch(url)
            if absolute is not None:  # absolute-form: route by its authority
                authority, url = absolute.group(1), absolute.group(2) or b"/"
        ex = Exchange()
        ex.http10 = parser.get_http_version() == "1.0"
        host = build_head(ex, method, url, headers, self.peer, self.trusted, tls=self.tls)
        if ex.hosts > 1 or (ex.hosts == 0 and authority is None and not ex.http10):
            raise _Refused(BAD_REQUEST, "bad_request")
        if authority is not None:
            host = authority
        server = self.server
        route = server.hosts.get(host)
        if route is None:
            if host is not None and not valid_host(host):
                raise _Refused(BAD_REQUEST, "bad_request")
            route = server.resolve(host)
        if route is None:
            ex.error = NOT_FOUND
        elif (
            route.plain_http_rules
            and not self.tls
            and (answer := self._plain_http_answer(route, url, host))
        ):
            ex.error = answer
        else:
            target = route.pick()
            if target is None:
                ex.error = UNAVAILABLE
            else:
                ex.target = target
                ex.backend_index = target.next_backend()
                ex.started = perf_counter()
                target.stats.begin()
        self._building = ex
        if self._active is None:
            self._activate(ex)
        else:
            self._queue.append(ex)
            self.pause_reading("pipeline")

    def on_body(self, body: bytes) -> None:
        ex = self._building
        if ex is None or ex.error is not None:
            return
        if ex.chunked:
            self._forward(ex, b"%x\r\n%b\r\n" % (len(body), body))
        else:
            self._forward(ex, body)

    def on_message_complete(self) -> None:
        ex = self._building
        if ex is None:
            return
        self._building = None
        ex.keep_alive = self._parser.should_keep_alive() and not ex.upgrade
        if ex.chunked and ex.error is None:
            self._forward(ex, _LAST_CHUNK)
        ex.complete = True
        if ex.upstream is not None:
            ex.deadline = self.server.clock + self.server.response_head_seconds
        if ex.error is not None and ex is self._active:
            self._give(ex, ex.error)

    def _plain_http_answer(self, route: CompiledRoute, url: bytes, host: bytes | None) -> bytes:
        """What plain HTTP gets without reaching the app: an ACME HTTP-01 answer, or the
        redirect to HTTPS of a host that has a certificate (b"": go on to the app)."""
        server = self.server
        if route.challenges and url.startswith(CHALLENGE_PREFIX):
            server.edge["acme_challenge"] += 1
            token = url[len(CHALLENGE_PREFIX) :].partition(b"?")[0]
            return challenge_answer(route.challenges.get(token))
        if route.https_only and server.https_suffix is not None:
            server.edge["https_redirect"] += 1
            name = normalize_host(host).encode() if host else route.host.encode()
            return redirect(b"https://" + name + server.https_suffix + url)
        return b""

    # ------------------------------------------------------------------ proxying

    def write(self, data: bytes) -> None:
        if self.transport is not None and not self.closed:
            self.transport.write(data)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def pause_reading(self, reason: str) -> None:
        if not self._pauses and self.transport is not None:
            self.transport.pause_reading()
        self._pauses.add(reason)

    def resume_reading(self, reason: str) -> None:
        self._pauses.discard(reason)
        if not self._pauses and self.transport is not None and not self.closed:
            self.transport.resume_reading()

    def start_tunnel(self, ex: Exchange) -> bool:
        """The upstream answered 101 to `ex`: from now on bytes flow both ways untouched.
        False (the caller drops the connection) when `ex` asked for no upgrade."""
        if ex is not self._upgrading:
            return False
        self._upgrading = None
        self._tunnel = ex
        ex.keep_alive = False
        self.deadline = 0.0
        held, self._held = self._held, b""
        if held:
            self._forward(ex, held)
        self.resume_reading("upgrade")
        return True

    def response_done(self, ex: Exchange) -> None:
        self._forget(ex)
        self._active = None
        if ex is self._upgrading:  # answered, but not with 101: HTTP ends here
            self._upgrading = None
            self.close()
            return
        if not ex.keep_alive or not ex.complete:
            self.close()
            return
        if self._queue:
            nxt = self._queue.popleft()
            if not self._queue:
                self.resume_reading("pipeline")
            self._activate(nxt)
        elif self._owed is not None:
            self.write(self._owed)
            self.close()
        elif self._in_head:
            self._await_head()
        else:
            self._await_idle()

    def upstream_lost(self, ex: Exchange, *, error: bool = False) -> None:
        """The upstream connection closed before the response was complete; `error`: it
        counts as an upstream error (see `UpstreamConnection.connection_lost`)."""
        ex.upstream = None
        if self.closed or ex is not self._active:
            return
        target = ex.target
        if error and target is not None:
            target.stats.upstream_errors += 1
        if self._tunnel is ex or ex.responded:
            # Tunnel over, or a close-delimited (or truncated) body: either way, end here.
            self._forget(ex)
            self.close()
            return
        if not ex.retried and not ex.has_body and target is not None:
            ex.retried = True  # e.g. a stale keep-alive connection: once more on a fresh one
            self.server.connect(self, ex, ex.backend_index, fresh=True)
            return
        self.connect_failed(ex)

    def connect_failed(self, ex: Exchange) -> None:
        ex.keep_alive = ex.keep_alive and ex.complete
        ex.status = 502
        self._give(ex, BAD_GATEWAY)

    def check(self, now: float) -> None:
        """The server's sweep: close what missed its deadline (see the module's docstring).
        `now` is a sweep behind the true time, as deadlines start from the last sweep: each
        fires between its time and two sweeps after it, never before."""
        if self.deadline and now >= self.deadline:
            self.server.edge[self._deadline_event] += 1
            if self._deadline_event == "head_timeout":
                self.write(REQUEST_TIMEOUT)
            self.close()
            return
        ex = self._active
        if ex is not None and ex.deadline and now >= ex.deadline and not ex.status:
            self.server.edge["response_timeout"] += 1
            if ex.target is not None:
                ex.target.stats.upstream_errors += 1
            if ex.upstream is not None:
                ex.upstream.abort()
                ex.upstream = None
            ex.status = 504
            ex.keep_alive = False
            self._give(ex, GATEWAY_TIMEOUT)

    # ------------------------------------------------------------------ internals

    def _activate(self, ex: Exchange) -> None:
        self._active = ex
        if ex.error is not None:
            if ex.complete:
                self._give(ex, ex.error)
            else:  # a body may follow (Expect: 100-continue): answer now, read no more
                ex.keep_alive = False
                self._give(ex, closing(ex.error))
            return
        if ex.upgrade:
            self._upgrading = ex
        target = ex.target
        if target is not None and not target.backends:  # a cold revision: wait for it
            answer = self.server.activations.hold(self, ex, target.revision, self.server.clock)
            if answer is not None:
                self._answer_held(ex, answer)
            return  # still read: a client that leaves is noticed, its body is bounded
        self.server.connect(self, ex, ex.backend_index, fresh=False)

    def release_held(self, ex: Exchange, target: CompiledTarget) -> bool:
        """A held exchange's revision has replicas now: on to one of them. False when the
        exchange is no longer waiting (its client went away)."""
        if self.closed or ex is not self._active:
            return False
        ex.target = target  # the same revision (and stats), with backends
        ex.backend_index = target.next_backend()
        self.server.connect(self, ex, ex.backend_index, fresh=False)
        return True

    def refuse_held(self, ex: Exchange, answer: bytes) -> bool:
        """A held exchange's revision did not start in time, or could not: answer it."""
        if self.closed or ex is not self._active:
            return False
        self._answer_held(ex, answer)
        return True

    def _answer_held(self, ex: Exchange, answer: bytes) -> None:
        ex.status = 503
        if not ex.complete:  # a body may still come: answer, and read no more
            ex.keep_alive = False
            answer = closing(answer)
        self._give(ex, answer)

    def _upgrade(self, rest: bytes) -> None:
        """The parser stopped after an upgrade request's head: hold what follows until the
        replica answers (a 101 makes it the tunnel's first bytes)."""
        self._held = rest
        self.pause_reading("upgrade")
        if self._upgrading is None and self._active is None and not self._queue:
            self.close()  # answered already (an unknown host, say): nothing to upgrade

    def _refuse(self, response: bytes, event: str) -> None:
        """Answer `response` after the exchanges before it, then close; read no more. A
        request cut short (a bad body) is abandoned: its replica connection is dropped."""
        self.server.edge[event] += 1
        self._in_head = False
        self.deadline = 0.0
        self.pause_reading("refused")
        broken, self._building = self._building, None
        if broken is not None and broken is self._active:
            if broken.upstream is not None:
                broken.upstream.abort()
                broken.upstream = None
            if not broken.responded:
                broken.status = 400
                self.write(response)
            self._forget(broken)
            self._active = None
            self.close()
            return
        if broken is not None:
            self._queue.remove(broken)
            self._forget(broken)
        if self._active is None and not self._queue:
            self.write(response)
            self.close()
        else:
            self._owed = response

    def _await_head(self) -> None:
        server = self.server
        self.deadline = server.clock + server.limits.head_seconds
        self._deadline_event = "head_timeout"
        self._idle = False

    def _await_idle(self) -> None:
        server = self.server
        self.deadline = server.clock + server.limits.idle_seconds
        self._deadline_event = "idle_timeout"
        self._idle = True

    def _forward(self, ex: Exchange, data: bytes) -> None:
        upstream = ex.upstream
        if upstream is not None:
            upstream.send(data)
        else:
            if ex.pending is None:
                ex.pending = [data]
            else:
                ex.pending.append(data)
            ex.pending_bytes += len(data)
            if ex.pending_bytes > PENDING_LIMIT:
                self.pause_reading("pending")  # `UpstreamConnection.attach` resumes

    def _give(self, ex: Exchange, response: bytes) -> None:
        """Answer the active exchange ourselves (a canned response, no Keep-Alive header)."""
        ex.pending = None
        if ex.pending_bytes:
            ex.pending_bytes = 0
            self.resume_reading("pending")
        if ex.http10:
            ex.keep_alive = False
        self.write(response)
        self.response_done(ex)

    def _forget(self, ex: Exchange) -> None:
        """The one place an exchange with a target ends: in-flight count and metrics."""
        target = ex.target
        if target is not None:
            ex.target = None
            target.stats.finish(ex.status, perf_counter() - ex.started)

    def is_active(self, ex: Exchange) -> bool:
        return ex is self._active
