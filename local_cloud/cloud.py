"""`LocalCloud`: a cloud assembly of the app (``cdk.out``) deployed into moto, with the fake
vendor, ready to take orders. Used by ``python -m local_cloud run``, the end-to-end tests and the
benchmarks, which synthesise first (``local_cloud.run.synth``)."""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import random
import threading
import time
import uuid
import warnings
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError
from moto import mock_aws

from fake_vendor import FakeVendor
from local_cloud.api_client import ApiClient
from local_cloud.runtime import iam_enforcement, moto_patches, throttling
from local_cloud.runtime.accounting import InvocationLedger
from local_cloud.runtime.api_gateway import LocalApiServer, LocalRestApi
from local_cloud.runtime.assembly import CloudAssembly
from local_cloud.runtime.deployer import DeployedStack, Deployer, camel_case_aws_sdk
from local_cloud.runtime.event_router import EventRouter, execution_name
from local_cloud.runtime.iam_enforcement import Enforcer
from local_cloud.runtime.lambda_runtime import (
    AsyncInvoker,
    LocalFunction,
    install_stdout_router,
    install_thread_environ,
    isolate_powertools_metrics,
    running_function_key,
)
from local_cloud.runtime.moto_iam import MotoLookups
from local_cloud.runtime.sqs_pollers import SqsPollers
from local_cloud.runtime.throttling import BucketSpec, Throttler
from loyalty.contract import Env, OrderEvent

ROOT = Path(__file__).resolve().parent.parent
LAMBDAS_DIR = ROOT / "lambdas"
WORKDIR = ROOT / ".local_cloud"
"""Where a LocalCloud writes its assemblies and function logs unless told otherwise."""
ACCOUNT = "123456789012"  # moto's default account
REGION = "us-east-1"
API_CALLERS = ("client", "reviewer")
"""The local Order API's callers, each an IAM user (``local-<name>``) with an access key: a client
submits orders; a reviewer decides approvals (separation of duties: not on orders it submitted)."""
TERMINAL_EXECUTION_STATUSES = frozenset({"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"})
_TASK_ENDED = frozenset(
    {"TaskSucceeded", "TaskFailed", "TaskTimedOut", "TaskSubmitFailed", "TaskStartFailed"}
)
RECONCILIATION_QUEUE = "ReconciliationQueue"

# What a bootstrapped AWS account has and the templates expect.
_SSM_SEEDS = {"/cdk-bootstrap/hnb659fds/version": "30"}


def _public_parameter(path: str) -> str | None:
    """Public AWS parameters (moto reserves the /aws/ prefix): the Powertools layer ARN. The layer
    itself is not needed locally: Powertools comes from the project's virtualenv, pinned to the
    same version."""
    if path.startswith("/aws/service/powertools/"):
        return f"arn:aws:lambda:{REGION}:017000801446:layer:AWSLambdaPowertoolsPythonV3:local"
    return None


_QUIET_LOGGERS = ("moto.stepfunctions", "botocore", "boto3", "urllib3")


class InjectedCrashError(RuntimeError):
    """An injected crash (``LocalCloud.function_fault``)."""


@dataclass(frozen=True)
class OrderOutcome:
    order_reference: str
    order_type: str | None
    status: str
    """The order's status in the orders table, or the execution's when the order was never
    stored (``NOT_STARTED`` when no execution exists)."""
    execution_status: str
    error: str | None
    cause: str | None
    duration_seconds: float | None
    state_transitions: int
    items: dict[str, Any] = field(default_factory=dict)

    @property
    def terminal(self) -> bool:
        return self.execution_status in TERMINAL_EXECUTION_STATUSES


class LocalCloud:
    """The local cloud, as a context manager.

    ``assembly`` is the cloud assembly to deploy (``cdk.out`` of ``cdk synth``, or what
    ``local_cloud.run.synth.synthesise`` returns): environment-agnostic or bound to moto's
    account and region, and holding the Lambda code of ``lambdas/``. The one change made to it:
    ``VENDOR_BASE_URL`` points at the fake vendor.

    ``time_scale`` multiplies the durations the local cloud emulates for AWS: Lambda's waits
    before an asynchronous retry (one minute, then two), the maximum event age and the time a
    crashed SQS batch stays hidden (the queue's visibility timeout). 1.0 (the
    default) is AWS's timing; a test may pass 1/30 to play a minute in two seconds (and should
    scale the timeouts it sets in ``context``, such as heartbeats, the same way).

    ``throttling`` gives AWS API quotas to the local cloud (``local_cloud.runtime.throttling``;
    none by default): a token bucket per API named there. An empty mapping throttles nothing
    but counts the calls of those APIs (``throttler.calls``).
    """

    def __init__(
        self,
        assembly: Path,
        *,
        vendor: FakeVendor | None = None,
        workers: int = 8,
        time_scale: float = 1.0,
        workdir: Path | None = None,
        throttling: Mapping[str, BucketSpec] | None = None,
    ) -> None:
        if time_scale <= 0:
            raise ValueError(f"time_scale must be positive, not {time_scale}")
        self.vendor = vendor or FakeVendor()
        self._owns_vendor = vendor is None
        self.assembly = assembly
        self._workers = workers
        self.time_scale = time_scale
        self.workdir = workdir or WORKDIR
        self._mock = mock_aws(config={"stepfunctions": {"execute_state_machine": True}})
        self._router: EventRouter | None = None
        self._pollers: SqsPollers | None = None
        self._api_servers: list[LocalApiServer] = []
        self.api_credentials: dict[str, Credentials] = {}
        """Access keys of ``API_CALLERS``, by name (after ``start``)."""
        self.stacks: dict[str, DeployedStack] = {}
        self.functions: dict[str, LocalFunction] = {}
        self.invocations = InvocationLedger()
        """Lambda invocations and GB-seconds per order (bookkeeping for reports)."""
        self._saved_env: dict[str, str | None] = {}
        self._admin = boto3.session.Session(
            aws_access_key_id="local",
            aws_secret_access_key="local",
            aws_session_token="local",
            region_name=REGION,
        )
        self._clients_lock = threading.Lock()
        self.iam: Enforcer | None = None
        """The check of every call a function makes against its role (after ``start``); its
        ``denials`` are the calls IAM refused."""
        self._throttling = throttling
        self.throttler: Throttler | None = None
        """The API quotas in force, and what they counted and refused (with ``throttling``)."""

    # -- lifecycle ------------------------------------------------------------------------------

    def __enter__(self) -> LocalCloud:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> LocalCloud:
        # Default dimensions stay shared by every function in this one process: harmless noise.
        warnings.filterwarnings("ignore", message="Dimension .* has already been added")
        warnings.filterwarnings("ignore", message="No application metrics to publish")
        for name in _QUIET_LOGGERS:
            logging.getLogger(name).setLevel(logging.CRITICAL)
        install_stdout_router()
        install_thread_environ()
        isolate_powertools_metrics()
        moto_patches.apply()
        assembly = CloudAssembly.read(self.assembly, account=ACCOUNT, region=REGION)
        assembly.check_function_code(LAMBDAS_DIR)
        if self._owns_vendor:
            self.vendor.start()
        self._set_environment()
        self._mock.start()
        self._sqs = self.client("sqs")
        self._sfn = self.client("stepfunctions")
        self._events = self.client("events")  # clients are thread-safe; creating one is not cheap
        try:
            self._deploy(assembly.templates)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        for server in self._api_servers:
            server.stop()
        self._api_servers = []
        if self._pollers is not None:
            self._pollers.stop()
            self._pollers = None
        if self._router is not None:
            self._router.uninstall()
            self._router = None
        moto_patches.route_state_machine_lambda_invokes(None)
        if self.throttler is not None:
            throttling.uninstall(self.throttler)
        if self.iam is not None:
            iam_enforcement.uninstall(self.iam)
        self._mock.stop()
        for function in self.functions.values():
            function.log_sink.close()
        if self._owns_vendor:
            self.vendor.stop()
        for key, value in self._saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value

    def _set_environment(self) -> None:
        local = {
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            "AWS_ACCESS_KEY_ID": "local",
            "AWS_SECRET_ACCESS_KEY": "local",
            "AWS_SESSION_TOKEN": "local",
            "POWERTOOLS_TRACE_DISABLED": "true",  # no X-Ray daemon here
        }
        for key, value in local.items():
            self._saved_env[key] = os.environ.get(key)
            os.environ[key] = value

    def _deploy(self, templates: Mapping[str, dict[str, Any]]) -> None:
        ssm = self.client("ssm")
        for name, value in _SSM_SEEDS.items():
            ssm.put_parameter(Name=name, Value=value, Type="String")
        log_dir = self.workdir / "logs"
        log_dir.mkdir(parents=True, exist_ok=True)
        for stale in log_dir.glob("*.log"):
            stale.unlink()
        deployer = Deployer(
            clients=self.client,
            account=ACCOUNT,
            region=REGION,
            code_dir=LAMBDAS_DIR,
            log_dir=log_dir,
            transform_definition=camel_case_aws_sdk,
            public_parameter=_public_parameter,
            environment_overrides={Env.VENDOR_BASE_URL: self.vendor.base_url},
        )
        lookups = MotoLookups(account=ACCOUNT, region=REGION, client=self.client)
        self.iam = Enforcer(
            sessions=deployer.role_sessions,
            statements_of=lookups.statements_of,
            cloud=lookups,
            admin_put_events=lambda entries, _region: self._events.put_events(Entries=entries),
            running_key=running_function_key,
        )
        iam_enforcement.install(self.iam)
        for name, template in templates.items():
            self.stacks[name] = deployer.deploy(name, template)
        self.functions = deployer.functions
        for function in self.functions.values():
            self.invocations.attach(function)
        self._point_secrets_at_vendor()
        # One warm execution environment per function before the first event, as after a
        # deployment that was smoke-tested; more are created as concurrency needs them.
        for function in self.functions.values():
            function.warm()
        self._pollers = SqsPollers(
            mappings=deployer.event_source_mappings,
            client=self.client,
            region=REGION,
            time_scale=self.time_scale,
        )
        self._pollers.start()
        self._api_servers = [
            LocalApiServer(
                api=api, functions=self.functions, region=REGION, account_id=ACCOUNT
            ).start()
            for api in deployer.apis.values()
        ]
        self.api_credentials = self._create_api_callers(deployer.apis)
        self._router = EventRouter(
            functions=self.functions,
            invoker=AsyncInvoker(send_to_queue=self._send_to_queue, time_scale=self.time_scale),
            start_execution=self._start_execution,
            send_to_queue=self._send_to_queue,
            workers=self._workers,
            time_scale=self.time_scale,
        )
        self._router.install()
        moto_patches.route_state_machine_lambda_invokes(self._invoke_for_state_machine)
        if self._throttling is not None:
            machines = self._sfn.list_state_machines()["stateMachines"]
            types = {m["stateMachineArn"]: m["type"] for m in machines}
            self.throttler = Throttler(self._throttling, machine_type=types.get)
            throttling.install(self.throttler)

    def _create_api_callers(self, apis: dict[str, LocalRestApi]) -> dict[str, Credentials]:
        """An IAM user with an access key per ``API_CALLERS`` entry, allowed to invoke the
        APIs: the principals that sign local Order API requests."""
        iam = self.client("iam")
        credentials = {}
        for caller in API_CALLERS:
            user = f"local-{caller}"
            iam.create_user(UserName=user)
            iam.put_user_policy(
                UserName=user,
                PolicyName="InvokeOrderApi",
                PolicyDocument=json.dumps(
                    {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Action": "execute-api:Invoke",
                                "Resource": [
                                    f"arn:aws:execute-api:{REGION}:{ACCOUNT}:{api.api_id}/*"
                                    for api in apis.values()
                                ],
                            }
                        ],
                    }
                ),
            )
            key = iam.create_access_key(UserName=user)["AccessKey"]
            credentials[caller] = Credentials(key["AccessKeyId"], key["SecretAccessKey"])
        return credentials

    def api(self, caller: str = "client", *, timeout: float = 10) -> ApiClient:
        """A client of the Order API that signs as ``caller`` (one of ``API_CALLERS``)."""
        return ApiClient(
            self.api_url, credentials=self.api_credentials[caller], region=REGION, timeout=timeout
        )

    def _invoke_for_state_machine(self, function_name: str, event: Any) -> Any:
        """A state machine's ``lambda:invoke`` task: a synchronous invocation by ARN or name
        (through ``function.invoke``, so the fault suite's crashes apply)."""
        for function in self.functions.values():
            if function_name in (function.arn, function.name):
                return function.invoke(event)
        raise KeyError(f"no function {function_name}")

    def _start_execution(self, state_machine_arn: str, payload: str) -> None:
        self._sfn.start_execution(
            stateMachineArn=state_machine_arn, name=execution_name(), input=payload
        )

    def _point_secrets_at_vendor(self) -> None:
        secrets = self.client("secretsmanager")
        for stack in self.stacks.values():
            for secret in stack.of_type("AWS::SecretsManager::Secret"):
                secrets.put_secret_value(SecretId=secret.ref, SecretString=self.vendor.api_key)

    def _send_to_queue(self, queue_arn: str, body: str) -> None:
        name = queue_arn.rsplit(":", 1)[-1]
        url = self._sqs.get_queue_url(QueueName=name)["QueueUrl"]
        self._sqs.send_message(QueueUrl=url, MessageBody=body)

    # -- clients and names ----------------------------------------------------------------------

    def client(self, service: str) -> Any:
        """A client of the local cloud's own (the account's administrator: never a function's
        role, whichever thread asks)."""
        with self._clients_lock:
            return self._admin.client(service, config=Config(retries={"max_attempts": 1}))

    def output(self, name: str) -> str:
        for stack in self.stacks.values():
            if name in stack.outputs:
                return stack.outputs[name]
        raise KeyError(f"no stack output {name}")

    @property
    def api_url(self) -> str:
        """The Order API on 127.0.0.1, e.g. ``http://127.0.0.1:40123/v1``."""
        (server,) = self._api_servers
        return server.url

    @property
    def state_machine_arn(self) -> str:
        return self.output("StateMachineArn")

    @property
    def orders_table(self) -> str:
        return self.output("OrdersTableName")

    def execution_arn(self, order_reference: str, attempt: int = 1) -> str:
        from loyalty.naming import execution_arn_for

        return execution_arn_for(self.state_machine_arn, order_reference, attempt)

    # -- driving it -----------------------------------------------------------------------------

    def put_events(self, *entries: dict[str, Any]) -> None:
        response = self._events.put_events(
            Entries=[
                {
                    "EventBusName": "default",
                    "Source": e["source"],
                    "DetailType": e["detail_type"],
                    "Detail": json.dumps(e["detail"]),
                }
                for e in entries
            ]
        )
        if response.get("FailedEntryCount"):
            raise RuntimeError(f"put_events failed: {response['Entries']}")

    def timeline(self, order_reference: str) -> list[TimelineEntry]:
        """Every event of one order, from the event log (the same log group and rule as on AWS:
        the LoyaltyObservability stack's), in the order the log received them. As on AWS, that
        is delivery order: a step's answer can land a few milliseconds before its request."""
        return self.timelines().get(order_reference, [])

    def timelines(self) -> dict[str, list[TimelineEntry]]:
        """Every order's timeline, from one read of the event log."""
        return {
            reference: [TimelineEntry.of(timestamp_ms, event) for timestamp_ms, event in events]
            for reference, events in self.events_by_order().items()
        }

    def events_by_order(self) -> dict[str, list[tuple[int, dict[str, Any]]]]:
        """Every event of the event log that names an order (``order_reference``, or
        ``data.loyalty_order_reference`` on vendor events), by order, oldest first, with the
        time the log received it."""
        from loyalty.contract import parse_event_summary

        found: dict[str, list[tuple[int, dict[str, Any]]]] = {}
        for timestamp_ms, message in self.event_log():
            # An event that carried a task token is logged as a summary line, without it.
            event = json.loads(message) if message.startswith("{") else parse_event_summary(message)
            if event is None:
                continue
            detail = event.get("detail", {})
            reference = detail.get("order_reference") or detail.get("data", {}).get(
                "loyalty_order_reference"
            )
            if reference:
                found.setdefault(reference, []).append((timestamp_ms, event))
        return {
            reference: sorted(events, key=lambda entry: entry[0])
            for reference, events in found.items()
        }

    def event_log(self, start_ms: int | None = None) -> list[tuple[int, str]]:
        """Every record of the event log (``timestamp``, raw ``message``: the event as JSON, or a
        one-line summary of an event that carried a task token), from ``start_ms`` on, all
        pages."""
        logs = self.client("logs")
        arguments: dict[str, Any] = {"logGroupName": self.output("EventLogGroupName")}
        if start_ms is not None:
            arguments["startTime"] = start_ms
        records: list[tuple[int, str]] = []
        while True:
            page = logs.filter_log_events(**arguments)
            records += [(record["timestamp"], record["message"]) for record in page["events"]]
            if not page.get("nextToken"):
                return records
            arguments["nextToken"] = page["nextToken"]

    def archived_events(self) -> list[dict[str, Any]]:
        """Every event the replay archive holds (read from moto's store: EventBridge's API has no
        call that lists them; a replay is the only way out on AWS)."""
        from moto.events.models import events_backends

        name = self.output("EventArchiveArn").rsplit("/", 1)[-1]
        return [dict(event) for event in events_backends[ACCOUNT][REGION].archives[name].events]

    def tap(self, pattern: dict[str, Any]) -> Tap:
        """Observe events matching ``pattern`` (a rule and an SQS queue added to moto for
        observation only; they are not part of the app)."""
        name = f"tap-{uuid.uuid4().hex[:12]}"
        url = self._sqs.create_queue(QueueName=name)["QueueUrl"]
        events = self.client("events")
        events.put_rule(Name=name, EventPattern=json.dumps(pattern))
        events.put_targets(
            Rule=name, Targets=[{"Id": "tap", "Arn": f"arn:aws:sqs:{REGION}:{ACCOUNT}:{name}"}]
        )
        return Tap(self._sqs, url)

    @functools.cached_property
    def intake_source(self) -> str:
        """The ``source`` a till puts ``order.received`` with, as the deployed rule that starts
        orders accepts it (it names this deployment's resource prefix)."""
        for rule in self._events.list_rules()["Rules"]:
            pattern = json.loads(rule.get("EventPattern") or "{}")
            if OrderEvent.RECEIVED.value in pattern.get("detail-type", []):
                return str(pattern["source"][0])
        raise LookupError(f"no deployed rule takes {OrderEvent.RECEIVED.value}")

    @functools.cached_property
    def points_rate(self) -> Decimal:
        """Points per currency unit, as the deployed functions are configured with it."""
        rates = {
            function.environment[Env.POINTS_PER_CURRENCY_UNIT]
            for function in self.functions.values()
            if Env.POINTS_PER_CURRENCY_UNIT in function.environment
        }
        if len(rates) != 1:
            raise LookupError(f"{Env.POINTS_PER_CURRENCY_UNIT}: deployed as {sorted(rates)}")
        return Decimal(rates.pop())

    def submit_order(self, order: dict[str, Any]) -> None:
        """What a client integration does: put ``order.received``."""
        self.put_events(
            {
                "source": self.intake_source,
                "detail_type": OrderEvent.RECEIVED.value,
                "detail": order,
            }
        )

    def wait_for_order(self, order_reference: str, timeout: float = 60) -> OrderOutcome:
        """Wait until the order's execution ends (or ``timeout``), then describe the outcome."""
        deadline = time.monotonic() + timeout
        while self._execution_status(order_reference) not in TERMINAL_EXECUTION_STATUSES:
            if time.monotonic() >= deadline:
                break
            time.sleep(0.05)  # polling is not free: it shares the CPU with the cloud it watches
        return self.order_outcome(order_reference)

    def execution_statuses(self, *, started_since: datetime | None = None) -> dict[str, str]:
        """Status of every order execution (or of those started since ``started_since``), by
        execution ARN, in one listing: cheaper than a ``describe_execution`` per order when many
        are running. The listing is newest first (as on AWS), so it stops at the first older
        execution: a batch's polls cost what the batch has, not what the cloud ran before."""
        statuses: dict[str, str] = {}
        paginator = self._sfn.get_paginator("list_executions")
        for page in paginator.paginate(stateMachineArn=self.state_machine_arn):
            for execution in page["executions"]:
                if started_since is not None and execution["startDate"] < started_since:
                    return statuses
                statuses[execution["executionArn"]] = execution["status"]
        return statuses

    def current_execution_arn(self, order_reference: str) -> str:
        """The execution that owns the order now (an operator's re-run, after one), or the first
        one's name while nothing is stored."""
        record = self.order_record(order_reference) or {}
        return str(record.get("execution_id") or self.execution_arn(order_reference))

    def _execution_status(self, order_reference: str) -> str:
        try:
            execution = self._sfn.describe_execution(
                executionArn=self.current_execution_arn(order_reference)
            )
        except ClientError as err:
            if err.response["Error"]["Code"] != "ExecutionDoesNotExist":
                raise
            return "NOT_STARTED"
        return str(execution["status"])

    def order_outcome(self, order_reference: str) -> OrderOutcome:
        sfn = self.client("stepfunctions")
        try:
            execution = sfn.describe_execution(
                executionArn=self.current_execution_arn(order_reference)
            )
        except ClientError as err:
            if err.response["Error"]["Code"] != "ExecutionDoesNotExist":
                raise
            execution = {"status": "NOT_STARTED"}
        item = self.order_item(order_reference) or {}
        duration = None
        if "stopDate" in execution:
            duration = (execution["stopDate"] - execution["startDate"]).total_seconds()
        transitions = 0
        if execution["status"] in TERMINAL_EXECUTION_STATUSES:  # (histories grow long)
            transitions = sum(
                1
                for e in self.execution_history(execution["executionArn"])
                if e["type"].endswith("StateEntered")
            )
        return OrderOutcome(
            order_reference=order_reference,
            order_type=item.get("order_type"),
            status=item.get("status") or execution["status"],
            execution_status=execution["status"],
            error=execution.get("error") or item.get("error"),
            cause=execution.get("cause") or item.get("cause"),
            duration_seconds=duration,
            state_transitions=transitions,
            items=item.get("items", {}),
        )

    def execution_history(self, execution_arn: str) -> list[dict[str, Any]]:
        sfn = self.client("stepfunctions")
        events: list[dict[str, Any]] = []
        for page in sfn.get_paginator("get_execution_history").paginate(executionArn=execution_arn):
            events.extend(page["events"])
        return events

    def order_item(self, order_reference: str) -> dict[str, Any] | None:
        return self._orders().get(order_reference)

    def order_record(self, order_reference: str) -> dict[str, Any] | None:
        """The order record alone, without its items."""
        return self._orders().order_record(order_reference)

    def _orders(self) -> Any:
        from loyalty.adapters.orders_table import OrdersTable

        return OrdersTable(client=self.client("dynamodb"), table_name=self.orders_table)

    def wait_idle(self, timeout: float = 30) -> bool:
        """Wait until nothing is in flight: no event being delivered, no finisher running, no
        message waiting or hidden (requeued with a delay) in a buffer queue, no poller
        invocation running. Returns False on timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._quiet():
                time.sleep(0.05)  # an answer may be on its way from a thread that just finished
                if self._quiet():
                    return True
            time.sleep(0.02)
        return False

    def _quiet(self) -> bool:
        assert self._router is not None and self._pollers is not None
        return (
            self._router.in_flight == 0
            and self._pollers.busy == 0
            and not self._running_finishers()
            and not any(self.buffered_messages().values())
        )

    @property
    def target_invocations(self) -> int:
        """Events EventBridge sent to rule targets so far, one per target (its invocations)."""
        assert self._router is not None
        return self._router.target_invocations

    @property
    def throttled_deliveries(self) -> int:
        """Deliveries to a state machine that its ``StartExecution`` quota refused and that were
        retried later (with a ``throttling`` quota)."""
        assert self._router is not None
        return self._router.throttled_retries

    def in_flight(self) -> dict[str, Any]:
        """What is still moving (for diagnostics when ``wait_idle`` gives up)."""
        assert self._router is not None and self._pollers is not None
        return {
            "deliveries": self._router.in_flight,
            "poller_invocations": self._pollers.busy,
            "finishers_running": self._running_finishers(),
            "buffered_messages": self.buffered_messages(),
        }

    def stall_report(self, order_reference: str, *, last_events: int = 8) -> str:
        """Why an order has not ended (for a test's failure message): its execution's open tasks
        by state, the last history events, what is still moving, functions that failed and what
        the vendor answered."""
        arn = self.current_execution_arn(order_reference)
        try:
            history = self.execution_history(arn)
        except ClientError as err:
            return f"{arn}: {err.response['Error']['Code']}"
        by_id = {event["id"]: event for event in history}

        def state_of(event: dict[str, Any]) -> str:
            # Task events point back (previousEventId) to the state they belong to.
            while event and "stateEnteredEventDetails" not in event:
                event = by_id.get(event.get("previousEventId", 0), {})
            return str(event.get("stateEnteredEventDetails", {}).get("name", "?"))

        open_tasks: Counter[str] = Counter()
        for event in history:
            if event["type"] == "TaskScheduled":
                open_tasks[state_of(event)] += 1
            elif event["type"] in _TASK_ENDED:
                open_tasks[state_of(event)] -= 1
        tail = ", ".join(f"{e['type']}({state_of(e)})" for e in history[-last_events:])
        failing = {
            name: (f.stats.errors, f.stats.async_retries, f.stats.async_failures)
            for name, f in self.functions.items()
            if f.stats.errors or f.stats.async_failures
        }
        return (
            f"{arn}: {len(history)} history events; open tasks by state "
            f"{dict(+open_tasks)}; last events: {tail}; in flight {self.in_flight()}; "
            f"parked for reconciliation {self.reconciliation_backlog()}; dead letters "
            f"{ {k: len(v) for k, v in self.dead_letters().items()} }; functions with errors "
            f"(errors, async retries, async failures) {failing}; "
            f"vendor {self.vendor.stats().to_dict()}"
        )

    def queues(self, *, dead_letter: bool) -> Iterator[tuple[str, str]]:
        """(logical id, URL) of every dead-letter queue of the app, or of every queue that work
        flows through (not the dead-letter queues, nor the reconciliation queue, where requests
        wait for an operator)."""
        for stack in self.stacks.values():
            for queue in stack.of_type("AWS::SQS::Queue"):
                if RECONCILIATION_QUEUE in queue.logical_id:
                    continue
                if ("DeadLetterQueue" in queue.logical_id) == dead_letter:
                    yield queue.logical_id, queue.ref

    def parked_for_reconciliation(self) -> list[dict[str, Any]]:
        """Vendor requests in the reconciliation queue (up to ten, peeked, left in): their
        outcome was unknown when the mediator answered ``VendorOutcomeUnknown``."""
        return list(self._peek(self.output("ReconciliationQueueUrl")))

    def reconciliation_backlog(self) -> int:
        """How many requests wait in the reconciliation queue for an operator."""
        attributes = self._sqs.get_queue_attributes(
            QueueUrl=self.output("ReconciliationQueueUrl"),
            AttributeNames=["ApproximateNumberOfMessages"],
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"])

    def buffered_messages(self) -> dict[str, int]:
        """Messages waiting or hidden in every queue that is not a dead-letter queue, by logical
        id."""
        counts = {}
        for logical_id, url in self.queues(dead_letter=False):
            attributes = self._sqs.get_queue_attributes(
                QueueUrl=url,
                AttributeNames=[
                    "ApproximateNumberOfMessages",
                    "ApproximateNumberOfMessagesNotVisible",
                ],
            )["Attributes"]
            counts[logical_id] = sum(int(v) for v in attributes.values())
        return counts

    def _running_finishers(self) -> int:
        sfn = self.client("stepfunctions")
        finisher = self.output("StepFinisherArn")
        return len(
            sfn.list_executions(stateMachineArn=finisher, statusFilter="RUNNING")["executions"]
        )

    def dead_letters(self) -> dict[str, list[dict[str, Any]]]:
        """Every message in every dead-letter queue, by the queue's logical id (peeked, left in)."""
        found: dict[str, list[dict[str, Any]]] = {}
        for logical_id, url in self.queues(dead_letter=True):
            messages = list(self._peek(url))
            if messages:
                found[logical_id] = messages
        return found

    def dead_letter_reasons(self) -> dict[str, list[tuple[dict[str, Any], str | None]]]:
        """As ``dead_letters``, each body with the reason an event buffer gave in the message's
        ``error`` attribute (None for a message that ran out of receives rather than refused)."""
        found: dict[str, list[tuple[dict[str, Any], str | None]]] = {}
        for logical_id, url in self.queues(dead_letter=True):
            messages = [
                (
                    json.loads(m["Body"]),
                    m.get("MessageAttributes", {}).get("error", {}).get("StringValue"),
                )
                for m in self._receive(url)
            ]
            if messages:
                found[logical_id] = messages
        return found

    def _peek(self, url: str) -> Iterator[dict[str, Any]]:
        for message in self._receive(url):
            yield json.loads(message["Body"])

    def _receive(self, url: str) -> list[dict[str, Any]]:
        """Up to ten messages of a queue, left visible to the next reader."""
        response = self._sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=10,
            VisibilityTimeout=0,
            WaitTimeSeconds=0,
            MessageAttributeNames=["All"],
        )
        return list(response.get("Messages", []))

    @contextlib.contextmanager
    def function_fault(
        self,
        logical_prefix: str,
        *,
        times: int,
        stall_seconds: float = 0.0,
        after: bool = False,
        when: Callable[[dict[str, Any]], bool] = lambda event: True,
    ) -> Iterator[list[dict[str, Any]]]:
        """Fault injection for the fault suite: the next ``times`` invocations of a function whose
        event satisfies ``when`` crash before the handler runs (``InjectedCrashError``, as when an
        execution environment dies), or, with ``after``, crash once the handler has done its work
        (its answer went out, then the invocation failed: Lambda retries it later), or, with
        ``stall_seconds``, run only after that long (an environment that stalls, so its answer
        comes late). Yields the events it affected; the function is itself again when the block
        ends."""
        function = self.function(logical_prefix)
        invoke = function.invoke
        affected: list[dict[str, Any]] = []
        lock = threading.Lock()

        def faulty(event: dict[str, Any]) -> Any:
            with lock:
                hit = len(affected) < times and when(event)
                if hit:
                    affected.append(event)
            if hit and stall_seconds:
                time.sleep(stall_seconds)
            elif hit and after:
                invoke(event)
                raise InjectedCrashError(f"{function.name}: injected crash after the handler")
            elif hit:
                raise InjectedCrashError(f"{function.name}: injected crash {len(affected)}/{times}")
            return invoke(event)

        function.invoke = faulty  # type: ignore[method-assign]
        try:
            yield affected
        finally:
            function.invoke = invoke  # type: ignore[method-assign]

    @staticmethod
    @contextlib.contextmanager
    def state_machine_put_events_fault(
        *,
        times: int | None = None,
        rate: float | None = None,
        seed: int | None = None,
        error_code: str = "ThrottlingException",
    ) -> Iterator[list[dict[str, Any]]]:
        """Fault injection for the fault suite: EventBridge refuses the ``PutEvents`` calls of
        state machine tasks (the ASL engine's ``events:putEvents`` integration; the handlers'
        and tests' ``put_events`` are never refused). Refused are the first ``times`` calls; or,
        with ``rate``, each call with that probability (drawn from ``random.Random(seed)``); or,
        with both, each call with probability ``rate`` until ``times`` were refused. A refused
        call puts nothing and is answered as EventBridge answers entries it throttles: every
        entry failed with ``error_code`` (message ``Rate exceeded`` for ``ThrottlingException``,
        else the code), ``FailedEntryCount`` their number; the task then fails with
        ``EventBridge.FailedEntry``, which its ``Retry``/``Catch`` may handle. Yields the refused
        entries, in order (``len`` is the count; each has its ``DetailType``). With several
        executions at once, which calls a ``rate`` refuses depends on their interleaving.

        Process-wide, like moto itself (so a static method: a test of moto alone can use it)."""
        if times is None and rate is None:
            raise ValueError("give times, rate or both")
        if times is not None and times < 0:
            raise ValueError(f"times must not be negative, not {times}")
        if rate is not None and not 0 <= rate <= 1:
            raise ValueError(f"rate must be between 0 and 1, not {rate}")
        message = "Rate exceeded" if error_code == "ThrottlingException" else error_code
        draw = random.Random(seed)
        refused: list[dict[str, Any]] = []
        lock = threading.Lock()
        calls_refused = 0

        def refuse(entries: list[dict[str, Any]]) -> dict[str, Any] | None:
            nonlocal calls_refused
            with lock:
                if times is not None and calls_refused >= times:
                    return None
                if rate is not None and draw.random() >= rate:
                    return None
                calls_refused += 1
                refused.extend(entries)
            return {
                "FailedEntryCount": len(entries),
                "Entries": [{"ErrorCode": error_code, "ErrorMessage": message} for _ in entries],
                "ResponseMetadata": {"HTTPStatusCode": 200},
            }

        with moto_patches.intercept_state_machine_put_events(refuse):
            yield refused

    def function(self, logical_prefix: str) -> LocalFunction:
        """The local function whose logical id starts with ``logical_prefix``."""
        for stack in self.stacks.values():
            for resource in stack.of_type("AWS::Lambda::Function"):
                if resource.logical_id.startswith(logical_prefix):
                    assert isinstance(resource.physical, LocalFunction)
                    return resource.physical
        raise KeyError(logical_prefix)


@dataclass(frozen=True)
class TimelineEntry:
    timestamp_ms: int
    source: str
    detail_type: str
    what: str
    """The metadata's type and status (``voucher submitted``, ``order.validate finished``)."""

    @classmethod
    def of(cls, timestamp_ms: int, event: dict[str, Any]) -> TimelineEntry:
        metadata = event.get("detail", {}).get("metadata", {})
        what = " ".join(str(metadata[k]) for k in ("type", "status") if metadata.get(k))
        error = event.get("detail", {}).get("error")
        if isinstance(error, str):
            what += f" ({error})"
        elif isinstance(error, dict):
            what += f" ({error.get('name')})"
        # moto stamps log records with a float; CloudWatch Logs keeps whole milliseconds.
        return cls(int(timestamp_ms), event.get("source", ""), event.get("detail-type", ""), what)


class Tap:
    """Events seen by a tap, oldest first."""

    def __init__(self, sqs: Any, url: str) -> None:
        self._sqs = sqs
        self._url = url
        self.seen: list[dict[str, Any]] = []

    def events(self) -> list[dict[str, Any]]:
        """Everything seen so far (reads what arrived since the last call)."""
        while True:
            messages = self._sqs.receive_message(QueueUrl=self._url, MaxNumberOfMessages=10).get(
                "Messages", []
            )
            if not messages:
                return list(self.seen)
            for message in messages:
                self.seen.append(json.loads(message["Body"]))
                self._sqs.delete_message(QueueUrl=self._url, ReceiptHandle=message["ReceiptHandle"])

    def wait_for(
        self, matches: Callable[[dict[str, Any]], bool], timeout: float = 10
    ) -> list[dict[str, Any]]:
        """The events that match, once at least one has arrived (or the timeout passed): the
        router delivers to taps on its own threads, so an event can land just after the state
        change a test waited for."""
        deadline = time.monotonic() + timeout
        while True:
            found = [event for event in self.events() if matches(event)]
            if found or time.monotonic() > deadline:
                return found
            time.sleep(0.02)
