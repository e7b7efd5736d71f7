"""Schemathesis against the app's own OpenAPI document: no 5xx, and every answer conforms to
the document (status, media type, body schema), over every operation and over stateful
sequences built from the document's links. The API runs in this process (uvicorn on
loopback, `live_server`), with the rate limit off; every request carries a valid key and
targets that key's workspace, so generated data reaches the handlers instead of stopping
at authentication.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
)
from tests.conftest import GitRepo
from tests.security.live_server import LiveApi
from tests.security.tenants import Tenant

CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance]
SETTINGS = settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Tenant]]:
    tmp = tmp_path_factory.mktemp("schemathesis")
    repo = GitRepo(tmp / "repo")
    repo.commit({"app.py": "print('hi')\n"}, "feat: first")
    server = LiveApi(tmp, repo.url)
    base, tenant = server.start()
    yield base, tenant
    server.stop()


@pytest.fixture(scope="module")
def api_schema(live: tuple[str, Tenant]) -> Any:
    base, _ = live
    return schemathesis.openapi.from_url(f"{base}/api/v1/openapi.json")


schema = schemathesis.pytest.from_fixture("api_schema")


def _pin(case: Any, tenant: Tenant) -> dict[str, str]:
    if case.path_parameters and "wsId" in case.path_parameters:
        case.path_parameters["wsId"] = tenant.ws_id
    return tenant.headers


@schema.parametrize()
@SETTINGS
def test_every_operation_conforms(case: Any, live: tuple[str, Tenant]) -> None:
    base, tenant = live
    headers = _pin(case, tenant)
    case.call_and_validate(base_url=base, headers=headers, checks=CHECKS)


def test_stateful_sequences_conform(api_schema: Any, live: tuple[str, Tenant]) -> None:
    base, tenant = live

    class Workflow(api_schema.as_state_machine()):  # type: ignore[misc]
        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            return {"base_url": base, "headers": _pin(case, tenant)}

        def validate_response(self, response: Any, case: Any, **kwargs: Any) -> None:
            case.validate_response(response, checks=CHECKS)

    Workflow.run(
        settings=settings(
            max_examples=15,
            stateful_step_count=6,
            deadline=None,
            # The server keeps its state between examples, so a replayed sequence cannot
            # draw the same way: report the first failure as found, without shrinking.
            phases=[Phase.generate],
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
    )


def test_the_document_holds_no_secret(api_schema: Any, live: tuple[str, Tenant]) -> None:
    _, tenant = live
    text = json.dumps(api_schema.raw_schema)
    assert tenant.key not in text and "s3cr3t-value" not in text
    assert "dor_sk_" + "a" * 4 not in text
