"""Slipway: a self-hostable deploy platform (revisions, weighted traffic, rollbacks)."""

__version__ = "0.1.0"
