"""Env values are hidden from text, whole, in one pass; short values are left alone."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from slipway.domain.redact import MIN_LENGTH, REDACTED, Redactor, redact, secret_values


def test_every_occurrence_of_every_value_is_hidden() -> None:
    env = {"DB": "s3cr3t-pass", "TOKEN": "abcd1234"}
    line = "connect s3cr3t-pass token=abcd1234 again s3cr3t-pass"
    assert redact(line, env) == f"connect {REDACTED} token={REDACTED} again {REDACTED}"


def test_short_values_are_not_redacted() -> None:
    env = {"DEBUG": "1", "MODE": "on", "X": "abc"}
    assert redact("DEBUG=1 MODE=on abc", env) == "DEBUG=1 MODE=on abc"
    assert secret_values({"A": "x" * MIN_LENGTH}) == ("x" * MIN_LENGTH,)


def test_a_value_containing_another_is_hidden_whole() -> None:
    env = {"SHORT": "pass", "LONG": "password-42"}
    assert redact("password-42 and pass", env) == f"{REDACTED} and {REDACTED}"


def test_the_marker_is_not_rescanned() -> None:
    assert redact("dact here", {"A": "dact"}) == f"{REDACTED} here"


def test_regex_metacharacters_are_literal() -> None:
    env = {"A": "a.b*c(d)"}
    assert redact("a.b*c(d) axbbc(d)", env) == f"{REDACTED} axbbc(d)"


def test_no_secrets_is_the_identity() -> None:
    redactor = Redactor()
    assert not redactor
    assert redactor("anything") == "anything"


def test_for_env_combines_several_envs() -> None:
    redactor = Redactor.for_env({"A": "first-secret"}, {"B": "second-secret"})
    assert redactor("first-secret second-secret") == f"{REDACTED} {REDACTED}"


@given(
    # A value sharing a character with the marker could reappear around it ("acte").
    secret=st.text(min_size=MIN_LENGTH, max_size=30).filter(lambda s: not set(s) & set(REDACTED)),
    before=st.text(max_size=20),
    after=st.text(max_size=20),
)
def test_no_secret_survives(secret: str, before: str, after: str) -> None:
    assert secret not in redact(before + secret + after, {"S": secret})
