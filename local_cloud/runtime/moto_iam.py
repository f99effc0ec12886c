"""What the local IAM checks read from moto: a role's (or a user's) policies as deployed into
moto's IAM, the state machine a task token belongs to, a secret's full ARN."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any

from moto.iam.models import Policy, iam_backends
from moto.stepfunctions.parser.api import ExecutionStatus
from moto.stepfunctions.parser.models import stepfunctions_parser_backends

from local_cloud.runtime.iam_policy import listed
from local_cloud.runtime.moto_patches import token_issuer


@functools.lru_cache(maxsize=1024)
def _statements(document: str) -> tuple[dict[str, Any], ...]:
    return tuple(listed(json.loads(document)["Statement"]))


def policy_statements(policy: Any) -> tuple[dict[str, Any], ...]:
    """The statements of a policy as moto keeps it: an inline policy's document (its text, or a
    record holding it) or a managed policy, whose default version is the one in force."""
    if isinstance(policy, Policy):
        document = next(v.document for v in policy.versions if v.is_default)
    elif isinstance(policy, str):
        document = policy
    else:
        document = policy["policy_document"]
    return _statements(str(document))


class MotoLookups:
    def __init__(self, *, account: str, region: str, client: Callable[[str], Any]) -> None:
        self._account = account
        self._region = region
        self._secrets = client("secretsmanager")
        self._secret_arns: dict[str, str] = {}

    def statements_of(self, role_name: str) -> list[dict[str, Any]]:
        """Every statement of the role's inline and attached policies, read on each call (a
        policy changed in moto's IAM takes effect at once, as IAM's eventual consistency
        allows)."""
        role = iam_backends[self._account]["global"].get_role(role_name)
        policies = [*role.policies.values(), *role.managed_policies.values()]
        return [statement for policy in policies for statement in policy_statements(policy)]

    def token_owner(self, token: str) -> str | None:
        issuer = token_issuer(token)
        if issuer is not None:
            return (
                str(issuer.state_machine_arn) if issuer.status == ExecutionStatus.RUNNING else None
            )
        # Not recorded yet (its attempt is starting): looked for as moto looks for it.
        backend: Any = stepfunctions_parser_backends[self._account][self._region]
        for execution in backend._get_executions(ExecutionStatus.RUNNING):
            if execution.exec_worker.env.callback_pool_manager.get(token) is not None:
                return str(execution.state_machine_arn)
        return None

    def secret_arn(self, name: str) -> str:
        if name not in self._secret_arns:
            self._secret_arns[name] = self._secrets.describe_secret(SecretId=name)["ARN"]
        return self._secret_arns[name]
