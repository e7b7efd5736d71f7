"""The `slipway` command line: the platform (`up`), its bootstrap (`workspace`), and `plan`."""
