"""The local cloud deploys a cloud assembly as the CDK CLI reads one: stacks in their
``manifest.json`` dependency order, refused when it is not an assembly, is bound to another
account or region, or holds other Lambda code than ``lambdas/``."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from local_cloud.runtime.assembly import AssemblyError, CloudAssembly

ACCOUNT, REGION = "123456789012", "us-east-1"
AGNOSTIC = "aws://unknown-account/unknown-region"


def stack(
    name: str, *, depends_on: tuple[str, ...] = (), environment: str = AGNOSTIC
) -> dict[str, Any]:
    return {
        "type": "aws:cloudformation:stack",
        "environment": environment,
        # Asset manifests are dependencies too; they are not stacks to deploy.
        "dependencies": [*depends_on, f"{name}.assets"],
        "properties": {"templateFile": f"{name}.template.json"},
    }


def write_assembly(directory: Path, stacks: dict[str, dict[str, Any]]) -> Path:
    artifacts: dict[str, Any] = {"Tree": {"type": "cdk:tree"}}
    for name, artifact in stacks.items():
        artifacts[f"{name}.assets"] = {"type": "cdk:asset-manifest"}
        artifacts[name] = artifact
        (directory / f"{name}.template.json").write_text(
            json.dumps({"Resources": {}, "Description": name})
        )
    (directory / "manifest.json").write_text(
        json.dumps({"version": "55.0.0", "artifacts": artifacts})
    )
    return directory


def test_stacks_are_read_dependencies_first_whatever_the_manifest_order(tmp_path: Path) -> None:
    write_assembly(
        tmp_path,
        {
            "Observability": stack("Observability", depends_on=("Api", "Processing", "Mediator")),
            "Api": stack("Api", depends_on=("Processing",)),
            "Mediator": stack("Mediator"),
            "Processing": stack("Processing"),
        },
    )
    assembly = CloudAssembly.read(tmp_path, account=ACCOUNT, region=REGION)

    names = list(assembly.templates)
    assert sorted(names) == ["Api", "Mediator", "Observability", "Processing"]
    assert names.index("Processing") < names.index("Api") < names.index("Observability")
    assert names.index("Mediator") < names.index("Observability")
    assert assembly.templates["Api"]["Description"] == "Api"


def test_a_stack_named_otherwise_than_its_artifact_keeps_its_stack_name(tmp_path: Path) -> None:
    artifact = stack("Processing")
    artifact["properties"]["stackName"] = "Loyalty-DevOrderProcessing"
    write_assembly(tmp_path, {"Processing": artifact})

    assembly = CloudAssembly.read(tmp_path, account=ACCOUNT, region=REGION)

    assert list(assembly.templates) == ["Loyalty-DevOrderProcessing"]


def test_a_directory_without_a_manifest_says_to_synthesise_first(tmp_path: Path) -> None:
    with pytest.raises(AssemblyError, match=r"no manifest\.json.*synthesise first"):
        CloudAssembly.read(tmp_path, account=ACCOUNT, region=REGION)


@pytest.mark.parametrize(
    ("environment", "refused"),
    [
        (f"aws://{ACCOUNT}/{REGION}", False),
        (AGNOSTIC, False),
        ("aws://111111111111/us-east-1", True),
        (f"aws://{ACCOUNT}/eu-west-1", True),
        ("aws://unknown-account/eu-west-1", True),
    ],
)
def test_a_stack_bound_to_another_account_or_region_is_refused(
    tmp_path: Path, environment: str, refused: bool
) -> None:
    write_assembly(tmp_path, {"Processing": stack("Processing", environment=environment)})

    if refused:
        with pytest.raises(AssemblyError, match=f"Processing is bound to {environment}"):
            CloudAssembly.read(tmp_path, account=ACCOUNT, region=REGION)
    else:
        CloudAssembly.read(tmp_path, account=ACCOUNT, region=REGION)


def with_function(assembly_dir: Path, code: Path, *, asset: str = "asset.abc") -> CloudAssembly:
    shutil.copytree(code, assembly_dir / asset)
    write_assembly(assembly_dir, {"Processing": stack("Processing")})
    template = {
        "Resources": {
            "Worker": {
                "Type": "AWS::Lambda::Function",
                "Metadata": {"aws:asset:path": asset},
                "Properties": {},
            }
        }
    }
    (assembly_dir / "Processing.template.json").write_text(json.dumps(template))
    return CloudAssembly.read(assembly_dir, account=ACCOUNT, region=REGION)


@pytest.fixture
def code(tmp_path: Path) -> Path:
    root = tmp_path / "lambdas"
    (root / "order_steps").mkdir(parents=True)
    (root / "order_steps" / "store.py").write_text("def handler(event, context): ...\n")
    (root / "order_steps" / "README.txt").write_text("not code")
    return root


def test_function_code_equal_to_the_project_s_passes(tmp_path: Path, code: Path) -> None:
    assembly_dir = tmp_path / "cdk.out"
    assembly_dir.mkdir()
    with_function(assembly_dir, code).check_function_code(code)


@pytest.mark.parametrize("change", ["edited", "added", "removed"])
def test_a_stale_function_asset_is_refused(tmp_path: Path, code: Path, change: str) -> None:
    assembly_dir = tmp_path / "cdk.out"
    assembly_dir.mkdir()
    assembly = with_function(assembly_dir, code)
    if change == "edited":
        (code / "order_steps" / "store.py").write_text("def handler(event, context): 1\n")
    elif change == "added":
        (code / "order_steps" / "complete.py").write_text("")
    else:
        (code / "order_steps" / "store.py").unlink()

    with pytest.raises(AssemblyError, match=r"Processing/Worker.*stale; synthesise again"):
        assembly.check_function_code(code)


def test_a_function_without_asset_metadata_is_refused(tmp_path: Path, code: Path) -> None:
    assembly_dir = tmp_path / "cdk.out"
    assembly_dir.mkdir()
    assembly = with_function(assembly_dir, code)
    del assembly.templates["Processing"]["Resources"]["Worker"]["Metadata"]

    with pytest.raises(AssemblyError, match="no aws:asset:path metadata"):
        assembly.check_function_code(code)
