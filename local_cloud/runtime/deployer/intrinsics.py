"""Intrinsic-function resolution within one stack: ``Ref``, ``Fn::GetAtt``, ``Fn::Join``,
``Fn::Sub``, ``Fn::Select``, ``Fn::Split``, ``Fn::ImportValue``, the conditions and the pseudo
parameters."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from local_cloud.runtime.deployer.core import Deployed, DeployError

if TYPE_CHECKING:
    from local_cloud.runtime.deployer.orchestration import Deployer


class _Context:
    """Intrinsic-function resolution within one stack."""

    def __init__(self, deployer: Deployer, stack: str, template: dict[str, Any]) -> None:
        self.deployer = deployer
        self.stack = stack
        self.template = template
        self.deployed: dict[str, Deployed] = {}
        self._parameters = {
            name: self._parameter(name, spec)
            for name, spec in template.get("Parameters", {}).items()
        }

    def _parameter(self, name: str, spec: dict[str, Any]) -> str:
        if spec.get("Type", "").startswith("AWS::SSM::Parameter::Value"):
            path = spec["Default"]
            public = self.deployer._public_parameter(path)
            if public is not None:
                return public
            try:
                response = self.deployer._client("ssm").get_parameter(Name=path)
            except Exception as err:
                raise DeployError(
                    f"{self.stack}: SSM parameter {path} (for {name}) is missing"
                ) from err
            return str(response["Parameter"]["Value"])
        if "Default" not in spec:
            raise DeployError(f"{self.stack}: parameter {name} has no default")
        return str(spec["Default"])

    def pseudo(self, name: str) -> str:
        return {
            "AWS::Region": self.deployer._region,
            "AWS::AccountId": self.deployer._account,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackName": self.stack,
            "AWS::StackId": self.deployer.arn("cloudformation", f"stack/{self.stack}/local"),
        }[name]

    def ref(self, name: str) -> str:
        if name in self._parameters:
            return self._parameters[name]
        if name.startswith("AWS::"):
            return self.pseudo(name)
        if name not in self.deployed:
            raise DeployError(f"{self.stack}: Ref to {name}, which is not deployed (yet)")
        return self.deployed[name].ref

    def get_att(self, name: str, attribute: str) -> str:
        resource = self.deployed.get(name)
        if resource is None:
            raise DeployError(f"{self.stack}: GetAtt {name}.{attribute} before {name} exists")
        if attribute not in resource.attributes:
            raise DeployError(
                f"{self.stack}: {resource.type} {name} has no attribute {attribute} locally"
            )
        return resource.attributes[attribute]

    def condition(self, name: str) -> bool:
        return bool(self.resolve(self.template["Conditions"][name]))

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [item for item in (self.resolve(v) for v in value) if item is not _NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, arg),) = value.items()
            if key == "Ref":
                return _NO_VALUE if arg == "AWS::NoValue" else self.ref(arg)
            if key == "Fn::GetAtt":
                name, attribute = arg if isinstance(arg, list) else arg.split(".", 1)
                return self.get_att(name, attribute)
            if key == "Fn::Join":
                separator, items = arg
                return separator.join(str(v) for v in self.resolve(items))
            if key == "Fn::Sub":
                return self._sub(arg)
            if key == "Fn::Select":
                index, items = self.resolve(arg)
                return items[int(index)]
            if key == "Fn::Split":
                separator, text = self.resolve(arg)
                return str(text).split(separator)
            if key == "Fn::ImportValue":
                return self.deployer.exports[self.resolve(arg)]
            if key == "Fn::If":
                name, if_true, if_false = arg
                return self.resolve(if_true if self.condition(name) else if_false)
            if key == "Fn::Equals":
                left, right = self.resolve(arg)
                return left == right
            if key == "Fn::Not":
                return not self.resolve(arg[0])
            if key == "Fn::And":
                return all(self.resolve(arg))
            if key == "Fn::Or":
                return any(self.resolve(arg))
            if key == "Condition":
                return self.condition(arg)
            if key.startswith("Fn::"):
                raise DeployError(f"{self.stack}: intrinsic {key} is not supported locally")
        resolved = {k: self.resolve(v) for k, v in value.items()}
        return {k: v for k, v in resolved.items() if v is not _NO_VALUE}

    def _sub(self, arg: Any) -> str:
        text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], self.resolve(arg[1]))

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in variables:
                return str(variables[name])
            if "." in name:
                resource, attribute = name.split(".", 1)
                return self.get_att(resource, attribute)
            return self.ref(name)

        return re.sub(r"\$\{([^}!]+)\}", replace, text)


_NO_VALUE = object()
