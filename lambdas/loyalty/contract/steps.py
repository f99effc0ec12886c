"""Order steps (seed 004) and lifecycle: what the state machine asks workers and tells the world."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Any, Final

from loyalty.contract.sources import DEFAULT_PREFIX, Source, source_of

# --- Order steps (seed 004) and order lifecycle -----------------------------------------------

TASK_TOKEN_FIELD: Final = "TaskToken"
"""Field of ``detail`` that carries the task token on order-step requests and answers."""

ORDER_STEP_CATEGORY: Final = "order-step"
ORDER_LIFECYCLE_CATEGORY: Final = "order-lifecycle"


class OrderStep(StrEnum):
    """Detail types of the order-processing steps done by worker Lambdas."""

    RECOGNISE = "order.recognise"
    VALIDATE = "order.validate"
    STORE = "order.store"
    PROPORTION_DISCOUNTS = "order.proportion-discounts"
    TRANSFORM = "order.transform"
    AWAIT_APPROVAL = "order.await-approval"
    """Answered by a person through the Order API, not by a worker."""
    COMPLETE = "order.complete"
    RECORD_FAILURE = "order.record-failure"
    SETTLE_COMPENSATION = "order.settle-compensation"
    """After the reversals of a failed order's effects: FAILED (net zero), COMPENSATION_FAILED
    or NEEDS_RECONCILIATION."""
    RECORD_REJECTION = "order.record-rejection"


class StepWait(StrEnum):
    """Which of the configuration's wait policies a step's task waits with."""

    WORKER = "worker"
    """A worker's answer: ``loyalty:workerStep{Heartbeat,Timeout}Seconds``, ``Retries``."""
    APPROVAL = "approval"
    """A person's decision: ``loyalty:approvalTimeoutSeconds``, never re-asked."""


@dataclass(frozen=True, kw_only=True)
class StepSpec:
    """One order step as the stack deploys it: its worker, what the worker may touch, where its
    result goes and how long the state machine waits for it."""

    step: OrderStep
    module: str
    """The worker module, ``lambdas/order_steps/<module>.py``."""
    construct_id: str
    """The step's state and, suffixed ``Worker``, its function (their logical IDs)."""
    result_path: str | None = None
    """Where the worker's result goes in the execution's state; None: it is discarded."""
    orders_table: tuple[str, ...] = ()
    """The DynamoDB actions the worker may take on the orders table."""
    actions_table: tuple[str, ...] = ()
    """The DynamoDB actions the worker may take on the actions table."""
    writes_documents: bool = False
    """It may store claim-checked documents; every worker may read them."""
    wait: StepWait = StepWait.WORKER
    invoked: bool = False
    """The state machine invokes the function with the token, which never travels on the bus:
    the step has no rule and no event."""

    @property
    def handler(self) -> str:
        """The Lambda handler of the step's worker."""
        return f"order_steps.{self.module}.handler"


ORDER_STEPS: Final[Mapping[OrderStep, StepSpec]] = MappingProxyType(
    {
        spec.step: spec
        for spec in (
            StepSpec(
                step=OrderStep.RECOGNISE,
                module="recognise",
                construct_id="RecogniseOrder",
                result_path="$.order",
                writes_documents=True,
            ),
            StepSpec(
                step=OrderStep.VALIDATE,
                module="validate",
                construct_id="ValidateOrder",
                result_path="$.order",
                writes_documents=True,
            ),
            StepSpec(
                step=OrderStep.STORE,
                module="store",
                construct_id="StoreOrder",
                # UpdateItem: a re-run's store resumes the record the Order API handed to it.
                orders_table=("dynamodb:PutItem", "dynamodb:BatchWriteItem", "dynamodb:UpdateItem"),
                writes_documents=True,
            ),
            StepSpec(
                step=OrderStep.PROPORTION_DISCOUNTS,
                module="proportion_discounts",
                construct_id="ProportionDiscounts",
                result_path="$.order",
                orders_table=("dynamodb:UpdateItem",),
                writes_documents=True,
            ),
            StepSpec(
                step=OrderStep.TRANSFORM,
                module="transform",
                construct_id="TransformOrder",
                result_path="$.loyalty",
                # Query: a re-run reads which items the vendor applied, not to ask for them again.
                orders_table=("dynamodb:UpdateItem", "dynamodb:Query"),
            ),
            StepSpec(
                step=OrderStep.AWAIT_APPROVAL,
                module="await_approval",
                construct_id="AwaitApproval",
                result_path="$.approval",
                orders_table=("dynamodb:UpdateItem",),
                # UpdateItem: an order cancelled before a person was asked closes its action.
                actions_table=("dynamodb:PutItem", "dynamodb:GetItem", "dynamodb:UpdateItem"),
                wait=StepWait.APPROVAL,
                invoked=True,
            ),
            StepSpec(
                step=OrderStep.COMPLETE,
                module="complete",
                construct_id="CompleteOrder",
                orders_table=("dynamodb:UpdateItem", "dynamodb:Query"),
            ),
            StepSpec(
                step=OrderStep.RECORD_FAILURE,
                module="record_failure",
                construct_id="RecordFailure",
                result_path="$.failure",
                orders_table=("dynamodb:UpdateItem", "dynamodb:Query"),
            ),
            StepSpec(
                step=OrderStep.SETTLE_COMPENSATION,
                module="settle_compensation",
                construct_id="SettleCompensation",
                result_path="$.compensation",
                orders_table=("dynamodb:UpdateItem", "dynamodb:Query"),
            ),
            StepSpec(
                step=OrderStep.RECORD_REJECTION,
                module="record_rejection",
                construct_id="RecordRejection",
                orders_table=("dynamodb:UpdateItem",),
                actions_table=("dynamodb:UpdateItem",),
            ),
        )
    }
)
"""Every order step: the stack deploys each one's worker, rule and grants from its entry,
docs/events.md lists them, and tests/infrastructure/test_step_table.py checks each has its
function, rule and handler. Adding a step: an entry here, its handler module, and its place in
the stack's flow."""


class StepStatus(StrEnum):
    """``metadata.status`` of order-step requests and of the workers' answers."""

    REQUESTED = "requested"
    FINISHED = "finished"
    FAILED = "failed"


class TaskAnswer(StrEnum):
    """Detail types a worker answers with; the Step Finisher resumes the execution on them."""

    FINISHED = "TASK_FINISHED"
    FAILED = "TASK_FAILED"


class OrderEvent(StrEnum):
    """Order lifecycle events, for whoever needs to know (notifications, analytics)."""

    RECEIVED = "order.received"
    APPROVAL_REQUESTED = "order.approval-requested"
    DECIDED = "order.decided"
    """A person decided an order's approval (who, when, what); never carries the task token."""
    COMPLETED = "order.completed"
    FAILED = "order.failed"
    REJECTED = "order.rejected"
    CANCELLED = "order.cancelled"
    """The order was cancelled (before any vendor effect, or its effects are being reversed)."""
    COMPENSATED = "order.compensated"
    """Every effect of a failed order was reversed: its net effect at the vendor is zero."""
    COMPENSATION_FAILED = "order.compensation-failed"
    """A reversal was refused or could not be made: an operator must act (then retry)."""
    NEEDS_RECONCILIATION = "order.needs-reconciliation"
    """A vendor effect's outcome could not be learned in time: an operator must look (the
    order is parked, not failed; its items say which effects are known and which are not)."""


def order_step_metadata(*, domain: str, step: str, status: StepStatus) -> dict[str, str]:
    """``detail.metadata`` of order-step requests and of the workers' answers."""
    return {
        "domain": domain,
        "service": Source.ORDER_PROCESS.value,
        "category": ORDER_STEP_CATEGORY,
        "type": step,
        "status": status.value,
    }


def order_received_pattern(prefix: str = DEFAULT_PREFIX) -> dict[str, Any]:
    """Starts an order-processing execution."""
    return {
        "source": [source_of(Source.ORDER_INTAKE, prefix)],
        "detail-type": [OrderEvent.RECEIVED.value],
    }


def order_step_pattern(step: OrderStep, prefix: str = DEFAULT_PREFIX) -> dict[str, Any]:
    """A worker's rule: the step request put by the order-processing state machine."""
    return {
        "source": [source_of(Source.ORDER_PROCESS, prefix)],
        "detail-type": [step.value],
        "detail": {TASK_TOKEN_FIELD: [{"exists": True}]},
    }


def task_answer_pattern(prefix: str = DEFAULT_PREFIX) -> dict[str, Any]:
    """The Step Finisher's rule: a worker's TASK_FINISHED / TASK_FAILED answer."""
    return {
        "source": [source_of(Source.ORDER_PROCESS, prefix)],
        "detail-type": [a.value for a in TaskAnswer],
        "detail": {TASK_TOKEN_FIELD: [{"exists": True}]},
    }
