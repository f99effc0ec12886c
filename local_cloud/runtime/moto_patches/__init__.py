"""Gaps in moto 5.2.5 that change what the app observes, filled here (and only here).

* ``SendTaskFailure`` drops its ``cause`` parameter in moto's response layer (its ASL engine
  supports one), so a failed order would lose its reason. Forwarded.
* ``SendTaskSuccess``/``Failure``/``Heartbeat`` look for the token in every execution the
  backend ever ran (each Step Finisher run included) and ask each one: the cost of an answer grew
  with the executions before it, a GIL-bound scan that took a quarter of the local cloud's time
  after 600 orders and starved everything else (the fake vendor answered past the mediator's
  timeouts) in the fault suite's 2,000-order modules. Each task token is now recorded with the
  execution that issued it, and the three calls ask that execution alone, with moto's own code
  (a token not recorded yet is looked for as moto does; one nobody issued is ``InvalidToken``).
* They also looked in every running execution,
  including one that was created a moment ago and has no worker environment yet; that one raises
  ``AttributeError`` and the call fails (seen as ``States.Runtime`` in the Step Finisher, so a
  worker's answer was lost and the order waited for its heartbeat; with 500 orders at once, an
  execution caught before it even has a status did the same to the Token Handler). Executions
  without a status or a worker cannot hold the token, so they are skipped.
* A ``waitForTaskToken`` task with a heartbeat sets up its heartbeat wait only after its request
  (``PutEvents``) returned. An answer that arrives sooner (a fast worker: EventBridge delivers
  while ``PutEvents`` is still writing to its other targets) is stored, but the heartbeat wait
  never hears of it, and the task times out on its heartbeat instead of resuming. On AWS the
  answer resumes the task. Fixed: a heartbeat wait set up after the answer starts as notified.
* ``StartReplay`` sends every archived event to every rule of the bus, ignoring the replay's
  time window and ``Destination.FilterArns`` (the README's replay procedure relies on both: it
  re-drives lost orders through the order starter's rule only). Honoured.
* A ``waitForTaskToken`` task keeps one task token for all its attempts, and a token stays
  open after its attempt ended. On AWS every attempt (a retry after a heartbeat timeout) gets a
  new token, and an answer with the token of an attempt that ended is refused (``TaskTimedOut``
  for one that timed out, else ``TaskDoesNotExist``; moto names both ``TaskDoesNotExist``, which
  the resumers treat alike). In moto a late answer from a stalled worker
  resumed the retry (or vanished silently), so neither resumer ever saw a closed token. Fixed:
  a fresh token per retry, and the token is closed when its attempt ends.
* ``SendTaskSuccess``/``Failure`` with a closed or unknown token raise moto's ``TaskTimedOut``,
  ``TaskDoesNotExist`` or ``InvalidToken`` without the message their base class requires, so
  the call failed with a ``TypeError`` (a 500, or ``States.Runtime`` in the Step Finisher)
  instead of the named error both resumers expect and drop. Given their AWS codes and messages.
* Every request to any moto service goes through ``BackendDict._create_account_specific_backend``,
  which takes a process-wide lock and scans a list even when the account's backend exists: with
  many threads (executions, handlers, pollers) it serialised the whole local cloud (a profile of
  a 500-voucher order spent a fifth of its samples there). A backend that exists is returned
  without the lock; creating one still goes through moto's code.
* Every JSONPath moto evaluates is parsed by a parser built for that one call (jsonpath_ng builds
  its lexer and its LALR tables each time): the ASL engine's paths (``$.order_reference``, a
  ``ResultPath``) and, worse, EventBridge's delivery to log groups, archives and queues, which
  parses the eight paths of its default input template for every event and every such target.
  A profile of the local cloud at 16 orders in flight spent a quarter of its time building
  those parsers. Parsed paths are immutable and depend only on the text, so each is parsed once
  (the ``jsonpath_ng.ext.parse`` that moto's EventBridge imports at every call, and the ASL
  engine's two imports of ``parse``); results are unchanged.
* The ASL engine creates a new boto3 client for every task of a service integration
  (``events:putEvents``, ``aws-sdk:sfn:sendTaskSuccess``): a tenth of that profile. Clients are
  thread-safe and these carry no state of the task (fixed dummy credentials, no retries), so one
  per region and service is reused, created exactly as moto creates it.
* The ASL engine parses the state machine's definition (antlr4, in pure Python) at the start of
  every execution: with the two fixes above, a third of the local cloud's time at 16 orders in
  flight, where every worker's answer starts a Step Finisher execution. A parsed program keeps
  all the state of a run in the execution's environment (moto already runs one program in many
  Map iterations and Parallel branches at once), so each definition is parsed once and its
  program shared by the executions that run it.
* DynamoDB requests were not atomic per item under threads (a conditional write's check and
  change could interleave with another thread's): see ``moto_dynamodb``.

* ``lambda:invoke`` tasks (the approval step's ``.waitForTaskToken``) call moto's Lambda, which
  would start a container for this app's functions. The engine's Lambda client runs them in the
  local runtime instead, as a synchronous invocation with AWS's answer for a function error
  (``FunctionError: Unhandled``, ``errorType``; ``Sandbox.Timedout`` for a timeout).
* An ``events:putEvents`` task whose request EventBridge refuses as a whole (an error answer,
  such as ``ThrottlingException`` when the account's ``PutEvents`` quota is exceeded) fails in
  moto with ``States.Runtime``, which no ``Retry`` or ``Catch`` matches: the execution fails.
  Step Functions names a service's errors in its integrations ``<Service>.<Exception>``, the
  exception being the SDK's class for the error code (moto's own rule for ``aws-sdk`` tasks):
  ``EventBridge.ThrottlingException`` (EventBridge's API model declares ``ThrottlingException``),
  ``EventBridge.InternalException``; a code the model does not declare is
  ``EventBridge.EventBridgeException`` (as ``Sfn.SfnException``).

* The ``states:startExecution`` integration (``.sync:2``: a child state machine run to its end)
  fails in moto: it hands botocore PascalCase parameter names, reads the answer under names the
  SDK does not return and cannot write the answer's dates as JSON. Fixed to give the task AWS's
  output. And moto names every execution started without a name ``None``: a second one with
  the same input got the first one's ARN back, with another input ``ExecutionAlreadyExists``.
  Named with a UUID, as AWS does (``child_executions``).
* Activities: each execution had an empty activity store of its own and there was no
  ``GetActivityTask``. One store per account and Region, ``GetActivityTask`` with AWS's 60 s
  long poll, and a heartbeat accepted for any open task (``activities``).

Not a gap, but hooked here because it sits in the ASL engine's client above: the fault suite's
knob for EventBridge refusing a state machine's ``PutEvents`` (``LocalCloud.
state_machine_put_events_fault``, which holds the policy). The engine's ``events`` client is
wrapped so that, while ``intercept_state_machine_put_events`` is active, its ``put_events`` can
be answered by the interceptor instead of moto (nothing is put then). Only the ASL engine's
calls pass through that client: the handlers' and tests' ``put_events`` do not. With no
interceptor the call goes to moto unchanged. The engine treats the answer as it treats moto's: a
non-zero ``FailedEntryCount`` fails the task with ``EventBridge.FailedEntry``, as on AWS
(https://docs.aws.amazon.com/step-functions/latest/dg/connect-eventbridge.html).

One job a module: the Step Functions task tokens — who issued each, the answers to them, a token
per attempt and its closing, the errors that name them (``task_tokens``); EventBridge's
``StartReplay`` (``event_replay``); the ASL engine's boto3 clients — one shared per region and
service, the ``events`` client's interceptor, the ``lambda`` client that runs the local runtime's
functions, the names of EventBridge's errors in an ``events:putEvents`` task (``engine_clients``);
what moto did on every call that is now done once — the backend lookup's lock, JSONPath and state
machine definition parsing (``overheads``); activities (``activities``); child executions and
execution names (``child_executions``); ``apply``, which installs them all, once and in order
(``installation``). The public names are re-exported here.
"""

from __future__ import annotations

from local_cloud.runtime.moto_patches.engine_clients import (
    LAMBDA_TIMEOUT_ERROR_TYPE,
    LambdaInvoker,
    PutEventsInterceptor,
    intercept_state_machine_put_events,
    route_state_machine_lambda_invokes,
)
from local_cloud.runtime.moto_patches.installation import apply
from local_cloud.runtime.moto_patches.task_tokens import token_issuer

__all__ = [
    "LAMBDA_TIMEOUT_ERROR_TYPE",
    "LambdaInvoker",
    "PutEventsInterceptor",
    "apply",
    "intercept_state_machine_put_events",
    "route_state_machine_lambda_invokes",
    "token_issuer",
]
