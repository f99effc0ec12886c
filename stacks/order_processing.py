"""Order Processing: ``order.received`` → a Standard state machine of event-driven steps.

The stack composes the architecture's parts: the order store (the tables and the claim-check
bucket), the order flow (``stacks.order_flow``: the steps, failures, compensation and the vendor
phase) and what starts and resumes its executions (``stacks.resumers``: the order starter, the
Step Finisher and the Token Handler, with their buffers and rules).
"""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Stack
from constructs import Construct

from cdk_constructs import OrderStore, keep_logical_ids, powertools_layer
from loyalty.contract import Source
from stacks.config import LoyaltyConfig
from stacks.order_flow import OrderFlow
from stacks.order_functions import OrderFunctions
from stacks.resumers import OrderResumers
from stacks.service_bus import service_bus

DEPLOYED_STORE_IDS = {
    "Orders/Resource": "OrdersA9B65338",
    "Actions/Resource": "Actions9CCA2BC5",
    "OrderDocuments/Resource": "OrderDocumentsEF9CBF9F",
    "OrderDocuments/Policy/Resource": "OrderDocumentsPolicy8FE2C4F4",
    "OrderDocuments/AutoDeleteObjectsCustomResource/Default": (
        "OrderDocumentsAutoDeleteObjectsCustomResource606C4A30"
    ),
}
"""The logical IDs the store's resources were deployed with, by their path in the store."""


class OrderProcessingStack(Stack):
    """Attributes: ``bus``, ``orders_table``, ``actions_table``, ``documents`` (the claim-check
    bucket), ``flow`` and ``state_machine`` (the order flow's), ``starter``,
    ``orders_received_buffer``, ``orders_received`` (its rule), ``step_finisher``,
    ``token_handler``, ``vendor_answers_buffer``."""

    def __init__(self, scope: Construct, id: str, *, config: LoyaltyConfig, **kwargs: Any) -> None:
        super().__init__(scope, id, **kwargs)
        self.bus = service_bus(self, Source.ORDER_PROCESS, config.resource_prefix)
        layer = powertools_layer(
            self,
            powertools_version=config.powertools_version,
            layer_arn=config.powertools_layer_arn,
        )

        order_store = OrderStore(
            self,
            "OrderStore",
            documents_bucket_name=config.documents_bucket_name,
            documents_removal=config.named_data_removal,
            auto_delete_documents=config.disposable,
        )
        # Deployed at the stack's top level before OrderStore existed: without these logical
        # IDs, CloudFormation would replace the tables and the bucket (new, empty ones) and, in
        # a disposable copy, the old auto-delete resource would empty the bucket as it went.
        keep_logical_ids(order_store, DEPLOYED_STORE_IDS)
        self.orders_table = order_store.orders_table
        self.actions_table = order_store.actions_table
        self.documents = order_store.documents

        functions = OrderFunctions(scope=self, config=config, layer=layer)

        order_flow = OrderFlow(
            self, config=config, bus=self.bus, order_store=order_store, functions=functions
        )
        self.flow = order_flow.flow
        self.state_machine = order_flow.state_machine

        resumers = OrderResumers(
            self,
            config=config,
            bus=self.bus,
            order_store=order_store,
            functions=functions,
            state_machine=self.state_machine,
        )
        self.starter = resumers.starter
        self.orders_received_buffer = resumers.orders_received_buffer
        self.orders_received = resumers.orders_received
        self.step_finisher = resumers.step_finisher
        self.token_handler = resumers.token_handler
        self.vendor_answers_buffer = resumers.vendor_answers_buffer

        CfnOutput(self, "StateMachineArn", value=self.state_machine.state_machine_arn)
        CfnOutput(self, "StepFinisherArn", value=self.step_finisher.state_machine.state_machine_arn)
        CfnOutput(self, "OrdersTableName", value=self.orders_table.table_name)
        # For replays from the archive: `--destination FilterArns=<this>` re-drives lost orders.
        CfnOutput(self, "OrdersReceivedRuleArn", value=self.orders_received.rule.rule_arn)
        # For redrives (`aws sqs start-message-move-task --source-arn <this>`).
        for name, buffer in (
            ("OrdersReceivedDeadLetterQueueArn", self.orders_received_buffer),
            ("VendorAnswersDeadLetterQueueArn", self.vendor_answers_buffer),
        ):
            CfnOutput(self, name, value=buffer.dead_letter_queue.queue_arn)
