"""Order Processing: ``order.received`` → a Standard state machine of event-driven steps.

Reads like the flow it builds: recognise → validate → store → proportion discounts → transform →
[approval by a person, when the order needs it] → (points ‖ each voucher ‖ each reward, at the
vendor) → complete; a rejection → record it (REJECTED); any failure → record it → fail.

The vendor branches never fail the Parallel: each vendor step that ends without success ends its
own branch (or Map iteration), so every vendor request of the order has been answered before
anything is decided, and the completion step decides from the items' recorded statuses. A
fail-fast Parallel would record ``order.failed`` while a sibling's request was still in flight.
Worker steps are answered through the Step Finisher, vendor steps through the Token Handler,
the approval step by a person through the Order API.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aws_cdk import CfnOutput, Duration, Stack
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from cdk_constructs import (
    EventDrivenStateMachine,
    OrderStore,
    PowertoolsFunction,
    QueueConsumer,
    StepFinisher,
    keep_logical_ids,
    powertools_layer,
)
from cdk_constructs.event_driven_state_machine import WAIT_TIMEOUT_ERRORS, vended_log_group_name
from loyalty.contract import (
    ORDER_STEPS,
    REVERSAL_TYPES,
    TASK_TOKEN_FIELD,
    VENDOR_DETAIL_TYPE,
    VENDOR_TOKEN_FIELD,
    Env,
    ErrorName,
    OrderStep,
    ServiceName,
    Source,
    StepSpec,
    StepStatus,
    StepWait,
    TaskAnswer,
    VendorRequestType,
    VendorStatus,
    order_received_pattern,
    order_step_metadata,
    order_step_pattern,
    task_answer_pattern,
    vendor_answer_pattern,
    vendor_metadata,
)
from loyalty.order_status import OrderStatus
from stacks.config import ORDER_FUNCTION_TIMEOUT_SECONDS, LoyaltyConfig
from stacks.permissions import grant_order_documents, grant_table, grant_task_response_by_name
from stacks.service_bus import service_bus

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
    """Attributes: ``orders_table``, ``actions_table``, ``documents`` (the claim-check bucket),
    ``state_machine``, ``step_finisher``, ``bus``."""

    def __init__(self, scope: Construct, id: str, *, config: LoyaltyConfig, **kwargs: Any) -> None:
        super().__init__(scope, id, **kwargs)
        self._config = config
        self.bus = service_bus(self, Source.ORDER_PROCESS, config.resource_prefix)
        self._layer = powertools_layer(
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

        self.flow = EventDrivenStateMachine(
            self,
            "OrderProcessing",
            bus=self.bus,
            default_wait=config.worker_wait,
            timeout=config.execution_timeout,
            state_machine_name=config.order_state_machine_name,
            token_field=TASK_TOKEN_FIELD,
        )

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
        self.bus.add_publisher(opens_approvals)
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
            sfn.Parallel(self, "ApplyLoyalty", result_path=JsonPath.DISCARD)
            .branch(self._points_step())
            .branch(self._redemptions(VendorRequestType.VOUCHER, "vouchers", "voucher_code"))
            .branch(self._redemptions(VendorRequestType.REWARD, "rewards", "reward_code"))
        )

        # -- failures -------------------------------------------------------------------------
        # Ends with the error the failure was recorded with (a named one, never ``States.*``).
        order_failed = sfn.Fail(
            self, "OrderFailed", error_path="$.failure.error", cause_path="$.failure.cause"
        )
        record_failure.add_catch(
            sfn.Fail(
                self,
                "OrderFailureNotRecorded",
                error="FailureNotRecorded",
                cause="the order failed and recording the failure failed too: its status is "
                "not up to date; see this execution's history for both errors",
            ),
            errors=["States.ALL"],
            result_path=JsonPath.DISCARD,
        )
        # A cancelled order ends here too, without failing its execution.
        cancelled = sfn.Succeed(self, "OrderCancelled", comment="status CANCELLED")
        ended = (
            sfn.Choice(self, "CancelledOrFailed")
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
                self,
                "DuplicateOrderIgnored",
                error=ErrorName.DUPLICATE_ORDER.value,
                cause="another execution owns this order; this one changed nothing",
            ),
            errors=[ErrorName.DUPLICATE_ORDER.value],
        )

        # -- rejection: a person said no, or nobody answered in time ----------------------------
        record_rejection.next(sfn.Succeed(self, "OrderRejected", comment="status REJECTED"))
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
                self,
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
            self,
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
            sfn.Choice(self, "NeedsApproval")
            .when(
                sfn.Condition.is_present("$.loyalty.approval_reasons[0]"),
                await_approval.next(apply_loyalty),
            )
            .otherwise(apply_loyalty)
        )
        apply_loyalty.next(complete)
        self.state_machine = self.flow.build(
            sfn.Choice(self, "CompensateOnly", comment="an operator's retry of a compensation")
            .when(sfn.Condition.is_present("$.compensate_only"), record_failure)
            .otherwise(
                recognise.next(validate)
                .next(store)
                .next(proportion)
                .next(transform)
                .next(needs_approval)
            )
        )

        # -- how executions start and resume ----------------------------------------------------
        starter = self._function(
            "OrderStarter",
            "order_starter.handler.handler",
            "Starts one order-processing execution per order reference",
            environment={
                Env.STATE_MACHINE_ARN: self.state_machine.state_machine_arn,
                Env.ORDERS_BUCKET: self.documents.bucket_name,
            },
        )
        self.state_machine.grant_start_execution(starter)
        grant_order_documents(
            starter, bucket_name=config.documents_bucket_name, actions=["s3:PutObject"]
        )
        # Through a queue: a throttled start is retried for an hour, not Lambda's three minutes.
        self.orders_received_buffer = self._buffer("OrdersReceivedBuffer", starter)
        self.orders_received = self.bus.add_queue_rule(
            "OrdersReceived",
            queue=self.orders_received_buffer.queue,
            event_pattern=order_received_pattern(config.resource_prefix),
            description="order.received, buffered for the order starter",
        )

        self.step_finisher = StepFinisher(
            self,
            "StepFinisher",
            bus=self.bus,
            target=self.state_machine,
            event_pattern=task_answer_pattern(config.resource_prefix),
            failed_detail_type=TaskAnswer.FAILED.value,
            log_group_name=vended_log_group_name(f"{config.resource_prefix}-step-finisher"),
        )

        self.token_handler = token_handler = self._function(
            "TokenHandler",
            "token_handler.handler.handler",
            "Resumes vendor steps when the Vendor Mediator answers (seed 000 step 5)",
            environment={Env.ORDERS_TABLE: self.orders_table.table_name},
        )
        self.state_machine.grant_task_response(token_handler)
        grant_table(token_handler, self.orders_table, ["dynamodb:UpdateItem"])
        # Through a queue, as the order starter: a throttled resume is retried for an hour.
        self.vendor_answers_buffer = self._buffer("VendorAnswersBuffer", token_handler)
        self.bus.add_queue_rule(
            "VendorAnswers",
            queue=self.vendor_answers_buffer.queue,
            event_pattern=vendor_answer_pattern(config.domain, prefix=config.resource_prefix),
            description="Vendor Mediator answers, buffered for the Token Handler (seed 000 step 4)",
        )
        self.bus.add_queue_rule(
            "VendorReversalAnswers",
            queue=self.vendor_answers_buffer.queue,
            event_pattern=vendor_answer_pattern(
                config.domain, types=REVERSAL_TYPES, prefix=config.resource_prefix
            ),
            description="Answers to a compensation's reversals, buffered for the Token Handler",
        )

        CfnOutput(self, "StateMachineArn", value=self.state_machine.state_machine_arn)
        CfnOutput(self, "StepFinisherArn", value=self.step_finisher.state_machine.state_machine_arn)
        CfnOutput(self, "OrdersTableName", value=self.orders_table.table_name)
        # For replays from the archive: `--destination FilterArns=<this>` re-drives lost orders.
        CfnOutput(self, "OrdersReceivedRuleArn", value=self.orders_received.rule.rule_arn)

    def _compensation(
        self, settle: sfn.TaskStateBase, *, then: sfn.IChainable, cancelled: sfn.IChainable
    ) -> sfn.IChainable:
        """After a failure was recorded: when it planned reversals (``loyalty:onPartialFailure``
        = compensate, and effects were applied), make them through the Vendor Mediator, then
        ``settle`` how the compensation ended; otherwise ``then``."""
        plan = "$.failure.compensation"
        reverse = (
            sfn.Parallel(self, "Compensate", result_path=JsonPath.DISCARD)
            .branch(
                self._points_step("ReversePoints", source=plan, type_path=f"{plan}.points_type")
            )
            .branch(
                self._redemptions(
                    VendorRequestType.VOUCHER_REVERSAL,
                    "vouchers",
                    "voucher_code",
                    verb="Reverse",
                    source=plan,
                )
            )
            .branch(
                self._redemptions(
                    VendorRequestType.REWARD_REVERSAL,
                    "rewards",
                    "reward_code",
                    verb="Reverse",
                    source=plan,
                )
            )
        )
        not_settled = sfn.Fail(
            self,
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
            sfn.Choice(self, "CompensationEnded")
            .when(
                sfn.Condition.string_equals(
                    "$.compensation.status", OrderStatus.COMPENSATION_FAILED.value
                ),
                sfn.Fail(
                    self,
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
                    self,
                    "CompensationOutcomeUnknown",
                    error_path="$.compensation.error",
                    cause_path="$.compensation.cause",
                ),
            )
            .otherwise(then)
        )
        reverse.next(settle).next(ended)
        return (
            sfn.Choice(self, "CompensateIfApplied")
            .when(sfn.Condition.is_present(plan), reverse)
            .otherwise(then)
        )

    # -- building blocks ----------------------------------------------------------------------

    def _function(
        self,
        id: str,
        handler: str,
        description: str,
        *,
        environment: Mapping[str, str] | None = None,
    ) -> PowertoolsFunction:
        return PowertoolsFunction(
            self,
            id,
            handler=handler,
            description=description,
            service_name=ServiceName.ORDER_PROCESSING.value,
            metrics_namespace=self._config.metrics_namespace,
            layer=self._layer,
            timeout=Duration.seconds(ORDER_FUNCTION_TIMEOUT_SECONDS),
            environment={Env.LOYALTY_DOMAIN: self._config.domain, **(environment or {})},
        )

    def _buffer(self, id: str, function: PowertoolsFunction) -> QueueConsumer:
        """An SQS buffer in front of ``function`` (``loyalty.adapters.event_buffer``)."""
        buffers = self._config.buffers
        function.add_environment(Env.BUFFER_RETRY_BASE_SECONDS, str(buffers.retry_base_seconds))
        function.add_environment(Env.BUFFER_RETRY_MAX_SECONDS, str(buffers.retry_max_seconds))
        return QueueConsumer(
            self,
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

    def _step_function(self, spec: StepSpec) -> PowertoolsFunction:
        """A step's worker Lambda, with the table permissions its entry names and nothing more."""
        env = {
            Env.ORDERS_BUCKET: self.documents.bucket_name,
            **self._step_settings.get(spec.step, {}),
        }
        if spec.orders_table:
            env[Env.ORDERS_TABLE] = self.orders_table.table_name
        if spec.actions_table:
            env[Env.ACTIONS_TABLE] = self.actions_table.table_name
        id = spec.construct_id
        function = self._function(f"{id}Worker", spec.handler, f"{id} step worker", environment=env)
        if spec.orders_table:
            grant_table(function, self.orders_table, spec.orders_table)
        if spec.actions_table:
            self.actions_table.grant(function, *spec.actions_table)
        # Every step may receive an order by claim check; the ones producing orders may store one.
        grant_order_documents(
            function,
            bucket_name=self._config.documents_bucket_name,
            actions=["s3:GetObject", "s3:PutObject"] if spec.writes_documents else ["s3:GetObject"],
        )
        return function

    def _vendor_request(self, id: str, *, type: str, data: Mapping[str, Any]) -> sfn.CustomState:
        """A seed 000 vendor request; the token travels in ``data.loyalty_request_id``.

        It never fails its branch: however it ends (an ``error`` answer, no answer in all its
        attempts), it ends its branch or Map iteration with ``{"applied": false}``, and the Token
        Handler has recorded what the vendor did (or the item is still PENDING: no answer). Its
        output is a constant either way, so a Map over 1,000 vouchers stays small."""
        task = self.flow.execution_named_callback_step(
            id,
            detail_type=VENDOR_DETAIL_TYPE,
            detail={
                "metadata": vendor_metadata(
                    domain=self._config.domain,
                    service=Source.ORDER_PROCESS,
                    type=type,
                    status=VendorStatus.PROCESSED,
                ),
                "data": {VENDOR_TOKEN_FIELD: JsonPath.task_token, **data},
            },
            wait=self._config.vendor_wait,
            result_selector={"applied": True},
            # The mediator tells an operator's re-run (``<reference>+<attempt>``) by it.
            result_path="$",
        )
        task.add_catch(
            sfn.Pass(self, f"{id}Unsettled", result=sfn.Result.from_object({"applied": False})),
            errors=["States.ALL"],
        )
        return task

    def _points_step(
        self, id: str = "ApplyPoints", *, source: str = "$.loyalty", type_path: str | None = None
    ) -> sfn.CustomState:
        """Credit (sale) or deduct (return) points: one request whose type is the order's (or,
        to compensate, its reversal's: ``source`` is then the compensation plan)."""
        return self._vendor_request(
            id,
            type=JsonPath.string_at(type_path or f"{source}.order_type"),
            data={
                "loyalty_reference": JsonPath.string_at(f"{source}.loyalty_reference"),
                "merchant_reference": JsonPath.string_at(f"{source}.merchant_reference"),
                "loyalty_order_reference": JsonPath.string_at("$.order_reference"),
                "points": JsonPath.number_at(f"{source}.points"),
            },
        )

    def _redemptions(
        self,
        kind: VendorRequestType,
        items: str,
        code: str,
        *,
        verb: str = "Redeem",
        source: str = "$.loyalty",
    ) -> sfn.Map:
        """A Map over the order's vouchers (or rewards): one request, one token, per item. The
        request is seed 000's Dispatch Voucher, field for field (a reversal's has its type)."""
        title = kind.value.split("-")[0].capitalize()
        redeem = self._vendor_request(
            f"{verb}{title}",
            type=kind.value,
            data={
                "loyalty_reference": JsonPath.string_at("$.loyalty_reference"),
                "merchant_reference": JsonPath.string_at("$.merchant_reference"),
                "loyalty_order_reference": JsonPath.string_at("$.loyalty_order_reference"),
                items: [{code: JsonPath.string_at(f"$.{code}")}],
            },
        )
        return sfn.Map(
            self,
            f"{verb}{title}s",
            items_path=f"{source}.{items}",
            item_selector={
                code: JsonPath.string_at(f"$$.Map.Item.Value.{code}"),
                "loyalty_reference": JsonPath.string_at(f"{source}.loyalty_reference"),
                "merchant_reference": JsonPath.string_at(f"{source}.merchant_reference"),
                "loyalty_order_reference": JsonPath.string_at("$.order_reference"),
            },
            max_concurrency=self._config.voucher_concurrency,
            result_path=JsonPath.DISCARD,
        ).item_processor(redeem)
