"""The Order API function's clients and tables, made once per execution environment (at cold
start, from its settings), and its Powertools logger, tracer and metrics."""

from __future__ import annotations

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer

from loyalty.adapters.actions_table import ActionsTable
from loyalty.adapters.claim_check import ClaimCheck
from loyalty.adapters.event_bus import EventBusPublisher
from loyalty.adapters.orders_table import OrdersTable
from loyalty.adapters.submissions_table import SubmissionsTable
from loyalty.adapters.task_tokens import TaskTokens
from order_api.settings import ApiSettings

logger = Logger()
tracer = Tracer()
metrics = Metrics()

CLAIM_STALE_SECONDS = 15.0
"""Longer than this function's timeout (10 s): a claim still PUTTING after that belongs to a
request that died, and the same body may take it over."""

settings = ApiSettings.from_environment()
sfn = boto3.client("stepfunctions")
_dynamodb = boto3.client("dynamodb")
orders = OrdersTable(client=_dynamodb, table_name=settings.orders_table)
actions = ActionsTable(client=_dynamodb, table_name=settings.actions_table)
submissions = SubmissionsTable(
    client=_dynamodb, table_name=settings.idempotency_table, stale_after=CLAIM_STALE_SECONDS
)
tokens = TaskTokens(client=sfn)
claims = ClaimCheck(client=boto3.client("s3"), bucket=settings.orders_bucket)
state_machine_arn = settings.state_machine_arn
publisher = EventBusPublisher(
    client=boto3.client("events"), bus_name=settings.event_bus, source=settings.event_source
)
