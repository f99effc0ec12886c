"""No copy of a contract value outside the contract: the names services agree on (sources, step
and event names, error names, environment variables, token fields, the claim-check prefix) are
written once, in ``loyalty.contract``, and imported everywhere else. A copy would agree with the
contract only by coincidence, until one of them changes."""

from __future__ import annotations

import re
from enum import Enum
from pathlib import Path

from loyalty import contract

ROOT = Path(__file__).resolve().parents[2]
SCANNED = ["app.py", "cdk_constructs", "stacks", "lambdas", "local_cloud", "fake_vendor", "bench"]
ENUMS: list[type[Enum]] = [
    contract.Source,
    contract.TaskAnswer,
    contract.OrderStep,
    contract.OrderEvent,
    contract.ErrorName,
    contract.Env,
]
CONSTANTS = [
    contract.TASK_TOKEN_FIELD,
    contract.VENDOR_TOKEN_FIELD,
    contract.CLAIM_CHECK_PREFIX,
    contract.ORDER_STEP_CATEGORY,
    contract.ORDER_LIFECYCLE_CATEGORY,
    contract.TASK_STATUS_CATEGORY,
]
ALLOWED = {
    # A reusable construct's own defaults; the app's stacks pass the contract's values.
    ("cdk_constructs/default_bus.py", "EVENT_BUS"),
    ("cdk_constructs/default_bus.py", "EVENT_SOURCE"),
    ("cdk_constructs/event_driven_state_machine.py", "TaskToken"),
    ("cdk_constructs/event_driven_state_machine.py", "StepTimedOut"),
    # SendTaskSuccess's own parameter name (the AWS API's), not the contract's event field.
    ("cdk_constructs/step_finisher.py", "TaskToken"),
    # Construct ids (states, alarms) that read like the error or status they stand for.
    ("stacks/order_flow.py", "ApprovalNotOpened"),
    ("stacks/order_flow.py", "OrderCancelled"),
    ("stacks/order_flow.py", "OrderRejected"),
    ("stacks/order_flow.py", "CompensationFailed"),
    ("stacks/observability.py", "CompensationFailed"),
}


def _known_values() -> set[str]:
    values = {str(member.value) for enum in ENUMS for member in enum}
    return values | set(CONSTANTS)


def _files() -> list[Path]:
    files: list[Path] = []
    for name in SCANNED:
        path = ROOT / name
        files += [path] if path.is_file() else sorted(path.rglob("*.py"))
    contract_package = ROOT / "lambdas/loyalty/contract"
    return [f for f in files if contract_package not in f.parents]


def test_no_file_copies_a_contract_value() -> None:
    values = _known_values()
    quoted = re.compile(r"""["']([^"'\n]{4,})["']""")
    copies = []
    for file in _files():
        relative = file.relative_to(ROOT).as_posix()
        for number, line in enumerate(file.read_text().splitlines(), 1):
            if line.lstrip().startswith("#"):
                continue
            for literal in quoted.findall(line):
                copied = literal in values or literal.startswith(contract.CLAIM_CHECK_PREFIX)
                if copied and (relative, literal) not in ALLOWED:
                    copies.append(f"{relative}:{number}: {literal!r}")
    assert copies == []


def test_the_scan_would_see_a_copy() -> None:
    """The scan is not vacuous: the allowed copies are really there."""
    for relative, literal in ALLOWED:
        assert f'"{literal}"' in (ROOT / relative).read_text(), (relative, literal)
