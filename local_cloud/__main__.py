"""``python -m local_cloud run``: the system end to end on the local cloud (what `make run` does).

Synthesises the app (or takes ``--assembly``, e.g. cdk.out), deploys it into moto, starts the fake
vendor and the Order API on 127.0.0.1, submits orders (through the API, or onto the bus as a till
would), approves or rejects the ones that wait for a person through the API, and prints one line
per order as it ends, then a summary and the vendor ledger check. Exits 1 if any order did not
reach a terminal state, ended differently than expected, or the vendor's effects differ from the
orders'.

Without ``--orders`` it runs the ten curated sample orders; with ``--orders N`` it generates N
orders from ``--mix`` and ``--seed``. ``--vendor-faults`` makes the fake vendor misbehave,
``--concurrency`` bounds the orders in flight, ``--json`` writes the full report, ``-c
loyalty:KEY=VALUE`` (repeatable, as ``cdk -c``) changes a deploy-time setting for the run (a
shorter vendor deadline, another quota; the report records each). With ``--serve`` the local
cloud stays up afterwards, for curl.
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from app import cdk_json_context
from fake_vendor import FakeVendor, FaultProfile
from local_cloud.api_client import ApiClient
from local_cloud.cloud import ACCOUNT, API_CALLERS, REGION, LocalCloud, OrderOutcome
from local_cloud.run.console import header, order_line, print_summary, print_timeline
from local_cloud.run.order_mix import (
    DEFAULT_MIX,
    generate_orders,
    parse_mix,
    seed_vendor_for,
)
from local_cloud.run.progress import OrderProgress
from local_cloud.run.run_report import report
from local_cloud.run.runner import run_orders
from local_cloud.run.sample_orders import SampleOrder, invalid_api_order, sample_orders, seed_vendor
from local_cloud.run.synth import synthesise
from local_cloud.runtime.assembly import AssemblyError, CloudAssembly
from stacks.config import ConfigError, config_of

DEFAULT_REPORT = Path(".local_cloud") / "report.json"
"""Where ``--json`` without a path writes the report: with the local cloud's other output, which
git ignores."""
SERVE_PORT = 8780
"""Where ``--serve`` (``make serve``) puts the Order API unless ``--port`` says otherwise: a fixed
port, so the README's ``export API=...`` works as written."""
MAX_LINES_PRINTED = 40
"""Larger runs print only the orders that ended unexpectedly (the JSON report has them all)."""


def _show_refused_body(api: ApiClient) -> None:
    refused = api.submit(invalid_api_order())
    problems = "; ".join(f"{e['field']}: {e['message']}" for e in refused.body.get("errors", []))
    print(f"POST /orders with an invalid body -> {refused.status} ({problems})\n", flush=True)


def _shown(path: Path) -> Path:
    """A path as a person would type it here: relative to the working directory when under it."""
    return path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path


def run(args: argparse.Namespace) -> int:
    started = time.monotonic()
    generated = args.orders is not None
    samples: list[SampleOrder] = args.samples
    if args.assembly is None:
        print("Local cloud: synthesising the app (unless unchanged since the last run) ...")
        if args.overrides:
            print(
                "Settings for this run: " + ", ".join(f"{k}={v}" for k, v in args.overrides.items())
            )
        assembly = synthesise(args.overrides)
    else:
        assembly = args.assembly
    print(f"Local cloud: deploying {_shown(assembly)} into moto ...", flush=True)
    with FakeVendor() as vendor, LocalCloud(assembly, vendor=vendor, api_port=args.port) as cloud:
        # The sample members always: the README's API demo uses them, even after --orders 0.
        seed_vendor(vendor)
        if generated:
            seed_vendor_for(vendor, samples)
        vendor.faults = args.vendor_faults
        api = cloud.api("client")
        print(
            f"Deployed {len(cloud.stacks)} stacks ({len(cloud.functions)} Lambda functions run "
            f"in-process) in {time.monotonic() - started:.1f}s\n"
            f"Order API:   {cloud.api_url}\nFake vendor: {vendor.base_url} "
            f"(faults: {args.vendor_faults_name})",
            flush=True,
        )
        if not samples:
            print("No orders (--orders 0).", flush=True)
            if args.serve:
                _serve(cloud)
            return 0
        print(
            f"Submitting {len(samples)} orders"
            + (f", at most {args.concurrency} at once" if args.concurrency else "")
            + " ...",
            flush=True,
        )
        if not generated:
            _show_refused_body(api)
        print_all = len(samples) <= MAX_LINES_PRINTED
        print(header() if print_all else "(only orders that end unexpectedly are listed)")

        def on_end(sample: SampleOrder, outcome: OrderOutcome) -> None:
            ok = (outcome.status, outcome.error) == (sample.expected_status, sample.expected_error)
            if print_all or not ok:
                print(order_line(outcome, sample, ok), flush=True)

        result = run_orders(
            cloud,
            api,
            samples,
            concurrency=args.concurrency,
            timeout=args.timeout,
            on_end=on_end,
            progress=OrderProgress(len(samples)),
        )
        for reference in result.pending:
            sample = next(s for s in samples if s.reference == reference)
            print(order_line(result.outcomes[reference], sample, False), flush=True)
        samples = _repair(cloud, vendor, cloud.api("reviewer"), samples, result.outcomes)
        cloud.wait_idle(timeout=10)
        full = report(
            cloud,
            vendor,
            samples,
            result.outcomes,
            elapsed_seconds=time.monotonic() - started,
            settings={
                "orders": len(samples),
                "mix": args.mix if generated else "samples",
                "seed": args.seed if generated else None,
                "concurrency": args.concurrency,
                "vendor_faults": args.vendor_faults_name,
                "context_overrides": args.overrides,
            },
        )
        print_summary(full, len(samples), time.monotonic() - started)
        print(f"Function logs: {_shown(cloud.workdir / 'logs')}/<function>.log")
        if args.json:
            Path(args.json).parent.mkdir(parents=True, exist_ok=True)
            Path(args.json).write_text(json.dumps(full, indent=2, default=str) + "\n")
            print(f"Report: {args.json}")
        if args.timeline:
            print_timeline(cloud, args.timeline)
        if args.serve:
            _serve(cloud)
    totals = full["totals"]
    if (
        totals["not_terminal"]
        or totals["unexpected"]
        or not totals["vendor_ledger"]["ok"]
        or not totals["truth"]["ok"]
        or totals["iam"]["refused"]
    ):
        print("FAILED: some orders did not end as expected", file=sys.stderr)
        return 1
    return 0


def _repair(
    cloud: LocalCloud,
    vendor: FakeVendor,
    api: ApiClient,
    samples: list[SampleOrder],
    outcomes: dict[str, OrderOutcome],
) -> list[SampleOrder]:
    """Put right what made the repairable orders fail, re-run each through the Order API, and
    expect it COMPLETED now (the report checks the re-run like any order)."""
    repaired = []
    for sample in samples:
        outcome = outcomes[sample.reference]
        if sample.repair is None or outcome.status != sample.expected_status:
            repaired.append(sample)
            continue
        sample.repair(vendor)
        answer = api.retry(sample.reference, comment="the cause was put right at the vendor")
        rerun = cloud.wait_for_order(sample.reference, timeout=60)
        outcomes[sample.reference] = rerun
        print(
            f"\nRe-run of {sample.reference} once its cause was put right: "
            f"POST .../actions/retry -> {answer.status} (attempt {answer.body.get('attempt')}) "
            f"-> {rerun.status}",
            flush=True,
        )
        repaired.append(replace(sample, expected_status="COMPLETED", expected_error=None))
    return repaired


def _serve(cloud: LocalCloud) -> None:
    # The methods use IAM authorization: curl signs with --aws-sigv4 and a local caller's key.
    keys = "\n".join(
        f"  export {caller.upper()}={c.access_key}:{c.secret_key}   # {API_CALLERS[caller]}"
        for caller, c in cloud.api_credentials.items()
    )
    print(
        f"\nServing the Order API at {cloud.api_url} (Ctrl-C to stop).\n"
        "In another terminal, paste these lines, then the README's API demo:\n"
        f"  export API={cloud.api_url} VENDOR={cloud.vendor.base_url}\n"
        f"{keys}\n"
        "Requests are signed (IAM authorization), for example:\n"
        f'  curl -s --aws-sigv4 "aws:amz:{REGION}:execute-api" --user "$CLIENT" '
        '"$API/orders/M101-S76-OP10-T65"',
        flush=True,
    )
    try:
        while True:
            time.sleep(1)
    except KeyboardInterrupt:
        print("stopped")


def main(argv: list[str] | None = None) -> int:
    description = (__doc__ or "").replace("``", "`")  # plain text, not reStructuredText
    parser = argparse.ArgumentParser(
        prog="python -m local_cloud", description=description, formatter_class=_HelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    run_parser = commands.add_parser(
        "run",
        help="run the sample orders end to end",
        description=description,
        formatter_class=_HelpFormatter,
    )
    run_parser.add_argument(
        "--timeout", type=float, default=120, help="seconds to wait for all orders"
    )
    run_parser.add_argument(
        "--serve", action="store_true", help="keep the local cloud up afterwards"
    )
    run_parser.add_argument(
        "--port",
        type=_port,
        default=None,
        help=f"the Order API's port on 127.0.0.1 (default: {SERVE_PORT} with --serve, "
        "else any free one)",
    )
    run_parser.add_argument(
        "--timeline",
        default=None,
        metavar="ORDER_REFERENCE",
        help="print this order's events from the event log afterwards ('' for none; "
        "default: seed 000's order in the sample run)",
    )
    run_parser.add_argument(
        "--orders",
        type=_at_least(0),
        metavar="N",
        help="generate N orders (default: the samples; 0 with --serve: none, just serve)",
    )
    run_parser.add_argument(
        "--mix",
        type=_mix,
        default=DEFAULT_MIX,
        help=f"kinds of generated order and their weights (default: {DEFAULT_MIX})",
    )
    run_parser.add_argument("--seed", type=int, default=1, help="seed of the generated orders")
    run_parser.add_argument(
        "--concurrency", type=_at_least(1), metavar="C", help="at most C orders unfinished at once"
    )
    run_parser.add_argument(
        "--vendor-faults",
        default="healthy",
        metavar="PROFILE",
        help="healthy, flaky, throttled, outage, slow, or a JSON file of fault knobs",
    )
    run_parser.add_argument(
        "--json",
        nargs="?",
        const=str(DEFAULT_REPORT),
        metavar="PATH",
        help=f"write the full report to PATH (alone: {DEFAULT_REPORT})",
    )
    run_parser.add_argument(
        "-c",
        "--context",
        action="append",
        default=[],
        metavar="loyalty:KEY=VALUE",
        help="a deploy-time setting for this run, as `cdk -c` takes it (repeatable; the "
        "README's configuration table lists them); the report records each",
    )
    run_parser.add_argument(
        "--assembly",
        type=Path,
        metavar="DIR",
        help="deploy this cloud assembly (e.g. cdk.out of `make synth`) instead of synthesising "
        "the app; it cannot be combined with -c",
    )
    args = parser.parse_args(argv)
    if args.assembly is not None and args.context:
        parser.error("-c changes the synthesis; with --assembly nothing is synthesised")
    if args.assembly is not None:
        try:
            CloudAssembly.read(args.assembly, account=ACCOUNT, region=REGION)
        except AssemblyError as err:
            parser.error(f"--assembly: {err}")
    try:
        args.overrides = _overrides(args.context)
    except ValueError as err:
        parser.error(str(err))
    try:
        args.vendor_faults_name = args.vendor_faults
        args.vendor_faults = FaultProfile.load(args.vendor_faults)
    except ValueError as err:
        parser.error(f"--vendor-faults: {err}")
    if args.timeline is None:
        args.timeline = "" if args.orders is not None else "M101-S76-OP10-T65"
    args.samples = (
        generate_orders(args.orders, args.mix, args.seed)
        if args.orders is not None
        else sample_orders()
    )
    if args.timeline:
        references = sorted(s.reference for s in args.samples)
        if args.timeline not in references:
            parser.error(
                f"--timeline: {args.timeline!r} is not an order of this run"
                + (f" (they are {references[0]} ... {references[-1]})" if references else "")
            )
    if args.port is None:
        args.port = SERVE_PORT if args.serve else 0
    if args.port and not _port_free(args.port):
        parser.error(
            f"port {args.port} is in use (another `make serve`?): stop it, or choose another "
            "with --port (make serve ARGS='--port N')"
        )
    return run(args)


LOCAL_SETTINGS = {
    "loyalty:account": "moto's account",
    "loyalty:region": "moto's region",
    "loyalty:vendorBaseUrl": "the fake vendor's address",
}
"""Settings a local run cannot take: the local cloud sets them to what it runs."""


def _overrides(pairs: list[str]) -> dict[str, str]:
    """``-c`` pairs as context, checked against the configuration they make with cdk.json's.
    Raises ValueError naming the pair when it is malformed, names no setting, or has a bad
    value."""
    overrides: dict[str, str] = {}
    for pair in pairs:
        key, equals, value = pair.partition("=")
        if not equals or not key.startswith("loyalty:") or not value:
            raise ValueError(f"-c {pair!r}: write it loyalty:KEY=VALUE, as cdk -c takes it")
        overrides[key] = value
    try:
        _, read = config_of({**cdk_json_context(), **overrides})
    except ConfigError as err:
        raise ValueError(f"-c: {err}") from None
    fixed = sorted(set(overrides) & set(LOCAL_SETTINGS))
    if fixed:
        raise ValueError(f"-c {fixed[0]}: the local cloud sets it ({LOCAL_SETTINGS[fixed[0]]})")
    unknown = sorted(set(overrides) - read)
    if unknown:
        raise ValueError(
            f"-c {unknown[0]}: not a setting of this app (the README's configuration table "
            "lists them)"
        )
    return overrides


class _HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """The description's paragraphs kept as written; an option's default after its help, unless
    the help already says it or there is none to say."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if "default" in text or action.default in (None, False, [], argparse.SUPPRESS):
            return text
        return f"{text} (default: %(default)s)"


def _port_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _at_least(low: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        value = int(text)
        if value < low:
            raise argparse.ArgumentTypeError(f"must be at least {low}, got {value}")
        return value

    parse.__name__ = "int"  # what argparse names in "invalid int value: 'x'"
    return parse


def _port(text: str) -> int:
    value = int(text)
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be a port number (1-65535), got {value}")
    return value


def _mix(text: str) -> str:
    try:
        parse_mix(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None
    return text


if __name__ == "__main__":
    sys.exit(main())
