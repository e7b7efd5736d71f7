"""mypy checks here that every fake implements its port (Warehouse's `verifyClass`, done
statically): a missing method or a wrong signature is a type error, and
`tests/unit/test_architecture.py::test_fakes_implement_their_ports` fails."""

from __future__ import annotations

from tests.support.fakes import FakeRouter, FakeRuntime, FaultyStore, ImageShelf, ScriptedBuilder

from slipway.ports import Builder, Router, Runtime, Store


def implements(store: Store) -> tuple[Runtime, Router, Builder, Builder, Store]:
    return FakeRuntime(), FakeRouter(), ImageShelf(), ScriptedBuilder([]), FaultyStore(store)
