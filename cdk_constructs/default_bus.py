"""The account's default EventBridge bus, with one-call rules whose targets never lose events."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import jsii
from aws_cdk import ArnFormat, Duration, Names, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk.interfaces.aws_events import IRuleRef
from constructs import Construct

from cdk_constructs.event_patterns import event_pattern_from_dict
from cdk_constructs.nag import acknowledge

EVENT_BUS_ENV = "EVENT_BUS"
EVENT_SOURCE_ENV = "EVENT_SOURCE"


@jsii.implements(events.IRuleTarget)
class _LogGroupTarget:
    """A CloudWatch Logs target without CDK's custom resource (the stack adds the policy)."""

    def __init__(
        self, arn: str, options: dict[str, Any], log_event: events.RuleTargetInput | None
    ) -> None:
        self._arn = arn
        self._options = options
        self._log_event = log_event

    def bind(self, rule: IRuleRef, id: str | None = None) -> events.RuleTargetConfig:
        dlq: sqs.Queue = self._options["dead_letter_queue"]
        # What CDK's own targets add to their dead-letter queues: without it EventBridge cannot
        # send a failed delivery there, and the event is dropped.
        dlq.add_to_resource_policy(
            iam.PolicyStatement(
                sid=f"AllowEventRule{Names.node_unique_id(rule.node)}",
                principals=[iam.ServicePrincipal("events.amazonaws.com")],
                actions=["sqs:SendMessage"],
                resources=[dlq.queue_arn],
                conditions={"ArnEquals": {"aws:SourceArn": rule.rule_ref.rule_arn}},
            )
        )
        return events.RuleTargetConfig(
            arn=self._arn,
            input=self._log_event,
            dead_letter_config=events.CfnRule.DeadLetterConfigProperty(arn=dlq.queue_arn),
            retry_policy=events.CfnRule.RetryPolicyProperty(
                maximum_retry_attempts=self._options["retry_attempts"],
                maximum_event_age_in_seconds=int(self._options["max_event_age"].to_seconds()),
            ),
        )


@dataclass(frozen=True)
class BusRule:
    rule: events.Rule
    dead_letter_queue: sqs.Queue
    """Events the rule could not deliver, and (for Lambda targets) invocations that failed after
    Lambda's own retries."""


class DefaultBus(Construct):
    """Wraps the account's default bus (seed 004's L3 bus).

    Every ``add_*_rule`` call creates a rule with the given pattern and one target that gets a
    retry policy and its own encrypted, SSL-only dead-letter queue. A Lambda target additionally
    gets, when it ``answers``: permission to put events on this bus and the ``EVENT_BUS`` /
    ``EVENT_SOURCE`` environment variables; and always: an async-invoke config that retries twice
    and then sends the failed event to the same dead-letter queue.

    Attributes: ``bus`` (the imported default bus), ``event_source`` (the source this service's
    functions put events with), ``dead_letter_queues``.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        event_source: str,
        target_retry_attempts: int = 185,
        target_max_event_age: Duration = Duration.hours(24),
        lambda_retry_attempts: int = 2,
        lambda_max_event_age: Duration = Duration.hours(6),
        dead_letter_retention: Duration = Duration.days(14),
        bus_name_env: str = EVENT_BUS_ENV,
        source_env: str = EVENT_SOURCE_ENV,
    ) -> None:
        super().__init__(scope, id)
        # The variables a publisher reads the bus and its source from (``add_publisher``).
        self._bus_name_env, self._source_env = bus_name_env, source_env
        if event_source.startswith("aws."):
            raise ValueError("event_source must not start with 'aws.' (reserved for AWS)")
        self.bus = events.EventBus.from_event_bus_name(self, "Default", "default")
        self.event_source = event_source
        self._target_retry_attempts = target_retry_attempts
        self._target_max_event_age = target_max_event_age
        self._lambda_retry_attempts = lambda_retry_attempts
        self._lambda_max_event_age = lambda_max_event_age
        self._dead_letter_retention = dead_letter_retention
        self._async_configured: set[str] = set()
        self.dead_letter_queues: list[sqs.Queue] = []
        """Every dead-letter queue this bus's rules created (for alarms on their depth)."""

    def grant_put_events(self, grantee: iam.IGrantable) -> iam.Grant:
        """``events:PutEvents`` on this bus as this service's ``event_source`` only (the
        ``events:source`` condition key): a grantee cannot put an event that another service's
        rules would take for that service's (a forged answer)."""
        source = {"events:source": self.event_source}
        # The deny also binds grants this construct does not write (CDK's EventBridgePutEvents
        # task adds an unconditioned allow to its state machine's role).
        grantee.grant_principal.add_to_principal_policy(
            iam.PolicyStatement(
                effect=iam.Effect.DENY,
                actions=["events:PutEvents"],
                resources=[self.bus.event_bus_arn],
                conditions={"StringNotEquals": source},
            )
        )
        return iam.Grant.add_to_principal(
            grantee=grantee,
            actions=["events:PutEvents"],
            resource_arns=[self.bus.event_bus_arn],
            conditions={"StringEquals": source},
        )

    def add_publisher(self, function: lambda_.Function) -> None:
        """Let ``function`` put events on the bus as this service: permission to put events and
        the bus's name and the source in the environment variables named at construction."""
        self.grant_put_events(function)
        function.add_environment(self._bus_name_env, self.bus.event_bus_name)
        function.add_environment(self._source_env, self.event_source)

    def add_lambda_rule(
        self,
        id: str,
        *,
        function: lambda_.Function,
        event_pattern: Mapping[str, Any],
        description: str,
        answers: bool = True,
        lambda_retry_attempts: int | None = None,
        lambda_max_event_age: Duration | None = None,
    ) -> BusRule:
        """A rule that invokes ``function`` asynchronously. ``lambda_retry_attempts`` and
        ``lambda_max_event_age`` override the bus's defaults for this function's own retries
        (e.g. a worker whose caller retries faster than Lambda would)."""
        added = self._add_rule(
            id,
            event_pattern,
            description,
            lambda options: targets.LambdaFunction(function, **options),
        )
        if function.node.path not in self._async_configured:
            # One async config per function; a function on several rules reports failures to the
            # dead-letter queue of the first.
            function.configure_async_invoke(
                retry_attempts=self._lambda_retry_attempts
                if lambda_retry_attempts is None
                else lambda_retry_attempts,
                max_event_age=lambda_max_event_age or self._lambda_max_event_age,
                on_failure=destinations.SqsDestination(added.dead_letter_queue),
            )
            self._async_configured.add(function.node.path)
            acknowledge(
                function,
                "Serverless-LambdaDLQ",
                "Invoked asynchronously by EventBridge only; failed invocations go to the "
                "on-failure destination of its EventInvokeConfig (an SQS queue), which carries "
                "more context than a DeadLetterConfig",
            )
        if answers:
            self.add_publisher(function)
        return added

    def add_state_machine_rule(
        self,
        id: str,
        *,
        state_machine: sfn.IStateMachine,
        event_pattern: Mapping[str, Any],
        description: str,
    ) -> BusRule:
        return self._add_rule(
            id,
            event_pattern,
            description,
            lambda options: targets.SfnStateMachine(state_machine, **options),
        )

    def add_log_group_rule(
        self,
        id: str,
        *,
        log_group: logs.ILogGroup,
        event_pattern: Mapping[str, Any],
        description: str,
        log_event: events.RuleTargetInput | None = None,
    ) -> BusRule:
        """Matching events into ``log_group``: whole, or as ``log_event`` renders them (which
        must be CloudWatch Logs' ``{"timestamp": ..., "message": "<a string>"}``). The log
        group gets the resource policy EventBridge needs (one per log group, however many rules
        write to it: an account has at most 10), without a custom resource."""
        arn = Stack.of(self).format_arn(
            service="logs",
            resource="log-group",
            resource_name=log_group.log_group_name,
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )
        policy_id = f"{Names.node_unique_id(log_group.node)}Policy"
        if self.node.try_find_child(policy_id) is None:
            logs.ResourcePolicy(
                self,
                policy_id,
                policy_statements=[
                    iam.PolicyStatement(
                        principals=[
                            iam.ServicePrincipal("events.amazonaws.com"),
                            iam.ServicePrincipal("delivery.logs.amazonaws.com"),
                        ],
                        actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                        resources=[f"{arn}:*"],
                    )
                ],
            )
        return self._add_rule(
            id,
            event_pattern,
            description,
            lambda options: _LogGroupTarget(arn, options, log_event),
        )

    def add_queue_rule(
        self,
        id: str,
        *,
        queue: sqs.IQueue,
        event_pattern: Mapping[str, Any],
        description: str,
    ) -> BusRule:
        return self._add_rule(
            id, event_pattern, description, lambda options: targets.SqsQueue(queue, **options)
        )

    # -- helpers ------------------------------------------------------------------------------

    def _add_rule(
        self,
        id: str,
        pattern: Mapping[str, Any],
        description: str,
        target: Callable[[dict[str, Any]], events.IRuleTarget],
    ) -> BusRule:
        """A rule with one target; ``target`` gets the retry and dead-letter options to use."""
        dlq = self._dead_letter_queue(id)
        rule = events.Rule(
            self,
            id,
            event_bus=self.bus,
            description=description,
            event_pattern=event_pattern_from_dict(pattern),
        )
        rule.add_target(
            target(
                {
                    "dead_letter_queue": dlq,
                    "retry_attempts": self._target_retry_attempts,
                    "max_event_age": self._target_max_event_age,
                }
            )
        )
        return BusRule(rule, dlq)

    def _dead_letter_queue(self, id: str) -> sqs.Queue:
        queue = sqs.Queue(
            self,
            f"{id}DeadLetterQueue",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=self._dead_letter_retention,
        )
        reason = (
            "This queue is itself a dead-letter queue: of the EventBridge rule's target (and, "
            "for a Lambda target, of its on-failure destination); cdk-nag only recognises SQS "
            "redrive policies as DLQ use"
        )
        acknowledge(queue, "AwsSolutions-SQS3", reason)
        acknowledge(queue, "Serverless-SQSRedrivePolicy", reason)
        self.dead_letter_queues.append(queue)
        return queue
