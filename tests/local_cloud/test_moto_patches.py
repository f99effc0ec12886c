"""The moto gaps ``local_cloud.moto_patches`` fills, each shown on moto's own objects."""

from __future__ import annotations

import threading

from moto.stepfunctions.parser.asl.eval.callback.callback import (
    CallbackEndpoint,
    CallbackOutcomeSuccess,
)

from local_cloud import moto_patches


def test_an_answer_before_the_heartbeat_wait_is_set_up_still_resumes_the_task() -> None:
    """A fast worker answers while the task's PutEvents is still in flight."""
    moto_patches.apply()
    endpoint = CallbackEndpoint(callback_id="token-1")
    endpoint.notify(CallbackOutcomeSuccess(callback_id="token-1", output='{"ok": true}'))

    heartbeat = endpoint.setup_heartbeat_endpoint(heartbeat_seconds=30)

    assert heartbeat.clear_and_wait() is True  # at once, not after 30 s of heartbeat timeout
    outcome = endpoint.get_outcome()
    assert isinstance(outcome, CallbackOutcomeSuccess) and outcome.output == '{"ok": true}'


def test_an_answer_after_the_heartbeat_wait_is_set_up_resumes_it_as_before() -> None:
    moto_patches.apply()
    endpoint = CallbackEndpoint(callback_id="token-2")
    heartbeat = endpoint.setup_heartbeat_endpoint(heartbeat_seconds=30)
    answer = threading.Timer(
        0.05,
        endpoint.notify,
        [CallbackOutcomeSuccess(callback_id="token-2", output="{}")],
    )
    answer.start()

    assert heartbeat.clear_and_wait() is True
    assert endpoint.get_outcome() is not None
