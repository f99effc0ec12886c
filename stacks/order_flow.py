"""The order flow: a Standard state machine of event-driven steps.

Reads like the flow it builds: recognise → validate → store → proportion discounts → transform →
[approval by a person, when the order needs it] → (points ‖ each voucher ‖ each reward, at the
vendor) → complete; a rejection → record it (REJECTED); any failure → record it → [compensate]
→ fail.

The vendor branches never fail the Parallel: each vendor step that ends without success ends its
own branch (or Map iteration), so every vendor request of the order has been answered before
anything is decided, and the completion step decides from the items' recorded statuses. A
fail-fast Parallel would record ``order.failed`` while a sibling's request was still in flight.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import Stack
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_stepfunctions as sfn

from cdk_constructs import DefaultBus, EventDrivenStateMachine, OrderStore
from cdk_constructs.event_driven_state_machine import WAIT_TIMEOUT_ERRORS
from loyalty.contract import (
    ORDER_STEPS,
    TASK_TOKEN_FIELD,
    Env,
    ErrorName,
    OrderStep,
    StepSpec,
    StepStatus,
    StepWait,
    VendorRequestType,
    order_step_metadata,
    order_step_pattern,
)
from loyalty.order_status import OrderStatus
from stacks.config import LoyaltyConfig
from stacks.order_functions import OrderFunctions
from stacks.permissions import grant_order_documents, grant_table, grant_task_response_by_name
from stacks.vendor_steps import VendorSteps

JsonPath = sfn.JsonPath

_STEP_INPUTS: dict[OrderStep, dict[str, Any]] = {
    OrderStep.AWAIT_APPROVAL: {"loyalty": JsonPath.object_at("$.loyalty")},
    OrderStep.COMPLETE: {"loyalty": JsonPath.object_at("$.loyalty")},
    OrderStep.RECORD_FAILURE: {"error": JsonPath.object_at("$.error")},
    OrderStep.RECORD_REJECTION: {"error": JsonPath.object_at("$.error")},
    OrderStep.SETTLE_COMPENSATION: {
        "error": {
            "Error": JsonPath.string_at("$.failure.error"),
            "Cause": JsonPath.string_at("$.failure.cause"),
        }
    },
}
"""What a step's request carries besides the order, from the execution's state (the error a
failure or rejection is recorded with; the loyalty instructions to complete or approve)."""


class OrderFlow:
    """Builds the order flow in ``scope``: each step of the contract's ``ORDER_STEPS`` (its
    worker, the rule that feeds it, its waiting task), the approval, the routing of failures,
    rejections and cancellations, the compensation and the vendor phase.

    Not a construct: built in the stack's own scope, every resource keeps the logical ID it was
    deployed with and every state the name it has in running executions' history.

    Worker steps are answered through the Step Finisher, vendor steps through the Token Handler,
    the approval step by a person through the Order API (see ``stacks.resumers``).

    Attributes: ``flow`` (the ``EventDrivenStateMachine``), ``state_machine``.
    """

    def __init__(
        self,
        scope: Stack,
        *,
        config: LoyaltyConfig,
        bus: DefaultBus,
        order_store: OrderStore,
        functions: OrderFunctions,
    ) -> None:
        self._scope = scope
        self._config = config
        self._store = order_store
        self._functions = functions
        self.flow = EventDrivenStateMachine(
            scope,
            "OrderProcessing",
            bus=bus,
            default_wait=config.worker_wait,
            timeout=config.execution_timeout,
            state_machine_name=config.order_state_machine_name,
            token_field=TASK_TOKEN_FIELD,
        )
        self._vendor = VendorSteps(scope, config=config, flow=self.flow)

        self._waits = {StepWait.WORKER: config.worker_wait, StepWait.APPROVAL: config.approval_wait}
        # The steps' settings from configuration, which the contract's table cannot know.
        self._step_settings: dict[OrderStep, dict[str, str]] = {
            OrderStep.TRANSFORM: {
                Env.POINTS_PER_CURRENCY_UNIT: str(config.points_per_currency_unit),
                Env.APPROVAL_RETURN_THRESHOLD: str(config.approval_return_threshold),
            },
            OrderStep.AWAIT_APPROVAL: {
                Env.APPROVAL_TIMEOUT_SECONDS: str(int(config.approval_timeout.to_seconds()))
            },
            OrderStep.RECORD_FAILURE: {Env.ON_PARTIAL_FAILURE: config.on_partial_failure.value},
        }

        # -- the steps ------------------------------------------------------------------------
        # Every step put on the bus, from the contract's table: its function, rule and task.
        workers = {
            step: self._worker(spec) for step, spec in ORDER_STEPS.items() if not spec.invoked
        }
        recognise = workers[OrderStep.RECOGNISE]
        validate = workers[OrderStep.VALIDATE]
        store = workers[OrderStep.STORE]
        proportion = workers[OrderStep.PROPORTION_DISCOUNTS]
        transform = workers[OrderStep.TRANSFORM]
        # Decides from the items' statuses: all applied → COMPLETED; else it fails with the error
        # of the first item that was not (or may not have been) applied.
        complete = workers[OrderStep.COMPLETE]
        record_failure = workers[OrderStep.RECORD_FAILURE]
        record_rejection = workers[OrderStep.RECORD_REJECTION]

        # Seed 002's approach: the function that opens the action is invoked with the token
        # (it never travels on the bus), and a function that fails fails the step at once (it
        # would otherwise wait out the approval's deadline with no action open).
        approval = ORDER_STEPS[OrderStep.AWAIT_APPROVAL]
        opens_approvals = self._step_function(approval)
        # It announces order.approval-requested; it resumes the step itself (with Step Functions,
        # never through the bus) for an approval carried over or an order cancelled meanwhile.
        bus.add_publisher(opens_approvals)
        grant_task_response_by_name(
            opens_approvals, state_machine_name=config.order_state_machine_name
        )
        await_approval = self.flow.invoke_step(
            approval.construct_id,
            function=opens_approvals,
            payload=self._step_request(approval.step),
            result_path=approval.result_path,
            wait=self._waits[approval.wait],
            final_errors=[
                ErrorName.ORDER_REJECTED.value,
                ErrorName.ORDER_CANCELLED.value,
                *WAIT_TIMEOUT_ERRORS,
            ],
        )
        apply_loyalty = (
            sfn.Parallel(scope, "ApplyLoyalty", result_path=JsonPath.DISCARD)
            .branch(self._vendor.points())
            .branch(self._vendor.redemptions(VendorRequestType.VOUCHER, "vouchers", "voucher_code"))
            .branch(self._vendor.redemptions(VendorRequestType.REWARD, "rewards", "reward_code"))
        )

        # -- failures -------------------------------------------------------------------------
        # Ends with the error the failure was recorded with (a named one, never ``States.*``).
        order_failed = sfn.Fail(
            scope, "OrderFailed", error_path="$.failure.error", cause_path="$.failure.cause"
        )
        record_failure.add_catch(
            sfn.Fail(
                scope,
                "OrderFailureNotRecorded",
                error="FailureNotRecorded",
                cause="the order failed and recording the failure failed too: its status is "
                "not up to date; see this execution's history for both errors",
            ),
            errors=["States.ALL"],
            result_path=JsonPath.DISCARD,
        )
        # A cancelled order ends here too, without failing its execution.
        cancelled = sfn.Succeed(scope, "OrderCancelled", comment="status CANCELLED")
        ended = (
            sfn.Choice(scope, "CancelledOrFailed")
            .when(
                sfn.Condition.string_equals("$.failure.status", OrderStatus.CANCELLED.value),
                cancelled,
            )
            .otherwise(order_failed)
        )
        record_failure.next(
            self._compensation(
                workers[OrderStep.SETTLE_COMPENSATION], then=ended, cancelled=cancelled
            )
        )
        store.add_catch(
            sfn.Fail(
                scope,
                "DuplicateOrderIgnored",
                error=ErrorName.DUPLICATE_ORDER.value,
                cause="another execution owns this order; this one changed nothing",
            ),
            errors=[ErrorName.DUPLICATE_ORDER.value],
        )

        # -- rejection: a person said no, or nobody answered in time ----------------------------
        record_rejection.next(sfn.Succeed(scope, "OrderRejected", comment="status REJECTED"))
        await_approval.add_catch(
            record_rejection, errors=[ErrorName.ORDER_REJECTED.value], result_path="$.error"
        )
        await_approval.add_catch(
            record_rejection,
            errors=["States.HeartbeatTimeout", "States.Timeout"],
            result_path="$.error",
        )
        await_approval.add_catch(
            record_failure, errors=[ErrorName.ORDER_CANCELLED.value], result_path="$.error"
        )
        # Its function failed in every attempt: no action is open, nobody could decide.
        await_approval.add_catch(
            sfn.Pass(
                scope,
                "ApprovalNotOpened",
                parameters={
                    "Error": ErrorName.APPROVAL_NOT_OPENED.value,
                    "Cause": JsonPath.format(
                        # (no apostrophe: an intrinsic's string literal would need it escaped)
                        "the function of the approval step failed in every attempt, so no "
                        "action was opened ({}: {})",
                        JsonPath.string_at("$.error.Error"),
                        JsonPath.string_at("$.error.Cause"),
                    ),
                },
                result_path="$.error",
            ).next(record_failure),
            errors=["States.TaskFailed"],
            result_path="$.error",
        )
        # The flow's steps; recording a failure and settling a compensation end it their own way.
        steps = {
            task: step
            for step, task in workers.items()
            if step not in (OrderStep.RECORD_FAILURE, OrderStep.SETTLE_COMPENSATION)
        }
        # Once the vendor requests went out, a failure may leave items without an answer:
        # recording it, they are UNKNOWN, never "not applied".
        vendor_phase_failed = sfn.Pass(
            scope,
            "VendorPhaseFailed",
            result=sfn.Result.from_boolean(True),
            result_path="$.error.VendorPhase",
        ).next(record_failure)
        for task, step in steps.items():
            self.flow.name_timeouts(
                task,
                step=step.value,
                then=vendor_phase_failed if task is complete else record_failure,
                error=ErrorName.STEP_TIMED_OUT.value,
            )
        for task in (*steps, await_approval):
            after = vendor_phase_failed if task is complete else record_failure
            task.add_catch(after, errors=["States.ALL"], result_path="$.error")
        apply_loyalty.add_catch(vendor_phase_failed, errors=["States.ALL"], result_path="$.error")

        needs_approval = (
            sfn.Choice(scope, "NeedsApproval")
            .when(
                sfn.Condition.is_present("$.loyalty.approval_reasons[0]"),
                await_approval.next(apply_loyalty),
            )
            .otherwise(apply_loyalty)
        )
        apply_loyalty.next(complete)
        self.state_machine = self.flow.build(
            sfn.Choice(scope, "CompensateOnly", comment="an operator's retry of a compensation")
            .when(sfn.Condition.is_present("$.compensate_only"), record_failure)
            .otherwise(
                recognise.next(validate)
                .next(store)
                .next(proportion)
                .next(transform)
                .next(needs_approval)
            )
        )

    def _compensation(
        self, settle: sfn.TaskStateBase, *, then: sfn.IChainable, cancelled: sfn.IChainable
    ) -> sfn.IChainable:
        """After a failure was recorded: when it planned reversals (``loyalty:onPartialFailure``
        = compensate, and effects were applied), make them through the Vendor Mediator, then
        ``settle`` how the compensation ended; otherwise ``then``."""
        plan = "$.failure.compensation"
        reverse = (
            sfn.Parallel(self._scope, "Compensate", result_path=JsonPath.DISCARD)
            .branch(
                self._vendor.points("ReversePoints", source=plan, type_path=f"{plan}.points_type")
            )
            .branch(
                self._vendor.redemptions(
                    VendorRequestType.VOUCHER_REVERSAL,
                    "vouchers",
                    "voucher_code",
                    verb="Reverse",
                    source=plan,
                )
            )
            .branch(
                self._vendor.redemptions(
                    VendorRequestType.REWARD_REVERSAL,
                    "rewards",
                    "reward_code",
                    verb="Reverse",
                    source=plan,
                )
            )
        )
        not_settled = sfn.Fail(
            self._scope,
            "CompensationNotSettled",
            error="CompensationNotSettled",
            cause="the order failed and its compensation ran, but settling it failed: the "
            "order is COMPENSATING; its items say which effects were reversed",
        )
        self.flow.name_timeouts(settle, step=OrderStep.SETTLE_COMPENSATION.value, then=not_settled)
        settle.add_catch(not_settled, errors=["States.ALL"], result_path=JsonPath.DISCARD)
        # The reversals never fail their branches; if the Parallel itself does, the items
        # still say what was reversed, and settling decides from them.
        reverse.add_catch(settle, errors=["States.ALL"], result_path=JsonPath.DISCARD)
        ended = (
            sfn.Choice(self._scope, "CompensationEnded")
            .when(
                sfn.Condition.string_equals(
                    "$.compensation.status", OrderStatus.COMPENSATION_FAILED.value
                ),
                sfn.Fail(
                    self._scope,
                    "CompensationFailed",
                    error_path="$.compensation.error",
                    cause_path="$.compensation.cause",
                ),
            )
            .when(
                sfn.Condition.string_equals("$.compensation.status", OrderStatus.CANCELLED.value),
                cancelled,
            )
            .when(
                sfn.Condition.string_equals(
                    "$.compensation.status", OrderStatus.NEEDS_RECONCILIATION.value
                ),
                sfn.Fail(
                    self._scope,
                    "CompensationOutcomeUnknown",
                    error_path="$.compensation.error",
                    cause_path="$.compensation.cause",
                ),
            )
            .otherwise(then)
        )
        reverse.next(settle).next(ended)
        return (
            sfn.Choice(self._scope, "CompensateIfApplied")
            .when(sfn.Condition.is_present(plan), reverse)
            .otherwise(then)
        )

    def _worker(self, spec: StepSpec) -> sfn.TaskStateBase:
        """One order step put on the bus: its worker Lambda, the rule that feeds it and the
        waiting task."""
        return self.flow.worker_step(
            spec.construct_id,
            detail_type=spec.step.value,
            event_pattern=order_step_pattern(spec.step, self._config.resource_prefix),
            function=self._step_function(spec),
            detail=self._step_request(spec.step),
            result_path=spec.result_path,
            wait=self._waits[spec.wait],
        )

    def _step_request(self, step: OrderStep) -> dict[str, Any]:
        """What a step's worker is given (besides the token)."""
        return {
            "metadata": order_step_metadata(
                domain=self._config.domain, step=step.value, status=StepStatus.REQUESTED
            ),
            "order_reference": JsonPath.string_at("$.order_reference"),
            "execution_id": JsonPath.execution_id,
            "requested_at": JsonPath.state_entered_time,  # for StepDuration
            "order": JsonPath.object_at("$.order"),
            **_STEP_INPUTS.get(step, {}),
        }

    def _step_function(self, spec: StepSpec) -> lambda_.Function:
        """A step's worker Lambda, with the table permissions its entry names and nothing more."""
        env = {
            Env.ORDERS_BUCKET: self._store.documents.bucket_name,
            **self._step_settings.get(spec.step, {}),
        }
        if spec.orders_table:
            env[Env.ORDERS_TABLE] = self._store.orders_table.table_name
        if spec.actions_table:
            env[Env.ACTIONS_TABLE] = self._store.actions_table.table_name
        id = spec.construct_id
        function = self._functions.function(
            f"{id}Worker", handler=spec.handler, description=f"{id} step worker", environment=env
        )
        if spec.orders_table:
            grant_table(function, self._store.orders_table, spec.orders_table)
        if spec.actions_table:
            self._store.actions_table.grant(function, *spec.actions_table)
        # Every step may receive an order by claim check; the ones producing orders may store one.
        grant_order_documents(
            function,
            bucket_name=self._config.documents_bucket_name,
            actions=["s3:GetObject", "s3:PutObject"] if spec.writes_documents else ["s3:GetObject"],
        )
        return function
