"""Held requests (router/activation.py): released in arrival order, bounded in number and
time, answered with the reason when their revision cannot start."""

from __future__ import annotations

from collections import Counter
from typing import Any, cast

from slipway.domain.routes import Backend, Route, Target
from slipway.router.activation import Activations
from slipway.router.exchange import Exchange
from slipway.router.limits import EdgeLimits
from slipway.router.metrics import RevisionStats
from slipway.router.table import CompiledRoute, CompiledTarget

KEY = "w/a/api-00001"


class Client:
    """What `Activations` calls on a connection, recorded."""

    def __init__(self, log: list[tuple[str, int, Any]], n: int) -> None:
        self.log, self.n, self.active = log, n, True

    def is_active(self, ex: Exchange) -> bool:
        return self.active

    def release_held(self, ex: Exchange, target: CompiledTarget) -> bool:
        if self.active:
            self.log.append(("released", self.n, target.backends))
        return self.active

    def refuse_held(self, ex: Exchange, answer: bytes) -> bool:
        if self.active:
            self.log.append(("refused", self.n, answer))
        return self.active


def _activations(**limits: Any) -> tuple[Activations, list[str], Counter[str]]:
    edge: Counter[str] = Counter()
    acts = Activations(EdgeLimits(**limits), edge)
    asked: list[str] = []
    acts.ask = asked.append
    return acts, asked, edge


def _hold(acts: Activations, log: list[tuple[str, int, Any]], n: int, now: float) -> Any:
    return acts.hold(cast(Any, Client(log, n)), Exchange(), KEY, now)


def _warm() -> CompiledRoute:
    route = Route("api.w.localhost", (Target(KEY, 100, (Backend("10.0.0.1", 8080),)),))
    return CompiledRoute("a", route, RevisionStats)


def test_held_requests_go_to_the_first_replica_in_arrival_order() -> None:
    acts, asked, edge = _activations()
    log: list[tuple[str, int, Any]] = []
    for n in range(5):
        assert _hold(acts, log, n, now=float(n) / 10) is None
    assert asked == [KEY]  # asked once, not once per request
    assert acts.held(KEY) == 5
    cold = CompiledRoute(
        "a", Route("api.w.localhost", (Target(KEY, 100, (), cold=True),)), RevisionStats
    )
    acts.release([cold])  # routes pushed while it starts: nothing moves
    assert log == [] and acts.held(KEY) == 5
    acts.release([_warm()])
    assert [(kind, n) for kind, n, _ in log] == [("released", n) for n in range(5)]
    assert log[0][2] == (("10.0.0.1", 8080, ""),)
    assert acts.held(KEY) == 0 and edge["activation_released"] == 5


def test_a_request_past_the_queue_bound_is_answered_at_once() -> None:
    acts, _, edge = _activations(max_held=3)
    log: list[tuple[str, int, Any]] = []
    for n in range(3):
        assert _hold(acts, log, n, now=0.0) is None
    answer = _hold(acts, log, 3, now=0.0)
    assert answer is not None and answer.startswith(b"HTTP/1.1 503 ")
    assert b"Retry-After: 1" in answer and edge["activation_queue_full"] == 1


def test_clients_that_left_free_their_place_in_the_queue() -> None:
    acts, _, _ = _activations(max_held=2)
    log: list[tuple[str, int, Any]] = []
    gone = Client(log, 0)
    assert acts.hold(cast(Any, gone), Exchange(), KEY, 0.0) is None
    assert _hold(acts, log, 1, now=0.0) is None
    gone.active = False
    assert _hold(acts, log, 2, now=0.0) is None  # the gone client's place
    acts.release([_warm()])
    assert [n for _, n, _ in log] == [1, 2]


def test_requests_held_too_long_get_503_and_the_rest_wait_on() -> None:
    acts, asked, edge = _activations(hold_seconds=30.0)
    log: list[tuple[str, int, Any]] = []
    _hold(acts, log, 0, now=0.0)
    _hold(acts, log, 1, now=10.0)
    acts.check(now=29.0)
    assert log == [] and asked == [KEY] * 3  # asked again while they wait
    acts.check(now=30.0)
    assert [(kind, n) for kind, n, _ in log] == [("refused", 0)]
    assert b"did not start within 30 seconds" in log[0][2] and b"Retry-After: 30" in log[0][2]
    assert acts.held(KEY) == 1 and edge["activation_timeout"] == 1


def test_a_failed_start_answers_held_and_new_requests_with_its_reason_for_a_while() -> None:
    acts, asked, edge = _activations()
    log: list[tuple[str, int, Any]] = []
    _hold(acts, log, 0, now=0.0)
    acts.refuse(KEY, "the app exited with status 1\nbefore becoming healthy", 5.0, now=1.0)
    assert log[0][:2] == ("refused", 0)
    assert b"The app could not start: the app exited with status 1 before" in log[0][2]
    assert b"Retry-After: 5" in log[0][2]
    answer = _hold(acts, log, 1, now=5.0)
    assert answer == log[0][2] and asked == [KEY]  # not asked again while refused
    assert _hold(acts, log, 2, now=6.5) is None  # then tried again
    assert asked == [KEY, KEY] and edge["activation_failed"] == 2
