"""Deploys a template: each resource in dependency order (``graphlib``), created by the
resource module that knows its type, then the stack's outputs and exports."""

from __future__ import annotations

import graphlib
import re
from typing import Any

from local_cloud.runtime.deployer.api import ApiResources
from local_cloud.runtime.deployer.core import Deployed, DeployedStack, DeployError
from local_cloud.runtime.deployer.functions import FunctionResources
from local_cloud.runtime.deployer.intrinsics import _Context
from local_cloud.runtime.deployer.moto_resources import MotoResources

NO_RUNTIME_EFFECT = {
    "AWS::Lambda::Permission": "resource policies are not enforced locally",
    "AWS::SQS::QueuePolicy": "resource policies are not enforced locally",
    "AWS::S3::BucketPolicy": "resource policies are not enforced locally",
    "AWS::CDK::Metadata": "CDK analytics metadata",
    "AWS::CloudWatch::Alarm": "no alarms locally; the local cloud reports DLQ contents instead",
    "AWS::CloudWatch::Dashboard": "no dashboards locally",
    "AWS::SNS::Topic": "alarm notifications only",
    "AWS::SNS::Subscription": "alarm notifications only",
    "AWS::Logs::ResourcePolicy": "resource policies are not enforced locally",
}

PSEUDO_PARAMETERS = ("AWS::Region", "AWS::AccountId", "AWS::Partition", "AWS::URLSuffix")


class Deployer(MotoResources, FunctionResources, ApiResources):
    """Deploys templates into moto. ``environment_overrides`` replaces the value of those
    variables in every function that sets them (the local cloud points the mediator's vendor URL
    at the fake vendor, whose port is only known at run time); nothing else of a template is
    changed."""

    # -- public -------------------------------------------------------------------------------

    def deploy(self, stack_name: str, template: dict[str, Any]) -> DeployedStack:
        ctx = _Context(self, stack_name, template)
        skipped: dict[str, str] = {}
        for logical_id in _dependency_order(template["Resources"]):
            resource = template["Resources"][logical_id]
            if "Condition" in resource and not ctx.condition(resource["Condition"]):
                continue
            kind = resource["Type"]
            if kind in NO_RUNTIME_EFFECT:
                ctx.deployed[logical_id] = self._placeholder(ctx, logical_id, kind)
                skipped[logical_id] = kind
                continue
            create = getattr(self, "_create_" + kind.replace("::", "_").lower(), None)
            if create is None:
                raise DeployError(
                    f"{stack_name}/{logical_id}: resource type {kind} is not supported by the "
                    "local cloud; teach local_cloud/runtime/deployer/ how to create it"
                )
            properties = ctx.resolve(resource.get("Properties", {}))
            ctx.deployed[logical_id] = create(ctx, logical_id, properties, resource)
        outputs = {}
        for name, output in template.get("Outputs", {}).items():
            value = str(ctx.resolve(output["Value"]))
            outputs[name] = value
            export = output.get("Export", {}).get("Name")
            if export:
                self.exports[str(ctx.resolve(export))] = value
        return DeployedStack(stack_name, ctx.deployed, outputs, skipped)

    # -- resources ----------------------------------------------------------------------------

    def _placeholder(self, ctx: _Context, logical_id: str, kind: str) -> Deployed:
        name = self.physical_name(ctx.stack, logical_id)
        service = kind.split("::")[1].lower()
        arn = f"arn:aws:{service}::{self._account}:{name}"
        return Deployed(logical_id, kind, name, {"Arn": arn})


def _dependency_order(resources: dict[str, Any]) -> list[str]:
    """Resources sorted so each comes after everything it references."""

    def references(value: Any, found: set[str]) -> set[str]:
        if isinstance(value, dict):
            for key, arg in value.items():
                if key == "Ref" and isinstance(arg, str) and arg in resources:
                    found.add(arg)
                elif key == "Fn::GetAtt":
                    name = arg[0] if isinstance(arg, list) else str(arg).split(".", 1)[0]
                    if name in resources:
                        found.add(name)
                elif key == "Fn::Sub":
                    text = arg if isinstance(arg, str) else arg[0]
                    for name in re.findall(r"\$\{([^}.!]+)", text):
                        if name in resources:
                            found.add(name)
                    if not isinstance(arg, str):
                        references(arg[1], found)
                else:
                    references(arg, found)
        elif isinstance(value, list):
            for item in value:
                references(item, found)
        return found

    graph = {}
    for logical_id, resource in resources.items():
        deps = references(resource.get("Properties", {}), set())
        depends_on = resource.get("DependsOn", [])
        deps.update([depends_on] if isinstance(depends_on, str) else depends_on)
        graph[logical_id] = deps - {logical_id}

    # Each round takes every resource whose dependencies are deployed, in name order, so the
    # order is the same on every run.
    sorter = graphlib.TopologicalSorter({node: sorted(graph[node]) for node in sorted(graph)})
    try:
        sorter.prepare()
    except graphlib.CycleError as cycle:
        raise DeployError(f"dependency cycle: {' -> '.join(cycle.args[1])}") from None
    ordered: list[str] = []
    while sorter.is_active():
        ready = sorted(sorter.get_ready())
        ordered += ready
        sorter.done(*ready)
    return ordered
