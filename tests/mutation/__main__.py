"""`make mutation`: how many small wrong changes to the code where money and state move the unit
and handler tests notice.

Each mutant (``tests/mutation/mutants.py``) is written into a private copy of the repository and
run against the module's tests that execute the mutated lines (pytest-cov's per-test contexts,
measured on one clean run per package; a line run at import gets all of them), stopping
at the first failure. A mutant is caught when a test fails or the run outlives three times the
clean run. Mutants that cannot change behaviour are listed with the reason in
``tests/mutation/equivalent.py`` and not counted.

    .venv/bin/python -m tests.mutation                      # every target (about half an hour)
    .venv/bin/python -m tests.mutation --module points.py   # the targets whose path ends so
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from queue import Queue

import coverage

from local_cloud.run.progress import OrderProgress
from tests.mutation.equivalent import EQUIVALENT
from tests.mutation.mutants import Mutant, apply, mutants

ROOT = Path(__file__).resolve().parents[2]
_DOMAIN_TESTS = ("tests/unit/domain",)
_MEDIATOR_TESTS = (
    "tests/unit/test_mediator_policy.py",
    "tests/unit/test_backoff.py",
    "tests/unit/test_vendor_client.py",
    "tests/handlers/test_resilience.py",
    "tests/handlers/test_request_state.py",
    "tests/handlers/test_vendor_mediator.py",
)
_ORDERS_TABLE_TESTS = (
    "tests/handlers/test_order_record.py",
    "tests/handlers/test_orders_table_faults.py",
    "tests/handlers/test_order_steps.py",
    "tests/handlers/test_token_handler.py",
    "tests/handlers/test_rerun.py",
    "tests/handlers/test_compensation.py",
    "tests/handlers/test_repair_races.py",
)
TARGETS: dict[str, tuple[str, ...]] = {
    "lambdas/loyalty/domain/points.py": _DOMAIN_TESTS,
    "lambdas/loyalty/domain/discounts.py": _DOMAIN_TESTS,
    "lambdas/loyalty/domain/validation.py": _DOMAIN_TESTS,
    "lambdas/loyalty/domain/settlement.py": _DOMAIN_TESTS,
    "lambdas/loyalty/domain/compensation.py": (
        *_DOMAIN_TESTS,
        "tests/handlers/test_compensation.py",
    ),
    "lambdas/vendor_mediator/resilience.py": _MEDIATOR_TESTS,
    "lambdas/vendor_mediator/mediation.py": _MEDIATOR_TESTS,
    "lambdas/vendor_mediator/request_state.py": _MEDIATOR_TESTS,
    "lambdas/loyalty/adapters/orders_table/items.py": _ORDERS_TABLE_TESTS,
    "lambdas/loyalty/adapters/orders_table/lifecycle.py": _ORDERS_TABLE_TESTS,
    "lambdas/loyalty/adapters/orders_table/record.py": _ORDERS_TABLE_TESTS,
    "lambdas/loyalty/adapters/orders_table/refusals.py": _ORDERS_TABLE_TESTS,
    "lambdas/loyalty/adapters/orders_table/reruns.py": _ORDERS_TABLE_TESTS,
}
"""Each module where money and state move, and the unit and handler tests that speak for it."""

_COPY_IGNORES = shutil.ignore_patterns(
    ".git",
    ".venv",
    "node_modules",
    "cdk.out",
    ".local_cloud",
    "__pycache__",
    ".*_cache",
    ".hypothesis",
)


@dataclass(frozen=True)
class Outcome:
    mutant: Mutant
    verdict: str
    """caught, survived, timeout (counted as caught) or equivalent."""
    seconds: float


_PYTEST = ("-q", "-p", "no:cacheprovider")


@dataclass(frozen=True)
class Coverage:
    """Which tests executed each line of a module, on a clean run."""

    tests: tuple[str, ...]
    by_line: dict[int, list[str]]

    def tests_for(self, mutant: Mutant) -> tuple[str, ...]:
        """The tests that ran the mutated lines, as pytest node ids; every test of the module
        for a line run at import (a constant, a default: whichever test imported the module
        first is the one that "ran" it) or that no test ran."""
        if mutant.at_import:
            return self.tests
        nodes = {
            context.rsplit("|", 1)[0]
            for line in range(mutant.line, mutant.end_line + 1)
            for context in self.by_line.get(line, [])
            if context
        }
        return tuple(sorted(nodes)) if nodes else self.tests


class Workspace:
    """A private copy of the repository for one worker: mutants are written here, never in the
    working tree, and no bytecode is written (a stale .pyc could hide a mutant)."""

    def __init__(self, parent: Path, number: int) -> None:
        self.root = parent / f"w{number}"
        self.templates = parent / "templates"  # one synth for every run (tests/conftest.py)
        self.templates.mkdir(exist_ok=True)
        shutil.copytree(ROOT, self.root, ignore=_COPY_IGNORES, symlinks=True)
        for shared in (".venv", "node_modules"):
            if (ROOT / shared).exists():
                (self.root / shared).symlink_to(ROOT / shared)

    def pytest(self, tests: Sequence[str], timeout: float) -> tuple[bool | None, float]:
        """(passed, seconds), stopping at the first failure; passed is None when the run
        outlived ``timeout``."""
        return self._run(["-m", "pytest", "-x", *_PYTEST, *tests], timeout)

    def measure(self, package: Path, tests: Sequence[str]) -> tuple[bool, float, Path]:
        """A clean run of ``tests`` that records which test executed each line of ``package``
        (pytest-cov's per-test contexts: ``<node id>|run``); the coverage data's path."""
        data = self.root / f".mutation-coverage-{abs(hash((package, *tests)))}"
        data.unlink(missing_ok=True)
        cov = [f"--cov={self.root / package}", "--cov-context=test", "--cov-report="]
        passed, seconds = self._run(
            ["-m", "pytest", *cov, *_PYTEST, *tests], 1800, COVERAGE_FILE=str(data)
        )
        return bool(passed), seconds, data

    def coverage(self, data: Path, module: str, tests: Sequence[str]) -> Coverage:
        """What ``data`` (measured in this workspace) says of ``module``."""
        measured = coverage.CoverageData(basename=str(data))
        measured.read()
        return Coverage(tuple(tests), measured.contexts_by_lineno(str(self.root / module)))

    def _run(
        self, arguments: list[str], timeout: float, **environment: str
    ) -> tuple[bool | None, float]:
        env = {
            **os.environ,
            "PYTHONDONTWRITEBYTECODE": "1",
            "LOAD_ORDERS": "0",
            "FAULT_ORDERS": "0",
            "LOYALTY_TEST_TEMPLATES": str(self.templates),
            **environment,
        }
        started = time.monotonic()
        try:
            done = subprocess.run(
                [sys.executable, *arguments],
                cwd=self.root,
                env=env,
                capture_output=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return None, time.monotonic() - started
        return done.returncode == 0, time.monotonic() - started

    @contextmanager
    def mutated(self, mutant: Mutant) -> Iterator[None]:
        path = self.root / mutant.module
        original = path.read_text()
        path.write_text(apply(mutant, original))
        try:
            yield
        finally:
            path.write_text(original)


def _score(outcomes: list[Outcome]) -> tuple[int, int, int, float]:
    counted = [o for o in outcomes if o.verdict != "equivalent"]
    caught = sum(o.verdict in ("caught", "timeout") for o in counted)
    equivalent = len(outcomes) - len(counted)
    return len(outcomes), caught, equivalent, (100.0 * caught / len(counted) if counted else 100.0)


def _table(results: dict[str, list[Outcome]]) -> str:
    rows = [
        "| module | mutants | caught | of which by timeout | equivalent | score |",
        "|---|---|---|---|---|---|",
    ]
    for module, outcomes in results.items():
        total, caught, equivalent, score = _score(outcomes)
        timeouts = sum(o.verdict == "timeout" for o in outcomes)
        name = module.removeprefix("lambdas/")
        rows.append(f"| {name} | {total} | {caught} | {timeouts} | {equivalent} | {score:.0f}% |")
    return "\n".join(rows)


def run(targets: dict[str, tuple[str, ...]], workers: int) -> dict[str, list[Outcome]]:
    results: dict[str, list[Outcome]] = {}
    with tempfile.TemporaryDirectory(prefix="mutation-") as parent:
        spaces: Queue[Workspace] = Queue()
        for number in range(workers):
            spaces.put(Workspace(Path(parent), number))
        # One clean run serves every module of a package that shares its tests.
        clean: dict[tuple[Path, tuple[str, ...]], tuple[float, Path, Workspace]] = {}
        for module, tests in targets.items():
            space = spaces.get()
            measured = (Path(module).parent, tests)
            if measured not in clean:
                passed, seconds, data = space.measure(*measured)
                if not passed:
                    raise SystemExit(
                        f"error: the tests of {module} fail without any mutant: {tests}"
                    )
                clean[measured] = seconds, data, space
            clean_seconds, data, measurer = clean[measured]
            covered = measurer.coverage(data, module, tests)
            spaces.put(space)
            # From the workspace's copy, the tree as it was at the start, as the tests see it.
            found = mutants(module, (measurer.root / module).read_text())
            print(
                f"\n{module}: {len(found)} mutants, tests {clean_seconds:.1f}s clean "
                f"({', '.join(tests)})",
                flush=True,
            )
            judge = _Judge(module, len(found), covered, max(60.0, 3 * clean_seconds), spaces)
            with ThreadPoolExecutor(max_workers=workers) as pool:
                outcomes = list(pool.map(judge, found))
            judge.progress.close()
            total, caught, equivalent, score = _score(outcomes)
            print(
                f"  {caught} of {total - equivalent} caught "
                f"({equivalent} equivalent): {score:.0f}%",
                flush=True,
            )
            results[module] = outcomes
    return results


class _Judge:
    """Runs one module's mutants in whichever workspace is free, printing survivors as they are
    found and the progress (a bar on a terminal, a line a minute in a log)."""

    def __init__(
        self,
        module: str,
        total: int,
        covered: Coverage,
        timeout: float,
        spaces: Queue[Workspace],
    ) -> None:
        self.covered = covered
        self.timeout = timeout
        self.spaces = spaces
        self.progress = OrderProgress(
            total, label=Path(module).name, verb="judged", stream=sys.stderr, every=60
        )
        self.judged = 0
        self.survived = 0
        self._lock = threading.Lock()

    def __call__(self, mutant: Mutant) -> Outcome:
        outcome = self._judge(mutant)
        with self._lock:
            self.judged += 1
            if outcome.verdict == "survived":
                self.survived += 1
                self.progress.clear()
                print(f"  survived: {mutant.describe()}", flush=True)
            self.progress.show(self.judged, f"{self.survived} survived")
        return outcome

    def _judge(self, mutant: Mutant) -> Outcome:
        if mutant.key in EQUIVALENT:
            return Outcome(mutant, "equivalent", 0.0)
        space = self.spaces.get()
        try:
            with space.mutated(mutant):
                passed, seconds = space.pytest(self.covered.tests_for(mutant), self.timeout)
        finally:
            self.spaces.put(space)
        verdict = "timeout" if passed is None else "survived" if passed else "caught"
        return Outcome(mutant, verdict, seconds)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.mutation",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--module",
        action="append",
        default=[],
        help="only the targets whose path ends with this (repeatable; default: all)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=os.cpu_count() or 1,
        help="mutants tested at once (default: the cores)",
    )
    parser.add_argument("--list", action="store_true", help="list the mutants, run nothing")
    parser.add_argument("--json", metavar="PATH", help="also write every outcome to PATH")
    args = parser.parse_args(argv)
    targets = {
        module: tests
        for module, tests in TARGETS.items()
        if not args.module or any(module.endswith(suffix) for suffix in args.module)
    }
    if not targets:
        parser.error(f"no target ends with {args.module}; the targets: {', '.join(TARGETS)}")
    if args.list:
        for module in targets:
            for mutant in mutants(module, (ROOT / module).read_text()):
                mark = "  (equivalent)" if mutant.key in EQUIVALENT else ""
                print(f"{mutant.describe()}{mark}")
        return 0
    started = time.monotonic()
    results = run(targets, max(1, args.workers))
    print(
        f"\nMutation score, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()}-core "
        f"{platform.machine()}, {time.monotonic() - started:.0f}s "
        f"(`.venv/bin/python -m tests.mutation`):\n\n{_table(results)}"
    )
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {m: [asdict(o) for o in outcomes] for m, outcomes in results.items()}, indent=2
            )
            + "\n"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
