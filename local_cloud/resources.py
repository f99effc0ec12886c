"""Where a `LocalCloud`'s deployment is and what is in it: moto's account and region, the
clients of the local cloud's administrator, and the deployed resources by name (stack outputs,
functions, queues, the deployed configuration)."""

from __future__ import annotations

import functools
import json
import threading
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

from botocore.config import Config

from fake_vendor import FakeVendor
from local_cloud.runtime.api_gateway import LocalApiServer
from local_cloud.runtime.deployer import DeployedStack
from local_cloud.runtime.lambda_runtime import LocalFunction
from loyalty.contract import Env, OrderEvent

ACCOUNT = "123456789012"  # moto's default account
REGION = "us-east-1"
RECONCILIATION_QUEUE = "ReconciliationQueue"


class CloudResources:
    """The deployed resources by name, and the clients that reach them.

    The state is `LocalCloud`'s (set in its ``__init__`` and ``start``); it is declared here, once,
    for every job of the local cloud that reads it."""

    vendor: FakeVendor
    time_scale: float
    stacks: dict[str, DeployedStack]
    functions: dict[str, LocalFunction]
    _admin: Any  # a boto3 session
    _clients_lock: threading.Lock
    _api_servers: list[LocalApiServer]
    _sqs: Any
    _sfn: Any
    _events: Any
    _dynamodb: Any

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

    def function(self, logical_prefix: str) -> LocalFunction:
        """The local function whose logical id starts with ``logical_prefix``."""
        for stack in self.stacks.values():
            for resource in stack.of_type("AWS::Lambda::Function"):
                if resource.logical_id.startswith(logical_prefix):
                    assert isinstance(resource.physical, LocalFunction)
                    return resource.physical
        raise KeyError(logical_prefix)
