"""The FastAPI application of the Deploy API, built around one `Platform`."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI

from slipway import __version__
from slipway.api import problems
from slipway.api.routers import apps, deployments, keys
from slipway.api.schemas import Health
from slipway.services.platform import Platform

BASE_PATH = "/api/v1"


def create_app(platform: Platform) -> FastAPI:
    app = FastAPI(
        title="Slipway Deploy API",
        version=__version__,
        openapi_url=f"{BASE_PATH}/openapi.json",
        docs_url=f"{BASE_PATH}/docs",
        redoc_url=None,
        swagger_ui_oauth2_redirect_url=f"{BASE_PATH}/docs/oauth2-redirect",
    )
    app.state.platform = platform
    api = APIRouter(prefix=BASE_PATH)
    for module in (apps, keys, deployments):
        api.include_router(module.router)
    app.include_router(api)

    @app.get("/healthz", response_model=Health, tags=["health"])
    async def healthz() -> Health:
        return Health()

    problems.install(app)
    return app
