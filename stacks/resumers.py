"""How order executions start and resume: ``order.received`` → a buffer → the order starter;
a worker's answer → the Step Finisher; a vendor answer → a buffer → the Token Handler. (The
approval step is resumed by a person, through the Order API.)"""

from __future__ import annotations

from aws_cdk import Duration, Stack
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_stepfunctions as sfn

from cdk_constructs import DefaultBus, OrderStore, QueueConsumer, StepFinisher
from cdk_constructs.event_driven_state_machine import vended_log_group_name
from loyalty.contract import (
    REVERSAL_TYPES,
    Env,
    TaskAnswer,
    order_received_pattern,
    task_answer_pattern,
    vendor_answer_pattern,
)
from stacks.config import LoyaltyConfig
from stacks.order_functions import OrderFunctions
from stacks.permissions import grant_order_documents, grant_table


class OrderResumers:
    """Builds, in ``scope``, what starts and resumes executions of ``state_machine``: the order
    starter and its buffer and rule, the Step Finisher, the Token Handler and its buffer and
    rules. Both functions are fed through a queue, so a throttled start or resume is retried for
    an hour, not Lambda's three minutes.

    Not a construct: built in the stack's own scope, every resource keeps the logical ID it was
    deployed with.

    Attributes: ``starter``, ``orders_received_buffer``, ``orders_received`` (the rule),
    ``step_finisher``, ``token_handler``, ``vendor_answers_buffer``.
    """

    def __init__(
        self,
        scope: Stack,
        *,
        config: LoyaltyConfig,
        bus: DefaultBus,
        order_store: OrderStore,
        functions: OrderFunctions,
        state_machine: sfn.StateMachine,
    ) -> None:
        self._scope = scope
        self._config = config
        self.starter = starter = functions.function(
            "OrderStarter",
            handler="order_starter.handler.handler",
            description="Starts one order-processing execution per order reference",
            environment={
                Env.STATE_MACHINE_ARN: state_machine.state_machine_arn,
                Env.ORDERS_BUCKET: order_store.documents.bucket_name,
            },
        )
        state_machine.grant_start_execution(starter)
        grant_order_documents(
            starter, bucket_name=config.documents_bucket_name, actions=["s3:PutObject"]
        )
        # Through a queue: a throttled start is retried for an hour, not Lambda's three minutes.
        self.orders_received_buffer = self._buffer("OrdersReceivedBuffer", starter)
        self.orders_received = bus.add_queue_rule(
            "OrdersReceived",
            queue=self.orders_received_buffer.queue,
            event_pattern=order_received_pattern(config.resource_prefix),
            description="order.received, buffered for the order starter",
        )

        self.step_finisher = StepFinisher(
            scope,
            "StepFinisher",
            bus=bus,
            target=state_machine,
            event_pattern=task_answer_pattern(config.resource_prefix),
            failed_detail_type=TaskAnswer.FAILED.value,
            log_group_name=vended_log_group_name(f"{config.resource_prefix}-step-finisher"),
        )

        self.token_handler = token_handler = functions.function(
            "TokenHandler",
            handler="token_handler.handler.handler",
            description="Resumes vendor steps when the Vendor Mediator answers (seed 000 step 5)",
            environment={Env.ORDERS_TABLE: order_store.orders_table.table_name},
        )
        state_machine.grant_task_response(token_handler)
        grant_table(token_handler, order_store.orders_table, ["dynamodb:UpdateItem"])
        # Through a queue, as the order starter: a throttled resume is retried for an hour.
        self.vendor_answers_buffer = self._buffer("VendorAnswersBuffer", token_handler)
        bus.add_queue_rule(
            "VendorAnswers",
            queue=self.vendor_answers_buffer.queue,
            event_pattern=vendor_answer_pattern(config.domain, prefix=config.resource_prefix),
            description="Vendor Mediator answers, buffered for the Token Handler (seed 000 step 4)",
        )
        bus.add_queue_rule(
            "VendorReversalAnswers",
            queue=self.vendor_answers_buffer.queue,
            event_pattern=vendor_answer_pattern(
                config.domain, types=REVERSAL_TYPES, prefix=config.resource_prefix
            ),
            description="Answers to a compensation's reversals, buffered for the Token Handler",
        )

    def _buffer(self, id: str, function: lambda_.Function) -> QueueConsumer:
        """An SQS buffer in front of ``function`` (``loyalty.adapters.event_buffer``)."""
        buffers = self._config.buffers
        function.add_environment(Env.BUFFER_RETRY_BASE_SECONDS, str(buffers.retry_base_seconds))
        function.add_environment(Env.BUFFER_RETRY_MAX_SECONDS, str(buffers.retry_max_seconds))
        return QueueConsumer(
            self._scope,
            id,
            function=function,
            batch_size=buffers.batch_size,
            max_concurrency=buffers.max_concurrency,
            visibility_timeout=Duration.seconds(buffers.visibility_timeout_seconds),
            retention_period=Duration.days(4),
            max_receive_count=buffers.max_receive_count,
            queue_url_env=Env.BUFFER_QUEUE_URL,
            dead_letter_queue_url_env=Env.BUFFER_DEAD_LETTER_QUEUE_URL,
        )
