"""Every AWS call a function's code makes is authorised against its execution role, as on AWS.

Each function runs with the credentials of its role, assumed in moto's STS as Lambda does
(``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY`` / ``AWS_SESSION_TOKEN`` in its environment).
A botocore ``before-call`` hook, registered for every session created once the local cloud
starts, looks up the signing key: a key of a function's role has the call mapped to the IAM
actions, resources and condition keys AWS authorises it with (the Service Authorization
Reference, and what AWS's refusals name where the reference lists no resource), and the role's
identity policies *as deployed into moto's IAM* are evaluated with ``iam_policy``. A denied call
gets the service's ``AccessDenied`` answer with IAM's wording and never reaches moto; a
``PutEvents`` entry that is not granted fails on its own, as ``PutEventsResultEntry`` documents.

Calls signed with any other key (the local cloud's own work: the event router, tests) stand for
AWS services acting under resource policies, which are not evaluated here; the construct tests
check those (``tests/infrastructure``). So would a call from a thread a handler starts, or with
keys a handler brings: no handler does either (a test keeps it so). A call this package cannot map
stops with an error naming it, and so does a client of one function used in another's
environment, so neither can slip past unchecked.

One job a module: the calls the app makes, as IAM authorises them (``call_mapping``); the
enforcer — the role sessions, IAM's decision on each call and the service's answer to a refusal
(``enforcer``); the botocore hook that puts every call before the one installed enforcer
(``installation``). The public names are re-exported here.
"""

from __future__ import annotations

from local_cloud.runtime.iam_enforcement.call_mapping import (
    Lookups,
    Request,
    UnmappedCallError,
    event_bus_arn,
    put_events_request,
    requests_for,
)
from local_cloud.runtime.iam_enforcement.enforcer import (
    CredentialsOfAnotherFunctionError,
    Enforcer,
    RoleSession,
    denial_message,
)
from local_cloud.runtime.iam_enforcement.installation import install, uninstall

__all__ = [
    "CredentialsOfAnotherFunctionError",
    "Enforcer",
    "Lookups",
    "Request",
    "RoleSession",
    "UnmappedCallError",
    "denial_message",
    "event_bus_arn",
    "install",
    "put_events_request",
    "requests_for",
    "uninstall",
]
