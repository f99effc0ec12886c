"""The naive designs `bench.cost` compares this one with, derived from an order's counted units."""

from __future__ import annotations

from collections import Counter

from bench.usage import OrderUsage


def naive(usage: OrderUsage, *, status_states: bool) -> OrderUsage:
    """The seeds' naive designs for the same order, derived from these counts: every step a
    synchronous ``lambda:invoke`` task (the function does the work, vendor calls included, while
    the machine waits); with ``status_states``, also a DynamoDB ``updateItem`` state after each
    step to keep the order status (seed 002's status updates). No step events, no Step Finisher,
    no buffer queue; the same functions do the same work (so the same Lambda duration and table
    requests), each invoked once per step."""
    return OrderUsage(
        name=usage.name,
        status=usage.status,
        state_transitions=usage.state_transitions + (usage.waiting_tasks if status_states else 0),
        events=1,  # order.received still arrives by event
        event_bytes=usage.event_bytes // max(usage.events, 1),
        archive_bytes=usage.archive_bytes,  # the same token-free events
        lambda_invocations=Counter({"steps": usage.waiting_tasks, "starter": 1}),
        lambda_gb_seconds=usage.lambda_gb_seconds,
        dynamodb_read_units=usage.dynamodb_read_units,
        dynamodb_write_units=usage.dynamodb_write_units,
        api_requests=usage.api_requests,
        log_bytes=usage.log_bytes - usage.event_bytes,
        waiting_tasks=0,
    )
