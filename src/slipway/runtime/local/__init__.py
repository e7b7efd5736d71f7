"""The local runtime: each replica is a sandboxed child process on a loopback port."""

from slipway.runtime.local.runtime import LocalRuntime

__all__ = ["LocalRuntime"]
