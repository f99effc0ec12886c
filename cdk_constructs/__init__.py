"""Reusable L3 constructs of the event-driven architecture. Business-free (but for `OrderStore`,
which keys its tables as `lambdas/loyalty/order_status.py` says): the event contract and the order
flow live in `stacks/` and `lambdas/loyalty`.

Named `cdk_constructs` and not `constructs`: a top-level package called `constructs` would shadow
the `constructs` library that aws-cdk-lib imports.
"""

# First: it picks the Node.js that jsii starts with the first `aws_cdk` import below.
import cdk_constructs._node  # noqa: F401
from cdk_constructs.data_table import data_table
from cdk_constructs.default_bus import BusRule, DefaultBus
from cdk_constructs.event_driven_state_machine import EventDrivenStateMachine, WaitPolicy
from cdk_constructs.event_patterns import event_pattern_from_dict
from cdk_constructs.order_store import OrderStore, keep_logical_ids
from cdk_constructs.powertools_function import PowertoolsFunction, powertools_layer
from cdk_constructs.queue_consumer import QueueConsumer
from cdk_constructs.step_finisher import StepFinisher
from cdk_constructs.step_kinds import JobPoller, StepKinds, grant_activity_worker, max_polls

__all__ = [
    "BusRule",
    "DefaultBus",
    "EventDrivenStateMachine",
    "JobPoller",
    "OrderStore",
    "PowertoolsFunction",
    "QueueConsumer",
    "StepFinisher",
    "StepKinds",
    "WaitPolicy",
    "data_table",
    "event_pattern_from_dict",
    "grant_activity_worker",
    "keep_logical_ids",
    "max_polls",
    "powertools_layer",
]
