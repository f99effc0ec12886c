"""Vendor Mediator: the only caller of the third-party loyalty SaaS."""
