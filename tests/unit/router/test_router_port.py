"""Both routers implement the `Router` port exactly: every method, its parameters, and
whether it is a coroutine (Warehouse's check of a service interface against each
implementation)."""

from __future__ import annotations

import inspect

import pytest

from slipway.ports import Router
from slipway.router import RouterServer
from slipway.router.remote import RemoteRouter

METHODS = [
    name
    for name, member in vars(Router).items()
    if not name.startswith("_") and inspect.isfunction(member)
]


def test_the_port_has_the_methods_the_services_call() -> None:
    assert set(METHODS) == {
        "set_routes",
        "remove_app",
        "in_flight",
        "on_activate",
        "refuse_held",
        "load",
        "settled",
        "metrics",
    }


@pytest.mark.parametrize("implementation", [RouterServer, RemoteRouter])
@pytest.mark.parametrize("name", METHODS)
def test_implements_the_router_port(implementation: type, name: str) -> None:
    wanted = getattr(Router, name)
    given = getattr(implementation, name)
    assert inspect.iscoroutinefunction(given) == inspect.iscoroutinefunction(wanted)
    assert list(inspect.signature(given).parameters) == list(inspect.signature(wanted).parameters)
