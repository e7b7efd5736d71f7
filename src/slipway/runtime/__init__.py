"""Runtimes: where revision replicas run. `local` runs them as sandboxed child processes."""
