"""A route pushed again keeps its place in the weighted sequence.

The reconciler pushes an app's routes whenever it passes over the app (a replica became ready,
another process asked, the owner resynced). A split is exact over every window of
sum(weights) requests only if those pushes do not restart the sequence: an identical push, or
one that only changes a revision's backends, continues where the old table was.
"""

from __future__ import annotations

from collections import Counter

from hypothesis import given
from hypothesis import strategies as st

from slipway.domain.routes import Backend, Route, Target
from slipway.router import RouterServer

HOST = "api.acme.localhost"


def _route(backends_v1: int = 1, canary: int = 10) -> Route:
    return Route(
        HOST,
        (
            Target("w/a/api-00002", canary, (Backend("10.0.0.2", 8080),)),
            Target(
                "w/a/api-00001",
                100 - canary,
                tuple(Backend("10.0.0.1", 8080 + i) for i in range(backends_v1)),
            ),
        ),
    )


def _picks(router: RouterServer, n: int) -> list[str]:
    route = router.resolve(HOST.encode())
    assert route is not None
    picked = []
    for _ in range(n):
        target = route.pick()
        assert target is not None
        picked.append(target.revision)
    return picked


@given(before=st.integers(min_value=0, max_value=100), backends=st.integers(1, 4))
def test_a_push_between_requests_keeps_the_split_exact(before: int, backends: int) -> None:
    router = RouterServer()
    router.set_routes("a", [_route()])
    picked = _picks(router, before)
    router.set_routes("a", [_route(backends_v1=backends)])  # same split, maybe more replicas
    picked += _picks(router, 100 - before)
    assert Counter(picked) == {"w/a/api-00002": 10, "w/a/api-00001": 90}


def test_a_new_split_starts_its_own_sequence() -> None:
    router = RouterServer()
    router.set_routes("a", [_route(canary=10)])
    _picks(router, 37)
    router.set_routes("a", [_route(canary=50)])
    assert Counter(_picks(router, 100)) == {"w/a/api-00002": 50, "w/a/api-00001": 50}
    assert Counter(_picks(router, 2)) == {"w/a/api-00002": 1, "w/a/api-00001": 1}


def test_the_backends_of_a_pushed_route_are_the_new_ones() -> None:
    router = RouterServer()
    router.set_routes("a", [_route(backends_v1=1)])
    router.set_routes("a", [_route(backends_v1=3)])
    route = router.resolve(HOST.encode())
    assert route is not None
    seen = set()
    for _ in range(100):
        target = route.pick()
        assert target is not None
        if target.revision == "w/a/api-00001":
            seen.add(target.backends[target.next_backend()])
    assert seen == {("10.0.0.1", 8080 + i, "") for i in range(3)}
