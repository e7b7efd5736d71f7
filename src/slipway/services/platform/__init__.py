"""The handle every use case receives (`Platform`: the ports, the settings) and the
in-process state it carries: this process's leases, the live log hub, revisions being
retired, condition times. The lowest layer of `services/`."""

from slipway.services.platform.handle import CertificateTools, Platform, Settings

__all__ = ["CertificateTools", "Platform", "Settings"]
