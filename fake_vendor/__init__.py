"""A stand-in for the third-party loyalty SaaS that the Vendor Mediator calls: its HTTP API,
business rules, idempotency keys and fault knobs, on 127.0.0.1. ``README.md`` documents the API;
``python -m fake_vendor`` serves it on its own."""

from fake_vendor.faults import FaultProfile
from fake_vendor.ledger import LedgerEntry, Redemption, Reversal
from fake_vendor.vendor import DEFAULT_API_KEY, FakeVendor, VendorStats

__all__ = [
    "DEFAULT_API_KEY",
    "FakeVendor",
    "FaultProfile",
    "LedgerEntry",
    "Redemption",
    "Reversal",
    "VendorStats",
]
