"""Serve the fake vendor on its own:
``python -m fake_vendor --port 8099 --account member-1=100``."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import threading

from fake_vendor import DEFAULT_API_KEY, FakeVendor, FaultProfile


def _account(text: str) -> tuple[str, int]:
    name, _, balance = text.partition("=")
    if not name or not balance.isdigit():
        raise argparse.ArgumentTypeError(
            f"expected ACCOUNT=BALANCE, e.g. member-1=100, not {text!r}"
        )
    return name, int(balance)


def _faults(text: str) -> FaultProfile:
    try:
        return FaultProfile.load(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m fake_vendor",
        description="Serve the stand-in loyalty SaaS on 127.0.0.1 until interrupted.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--port", type=int, default=8099, help="port on 127.0.0.1 (0: any)")
    parser.add_argument("--api-key", default=DEFAULT_API_KEY, help="the x-api-key it accepts")
    parser.add_argument(
        "--faults",
        type=_faults,
        default=FaultProfile(),
        metavar="PRESET|FILE.json",
        help="healthy, flaky, throttled, outage, slow, or a JSON file of knobs",
    )
    parser.add_argument(
        "--account",
        type=_account,
        action="append",
        default=[],
        metavar="ACCOUNT=BALANCE",
        help="a member account (repeatable)",
    )
    parser.add_argument(
        "--voucher", action="append", default=[], help="a voucher code (repeatable)"
    )
    parser.add_argument("--reward", action="append", default=[], help="a reward code (repeatable)")
    args = parser.parse_args(argv)

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    vendor = FakeVendor(api_key=args.api_key, port=args.port, faults=args.faults)
    for account, balance in args.account:
        vendor.add_account(account, balance)
    for code in args.voucher:
        vendor.add_voucher(code)
    for code in args.reward:
        vendor.add_reward(code)
    with vendor:
        print(
            f"fake loyalty vendor on {vendor.base_url} (x-api-key: {vendor.api_key}); "
            "Ctrl-C stops it",
            flush=True,
        )
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()
        print(json.dumps(vendor.stats().to_dict(), indent=2))


if __name__ == "__main__":
    main()
