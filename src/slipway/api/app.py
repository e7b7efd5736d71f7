"""The FastAPI application of the Deploy API, built around one `Platform`."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI

from slipway import __version__
from slipway.api import openapi, problems
from slipway.api.idempotency import Idempotency
from slipway.api.limits import ApiLimits, BodyLimit
from slipway.api.ratelimit import RateLimit, TokenBuckets
from slipway.api.routers import (
    applogs,
    apps,
    deployments,
    domains,
    keys,
    logstream,
    metrics,
    rollbacks,
    scaling,
    traffic,
)
from slipway.api.schemas import Health
from slipway.ports import RuntimeLogs
from slipway.services.platform import Platform
from slipway.services.resources.platformstats import DeploymentStats

BASE_PATH = "/api/v1"


def create_app(
    platform: Platform,
    *,
    limits: ApiLimits | None = None,
    app_logs: RuntimeLogs | None = None,
    metrics_token: str | None = None,
) -> FastAPI:
    """The API; `limits` default to `ApiLimits()` (the rate limit is on, and generous);
    `app_logs` is where replica output is kept (none: app logs are empty); `/metrics` needs
    `metrics_token` when one is given, else a loopback client."""
    limits = limits or ApiLimits()
    app = FastAPI(
        title="Slipway Deploy API",
        version=__version__,
        openapi_url=f"{BASE_PATH}/openapi.json",
        docs_url=f"{BASE_PATH}/docs",
        redoc_url=None,
        swagger_ui_oauth2_redirect_url=f"{BASE_PATH}/docs/oauth2-redirect",
    )
    app.state.platform = platform
    app.state.app_logs = app_logs
    app.state.metrics_token = metrics_token
    app.state.deployment_stats = DeploymentStats(platform)
    api = APIRouter(prefix=BASE_PATH)
    routers = (apps, keys, deployments, logstream, traffic, scaling, rollbacks, applogs, domains)
    for module in routers:
        api.include_router(module.router)
    app.include_router(api)
    app.include_router(metrics.router)

    @app.get("/healthz", response_model=Health, tags=["health"])
    async def healthz() -> Health:
        return Health()

    # Added innermost first; a request meets CatchAll, RateLimit, BodyLimit, Idempotency.
    app.add_middleware(Idempotency, platform=platform, max_body_bytes=limits.max_body_bytes)
    app.add_middleware(
        BodyLimit, max_bytes=limits.max_body_bytes, platform=platform, seconds=limits.body_seconds
    )
    if limits.rate_burst > 0:
        buckets = TokenBuckets(rate=limits.rate_per_second, burst=limits.rate_burst)
        app.add_middleware(RateLimit, buckets=buckets, prefix=BASE_PATH)
    problems.install(app)
    openapi.install(app, BASE_PATH)
    return app
