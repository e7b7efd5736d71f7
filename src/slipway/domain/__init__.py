"""Pure types and rules of Slipway. This package imports nothing else of Slipway.

Everything here is data (entities, value objects) or a pure function over data
(validation, naming, state transitions). Errors raised here are the domain's own
(`slipway.domain.errors`); the API turns them into RFC 9457 problems.
"""
