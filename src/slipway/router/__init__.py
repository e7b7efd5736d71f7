"""The router: the HTTP/1.1 data plane that sends each app's traffic to its revisions.

Built directly on asyncio Protocols and httptools (no framework, no HTTP client library):
`server` holds the route table and the listening socket, `client` the client side of each
connection, `upstream` the pooled backend connections, `exchange` the per-request state and
`wrr` the exact smooth weighted round-robin.
"""

from slipway.router.server import RouterServer, loop_factory

__all__ = ["RouterServer", "loop_factory"]
