"""The deployer creates each resource after everything it references (``Ref``, ``Fn::GetAtt``,
``Fn::Sub``, ``DependsOn``), in the same order on every run, and refuses a cycle by name."""

from __future__ import annotations

from typing import Any

import pytest

from local_cloud.runtime.deployer import DeployError
from local_cloud.runtime.deployer.orchestration import _dependency_order


def resource(**properties: Any) -> dict[str, Any]:
    return {"Type": "AWS::Test::Thing", "Properties": properties}


def test_each_resource_comes_after_what_it_references() -> None:
    resources = {
        "Function": resource(Role={"Fn::GetAtt": ["Role", "Arn"]}, Queue={"Ref": "Queue"}),
        "Role": resource(Policy={"Fn::Sub": "arn:${Bucket.Arn}/${AWS::Region}"}),
        "Bucket": resource(),
        "Queue": {**resource(), "DependsOn": "Bucket"},
        "Mapping": resource(Source={"Fn::Sub": ["${Q}", {"Q": {"Ref": "Queue"}}]}),
        "Alone": resource(),
    }
    order = _dependency_order(resources)

    assert sorted(order) == sorted(resources)
    position = {name: i for i, name in enumerate(order)}
    for before, after in [
        ("Role", "Function"),
        ("Queue", "Function"),
        ("Bucket", "Role"),
        ("Bucket", "Queue"),
        ("Queue", "Mapping"),
    ]:
        assert position[before] < position[after], order
    assert _dependency_order(dict(reversed(resources.items()))) == order


def test_a_cycle_is_refused_with_its_path() -> None:
    resources = {
        "A": resource(Next={"Ref": "B"}),
        "B": resource(Next={"Fn::GetAtt": "C.Arn"}),
        "C": {**resource(), "DependsOn": ["A"]},
        "D": resource(),
    }
    with pytest.raises(DeployError, match=r"dependency cycle: (\w -> ){3}\w"):
        _dependency_order(resources)
