"""What every resource module of the deployer works with: the records of what it deployed, the
clients of moto's services, the account and region, the local objects it made (functions, event
source mappings, APIs, role sessions) and CloudFormation's naming."""

from __future__ import annotations

import re
import secrets
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from local_cloud.runtime.api_gateway import LocalRestApi
from local_cloud.runtime.iam_enforcement import RoleSession
from local_cloud.runtime.lambda_runtime import LocalFunction
from local_cloud.runtime.sqs_pollers import EventSourceMapping


class DeployError(RuntimeError):
    pass


@dataclass
class Deployed:
    logical_id: str
    type: str
    ref: str
    attributes: dict[str, str] = field(default_factory=dict)
    physical: Any = None
    """What the local cloud keeps for it (e.g. the LocalFunction)."""


@dataclass
class DeployedStack:
    name: str
    resources: dict[str, Deployed]
    outputs: dict[str, str]
    skipped: dict[str, str]

    def of_type(self, resource_type: str) -> list[Deployed]:
        return [r for r in self.resources.values() if r.type == resource_type]


class DeployerBase:
    """The deployer's state, shared by its resource modules (see ``Deployer``)."""

    def __init__(
        self,
        *,
        clients: Callable[[str], Any],
        account: str,
        region: str,
        code_dir: Path,
        log_dir: Path | None,
        transform_definition: Callable[[str], str] = lambda d: d,
        public_parameter: Callable[[str], str | None] = lambda path: None,
        environment_overrides: Mapping[str, str] | None = None,
    ) -> None:
        self._client = clients
        self._account = account
        self._region = region
        self._code_dir = code_dir
        self._log_dir = log_dir
        self._transform_definition = transform_definition
        self._public_parameter = public_parameter
        self._environment_overrides = dict(environment_overrides or {})
        self.exports: dict[str, str] = {}
        self.functions: dict[str, LocalFunction] = {}  # by ARN
        self.event_source_mappings: list[EventSourceMapping] = []
        self.apis: dict[str, LocalRestApi] = {}
        self.role_sessions: dict[str, RoleSession] = {}
        """The functions' role sessions, by access key."""

    # -- naming -------------------------------------------------------------------------------

    @staticmethod
    def physical_name(stack: str, logical_id: str, max_length: int = 64) -> str:
        """Like CloudFormation: ``<stack>-<logical id>-<random>``, within the service's limit."""
        suffix = "".join(secrets.choice(string.ascii_uppercase + string.digits) for _ in range(8))
        base = re.sub(r"[^A-Za-z0-9-]", "", f"{stack}-{logical_id}")
        return f"{base[: max_length - len(suffix) - 1]}-{suffix}"

    def arn(self, service: str, resource: str) -> str:
        return f"arn:aws:{service}:{self._region}:{self._account}:{resource}"
