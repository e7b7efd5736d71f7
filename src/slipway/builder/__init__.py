"""Builds: git source, nixpacks-style planning, sandboxed install/build, OCI packaging.

`GitSource` implements `slipway.ports.Source`; `LocalBuilder` implements
`slipway.ports.Builder`; `make_plan` is what `slipway plan DIR` prints.
"""

from slipway.builder.local import LocalBuilder
from slipway.builder.plan import make_plan
from slipway.builder.source import GitSource

__all__ = ["GitSource", "LocalBuilder", "make_plan"]
