#!/usr/bin/env python3
"""The CDK app: the Order Processing and Vendor Mediator services.

``cdk synth`` runs this file with cdk.json's context. Tests and the local cloud call
``build_app()`` in-process with the same context (plus overrides), so they exercise exactly what
``cdk deploy`` ships.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
from pathlib import Path
from typing import Any

os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")
ROOT = Path(__file__).resolve().parent
# `lambdas/` is the Lambda asset root; the CDK code imports the event contract from it.
if str(ROOT / "lambdas") not in sys.path:
    sys.path.insert(0, str(ROOT / "lambdas"))
# jsii starts Node.js at the first aws_cdk import below: the project's pinned one, if installed.
importlib.import_module("cdk_constructs._node")

import aws_cdk as cdk  # noqa: E402
from cdk_nag import AwsSolutionsChecks, ServerlessChecks  # noqa: E402

from stacks.config import ConfigError, LoyaltyConfig  # noqa: E402
from stacks.observability import ObservabilityStack  # noqa: E402
from stacks.order_api import OrderApiStack  # noqa: E402
from stacks.order_processing import OrderProcessingStack  # noqa: E402
from stacks.vendor_mediator import VendorMediatorStack  # noqa: E402

ORDER_PROCESSING_STACK = "LoyaltyOrderProcessing"
VENDOR_MEDIATOR_STACK = "LoyaltyVendorMediator"
ORDER_API_STACK = "LoyaltyOrderApi"
OBSERVABILITY_STACK = "LoyaltyObservability"


def stack_name(prefix: str, stack_id: str) -> str:
    """The CloudFormation name of one copy's stack: its id with the prefix in front instead of
    ``Loyalty``, each part capitalised and the hyphens kept (``LoyaltyOrderProcessing``;
    ``Loyalty-DevOrderProcessing`` for ``loyalty-dev``), so two prefixes never name one stack."""
    head = "-".join(part.capitalize() for part in prefix.split("-"))
    return head + stack_id.removeprefix("Loyalty")


def cdk_json_context() -> dict[str, Any]:
    """The context in cdk.json (what the CLI passes to the app)."""
    context: dict[str, Any] = json.loads((ROOT / "cdk.json").read_text())["context"]
    return context


def build_app(context: dict[str, Any] | None = None, outdir: str | None = None) -> cdk.App:
    """The app. ``context`` is applied on top of cdk.json's when the app runs in-process."""
    if context is not None:
        context = {**cdk_json_context(), **context}
    # No stack traces in the assembly's metadata: the CLI printed each annotation's first frame,
    # a line of jsii's program.js that says nothing to the reader.
    app = cdk.App(context=context, outdir=outdir, stack_traces=False)
    config = LoyaltyConfig.from_context(app.node)
    env = cdk.Environment(account=config.account, region=config.region)
    order_processing = OrderProcessingStack(
        app,
        ORDER_PROCESSING_STACK,
        stack_name=stack_name(config.resource_prefix, ORDER_PROCESSING_STACK),
        config=config,
        env=env,
        description="Loyalty order processing: event-driven Step Functions, Step Finisher, "
        "Token Handler",
    )
    vendor_mediator = VendorMediatorStack(
        app,
        VENDOR_MEDIATOR_STACK,
        stack_name=stack_name(config.resource_prefix, VENDOR_MEDIATOR_STACK),
        config=config,
        env=env,
        description="Loyalty vendor mediator: the only caller of the loyalty SaaS",
    )
    order_api = OrderApiStack(
        app,
        ORDER_API_STACK,
        stack_name=stack_name(config.resource_prefix, ORDER_API_STACK),
        config=config,
        orders_table=order_processing.orders_table,
        actions_table=order_processing.actions_table,
        state_machine=order_processing.state_machine,
        env=env,
        description="Loyalty Order API: submit orders, read status, approve or reject",
    )
    ObservabilityStack(
        app,
        OBSERVABILITY_STACK,
        stack_name=stack_name(config.resource_prefix, OBSERVABILITY_STACK),
        config=config,
        order_processing=order_processing,
        vendor_mediator=vendor_mediator,
        order_api=order_api,
        env=env,
        description="Loyalty observability: event log and archive, dashboard, alarms",
    )
    cdk.Tags.of(app).add("project", "loyalty-orchestration")
    if config.disposable:
        # A development deployment: nothing is retained, data included.
        cdk.RemovalPolicies.of(app).destroy()
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app), ServerlessChecks(app))
    return app


def _synth_from_the_cli() -> None:
    try:
        app = build_app()
        app.synth()
    except ConfigError as err:  # a bad cdk.json or -c value: one line, not a traceback
        sys.exit(f"error: {err}")
    # aws-cdk-lib writes the code of every validation error it constructs to $CDK_ERROR_FILE,
    # even one it catches itself: its task-token check parses each JSONPath of a waiting task
    # with a parser that stops at `_` (seed 000's field names have them), fails, and falls back
    # to the whole path. The CLI reads the file only when the app fails; after a successful
    # synth it is a false alarm (cdk.out/error.txt: InvalidJsonPathExpression).
    if error_file := os.environ.get("CDK_ERROR_FILE"):
        Path(error_file).unlink(missing_ok=True)
    config = LoyaltyConfig.from_context(app.node)
    if config.account is None or config.region is None:
        print(
            "note: environment-agnostic synth (no account or region from the CLI's credentials "
            "or loyalty:account / loyalty:region): the templates deploy wherever the deploying "
            "credentials point",
            file=sys.stderr,
        )


if __name__ == "__main__":
    _synth_from_the_cli()
