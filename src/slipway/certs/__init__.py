"""Certificates for custom hostnames: an ACME authority (`authority.AcmeAuthority`), a DNS
check before ordering (`dns.ResolverDnsCheck`) and the files the router loads
(`files.CertificateDir`). The adapters of `slipway.ports`' certificate Protocols; only
`slipway.bootstrap` picks them."""
