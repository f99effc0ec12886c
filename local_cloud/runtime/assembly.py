"""A cloud assembly (``cdk.out``) as the local cloud deploys it: its stacks' templates, in the
order their dependencies impose, read from ``manifest.json`` as the CDK CLI reads it.

The local cloud runs the Lambda handlers from the project's ``lambdas/`` tree (in-process, under
coverage and type checks), so it deploys an assembly only if every function asset in it holds
exactly that code: what runs locally is what ``cdk deploy`` would upload.
"""

from __future__ import annotations

import graphlib
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

STACK_ARTIFACT = "aws:cloudformation:stack"
UNKNOWN_ACCOUNT = "unknown-account"
UNKNOWN_REGION = "unknown-region"


class AssemblyError(RuntimeError):
    """The directory is not a deployable cloud assembly (missing, unreadable, stale, bound to
    another account or region)."""


@dataclass(frozen=True)
class CloudAssembly:
    directory: Path
    templates: Mapping[str, dict[str, Any]]
    """Each stack's template by stack name, dependencies first."""

    @classmethod
    def read(cls, directory: Path, *, account: str, region: str) -> CloudAssembly:
        """The assembly in ``directory``, to be deployed in ``account`` and ``region``. An
        environment-agnostic stack deploys anywhere; a stack bound to another account or region
        is refused, as CloudFormation would not deploy it there either."""
        manifest_path = directory / "manifest.json"
        try:
            manifest = json.loads(manifest_path.read_text())
        except FileNotFoundError:
            raise AssemblyError(
                f"{directory} is not a cloud assembly (no manifest.json): synthesise first "
                "(`make synth`, or local_cloud.run.synth.synthesise)"
            ) from None
        except (OSError, ValueError) as err:
            raise AssemblyError(f"{manifest_path}: unreadable ({err})") from None
        artifacts: dict[str, dict[str, Any]] = {
            name: artifact
            for name, artifact in manifest.get("artifacts", {}).items()
            if artifact.get("type") == STACK_ARTIFACT
        }
        if not artifacts:
            raise AssemblyError(f"{manifest_path}: no stacks in this assembly")
        order = graphlib.TopologicalSorter(
            {
                name: [d for d in artifact.get("dependencies", []) if d in artifacts]
                for name, artifact in artifacts.items()
            }
        )
        templates: dict[str, dict[str, Any]] = {}
        for name in order.static_order():
            artifact = artifacts[name]
            _check_environment(name, artifact.get("environment", ""), account, region)
            properties = artifact.get("properties", {})
            template_path = directory / properties["templateFile"]
            templates[properties.get("stackName", name)] = json.loads(template_path.read_text())
        return cls(directory=directory, templates=templates)

    def check_function_code(self, code_dir: Path) -> None:
        """Refuse the assembly unless each Lambda function asset in it is ``code_dir``'s Python
        code, file for file (a stale ``cdk.out`` would otherwise test yesterday's templates
        against today's handlers)."""
        expected = python_files_digest(code_dir)
        checked: set[str] = set()
        for stack, template in self.templates.items():
            for logical_id, resource in template.get("Resources", {}).items():
                if resource.get("Type") != "AWS::Lambda::Function":
                    continue
                asset = resource.get("Metadata", {}).get("aws:asset:path")
                if asset is None:
                    raise AssemblyError(
                        f"{stack}/{logical_id}: no aws:asset:path metadata (synthesise with "
                        "asset metadata, as `cdk synth` does by default)"
                    )
                if asset in checked:
                    continue
                if python_files_digest(self.directory / asset) != expected:
                    raise AssemblyError(
                        f"{self.directory / asset} (the code of {stack}/{logical_id}) differs "
                        f"from {code_dir}: the assembly is stale; synthesise again"
                    )
                checked.add(asset)


def _check_environment(stack: str, environment: str, account: str, region: str) -> None:
    bound_account, _, bound_region = environment.removeprefix("aws://").partition("/")
    if bound_account not in (UNKNOWN_ACCOUNT, account) or bound_region not in (
        UNKNOWN_REGION,
        region,
    ):
        raise AssemblyError(
            f"{stack} is bound to {environment}; the local cloud is aws://{account}/{region}. "
            "Synthesise without loyalty:account / loyalty:region (environment-agnostic) or with "
            "the local ones"
        )


def python_files_digest(root: Path) -> str:
    """One digest of every ``.py`` file under ``root`` (paths and contents)."""
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        if "__pycache__" in path.parts:
            continue
        digest.update(str(path.relative_to(root)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()
