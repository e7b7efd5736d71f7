"""ResolverDnsCheck against a real DNS server (pebble-challtestsrv's), told what to answer:
each way a hostname can point somewhere gets its own sentence, and a silent resolver is
reported within the check's few seconds."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.support.pebble import Pebble, free_port

from slipway.certs.dns import ResolverDnsCheck

TARGET = "my-api.ws.example.net"


@pytest.fixture
def pebble(tmp_path: Path) -> Iterator[Pebble]:
    with Pebble(tmp_path, http_port=free_port()) as pebble:
        yield pebble
        print(pebble.logs())  # shown with a failing test's teardown output


@pytest.fixture
def check(pebble: Pebble) -> ResolverDnsCheck:
    return ResolverDnsCheck([pebble.dns_address])


async def test_a_cname_to_a_target_passes(pebble: Pebble, check: ResolverDnsCheck) -> None:
    pebble.set_cname("api.example.com", "My-API.ws.example.net.")  # case and dot do not matter

    assert (
        await check.points_here(
            "api.example.com", cname_targets=["other.example.net", TARGET], addresses=[]
        )
        is None
    )


async def test_a_cname_elsewhere_is_explained(pebble: Pebble, check: ResolverDnsCheck) -> None:
    pebble.set_cname("api.example.com", "elsewhere.example.org")
    pebble.add_a("elsewhere.example.org", "203.0.113.9")

    reason = await check.points_here(
        "api.example.com", cname_targets=[TARGET], addresses=["127.0.0.1"]
    )

    assert reason == f"api.example.com is a CNAME to elsewhere.example.org, not to {TARGET}"


async def test_an_a_record_among_the_addresses_passes(
    pebble: Pebble, check: ResolverDnsCheck
) -> None:
    pebble.add_a("api.example.com", "127.0.0.1")

    assert (
        await check.points_here(
            "api.example.com", cname_targets=[TARGET], addresses=["10.0.0.1", "127.0.0.1"]
        )
        is None
    )


async def test_an_a_record_elsewhere_names_both_addresses(
    pebble: Pebble, check: ResolverDnsCheck
) -> None:
    pebble.add_a("api.example.com", "203.0.113.9")

    reason = await check.points_here(
        "api.example.com", cname_targets=[TARGET], addresses=["127.0.0.1"]
    )

    assert reason == "api.example.com resolves to 203.0.113.9, not to this platform (127.0.0.1)"


async def test_without_addresses_an_a_record_proves_nothing(
    pebble: Pebble, check: ResolverDnsCheck
) -> None:
    pebble.add_a("api.example.com", "127.0.0.1")

    reason = await check.points_here("api.example.com", cname_targets=[TARGET], addresses=[])

    assert reason is not None
    assert "127.0.0.1" in reason
    assert "no fixed address" in reason
    assert f"create a CNAME record to {TARGET}" in reason


async def test_no_record_says_what_to_create(pebble: Pebble, check: ResolverDnsCheck) -> None:
    reason = await check.points_here(
        "api.example.com", cname_targets=[TARGET], addresses=["127.0.0.1"]
    )

    assert reason == (
        f"api.example.com has no A, AAAA or CNAME record yet: create a CNAME record to {TARGET}"
    )


async def test_a_resolver_that_does_not_answer_is_reported_quickly() -> None:
    check = ResolverDnsCheck([f"127.0.0.1:{free_port()}"])  # nothing listens there
    started = time.monotonic()

    reason = await check.points_here(
        "api.example.com", cname_targets=[TARGET], addresses=["127.0.0.1"]
    )

    assert reason is not None
    assert reason.startswith("the DNS resolver")
    assert "api.example.com" in reason
    assert time.monotonic() - started < 5
