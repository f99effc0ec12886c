"""An SQS buffer in front of a Lambda function: bounded concurrency, partial batch failures,
and a dead-letter queue with a redrive path."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from cdk_constructs.nag import acknowledge


class QueueConsumer(Construct):
    """Creates an encrypted, SSL-only queue and its dead-letter queue, and makes ``function``
    consume the queue through an event source mapping with ``ReportBatchItemFailures`` (one
    failed record never re-runs its neighbours) and ``MaximumConcurrency`` (a bound on how many
    invocations run at once, whatever the backlog).

    The function may also change a message's visibility (to put it back with a delay) and send to
    the dead-letter queue (to park a message it can never process); their URLs are set in the
    environment variables named by ``queue_url_env`` and ``dead_letter_queue_url_env``.

    Messages come back from the dead-letter queue with SQS's redrive (``StartMessageMoveTask``,
    or "Start DLQ redrive" in the console), which the dead-letter queue allows.

    Attributes: ``queue``, ``dead_letter_queue``.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        function: lambda_.Function,
        batch_size: int,
        max_concurrency: int,
        visibility_timeout: Duration,
        retention_period: Duration,
        max_receive_count: int,
        dead_letter_retention: Duration = Duration.days(14),
        queue_url_env: str = "QUEUE_URL",
        dead_letter_queue_url_env: str = "DEAD_LETTER_QUEUE_URL",
    ) -> None:
        super().__init__(scope, id)
        self.dead_letter_queue = sqs.Queue(
            self,
            "DeadLetterQueue",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=dead_letter_retention,
        )
        self.queue = sqs.Queue(
            self,
            "Queue",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            visibility_timeout=visibility_timeout,
            retention_period=retention_period,
            dead_letter_queue=sqs.DeadLetterQueue(
                queue=self.dead_letter_queue, max_receive_count=max_receive_count
            ),
        )
        function.add_event_source(
            event_sources.SqsEventSource(
                self.queue,
                batch_size=batch_size,
                max_concurrency=max_concurrency,
                report_batch_item_failures=True,
            )
        )
        self.queue.grant(function, "sqs:ChangeMessageVisibility")
        self.dead_letter_queue.grant_send_messages(function)
        function.add_environment(queue_url_env, self.queue.queue_url)
        function.add_environment(dead_letter_queue_url_env, self.dead_letter_queue.queue_url)
        acknowledge(
            self.dead_letter_queue,
            "Serverless-SQSRedrivePolicy",
            "This is the dead-letter queue of the buffer queue; a DLQ of a DLQ would only hide "
            "messages further (they come back with a DLQ redrive)",
        )
        acknowledge(
            function,
            "Serverless-LambdaEventSourceMappingDestination",
            "SQS event source mappings do not support an OnFailure destination; records that "
            "keep failing move to the queue's dead-letter queue through its redrive policy",
        )
        acknowledge(
            function,
            "Serverless-LambdaDLQ",
            "Invoked synchronously by the SQS event source mapping; a Lambda DeadLetterConfig "
            "only applies to asynchronous invocations. The queue's redrive policy is the DLQ",
        )
