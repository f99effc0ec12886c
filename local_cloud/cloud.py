"""`LocalCloud`: a cloud assembly of the app (``cdk.out``) deployed into moto, with the fake
vendor, ready to take orders. Used by ``python -m local_cloud run``, the end-to-end tests and the
benchmarks, which synthesise first (``local_cloud.run.synth``)."""

from __future__ import annotations

import logging
import os
import threading
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import boto3
from botocore.credentials import Credentials
from moto import mock_aws

from fake_vendor import FakeVendor
from local_cloud.api_callers import API_CALLERS, ApiCallers
from local_cloud.events import CloudEvents, Tap, TimelineEntry
from local_cloud.faults import FaultInjection, InjectedCrashError
from local_cloud.in_flight import InFlight
from local_cloud.orders import TERMINAL_EXECUTION_STATUSES, OrderOutcome, Orders
from local_cloud.queue_messages import QueueMessages
from local_cloud.resources import ACCOUNT, RECONCILIATION_QUEUE, REGION, CloudResources
from local_cloud.runtime import iam_enforcement, moto_patches, throttling
from local_cloud.runtime.accounting import InvocationLedger
from local_cloud.runtime.api_gateway import LocalApiServer
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
from local_cloud.runtime.moto_patches import activities
from local_cloud.runtime.sqs_pollers import SqsPollers
from local_cloud.runtime.throttling import BucketSpec, Throttler
from loyalty.contract import Env

# What this module has always exported, wherever it is defined now: the run command, the tests and
# the benchmarks import it from here.
__all__ = [
    "ACCOUNT",
    "API_CALLERS",
    "LAMBDAS_DIR",
    "RECONCILIATION_QUEUE",
    "REGION",
    "ROOT",
    "TERMINAL_EXECUTION_STATUSES",
    "WORKDIR",
    "ApiCallers",
    "CloudEvents",
    "CloudResources",
    "FaultInjection",
    "InFlight",
    "InjectedCrashError",
    "LocalCloud",
    "OrderOutcome",
    "Orders",
    "QueueMessages",
    "Tap",
    "TimelineEntry",
]

ROOT = Path(__file__).resolve().parent.parent
LAMBDAS_DIR = ROOT / "lambdas"
WORKDIR = ROOT / ".local_cloud"
"""Where a LocalCloud writes its assemblies and function logs unless told otherwise."""

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


class LocalCloud(InFlight, FaultInjection, ApiCallers):
    """The local cloud, as a context manager.

    This class starts, deploys and stops it; what a test or the run command does with it is one
    job a module, each a base class of this one: the deployed resources by name and the clients
    (``resources``), the events (``events``), orders and their outcomes (``orders``), what waits
    in the queues (``queue_messages``), what is in flight (``in_flight``), fault injection
    (``faults``) and the Order API's callers (``api_callers``).

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
        api_port: int = 0,
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
        self._api_port = api_port
        """The Order API's port on 127.0.0.1 (0: any free one)."""
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
        activities.open_long_polls()
        assembly = CloudAssembly.read(self.assembly, account=ACCOUNT, region=REGION)
        assembly.check_function_code(LAMBDAS_DIR)
        if self._owns_vendor:
            self.vendor.start()
        self._set_environment()
        self._mock.start()
        self._sqs = self.client("sqs")
        self._sfn = self.client("stepfunctions")
        self._events = self.client("events")  # clients are thread-safe; creating one is not cheap
        self._dynamodb = self.client("dynamodb")
        try:
            self._deploy(assembly.templates)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        activities.close_long_polls()  # an activity worker's pending poll ends, with no task
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
                api=api,
                functions=self.functions,
                region=REGION,
                account_id=ACCOUNT,
                port=self._api_port if index == 0 else 0,
            ).start()
            for index, api in enumerate(deployer.apis.values())
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
