"""The Deploy API (HTTP): FastAPI routers over the services. `create_app(platform)` builds it."""

from slipway.api.app import create_app

__all__ = ["create_app"]
