"""Shared test doubles and helpers (fakes of the ports, checked against them by mypy)."""
