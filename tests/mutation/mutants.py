"""Small, wrong changes to a module's source, one at a time: what a test suite should notice.

Each mutant is found on the module's syntax tree and named by what it changes (operator, line,
the text before and after), so a list of equivalent mutants survives unrelated edits elsewhere in
the module. Docstrings, type annotations and the messages given to the logger, metrics or tracer
are left alone: a change there is not a change in behaviour.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

_COMPARISONS: dict[type[ast.cmpop], type[ast.cmpop]] = {
    ast.Lt: ast.LtE,
    ast.LtE: ast.Lt,
    ast.Gt: ast.GtE,
    ast.GtE: ast.Gt,
    ast.Eq: ast.NotEq,
    ast.NotEq: ast.Eq,
    ast.In: ast.NotIn,
    ast.NotIn: ast.In,
    ast.Is: ast.IsNot,
    ast.IsNot: ast.Is,
}
_ARITHMETIC: dict[type[ast.operator], type[ast.operator]] = {
    ast.Add: ast.Sub,
    ast.Sub: ast.Add,
    ast.Mult: ast.Div,
    ast.Div: ast.Mult,
    ast.FloorDiv: ast.Div,
}
_SWAPPED_CALLS = {"min": "max", "max": "min"}
# DynamoDB expressions (conditions, updates, key conditions) are strings: the edits a slip makes.
_EXPRESSION_EDITS = (
    (r" AND ", " OR "),
    (r" OR ", " AND "),
    (r"\battribute_not_exists\(", "attribute_exists("),
    (r"\battribute_exists\(", "attribute_not_exists("),
    (r" <> ", " = "),
    (r" = (?=:)", " <> "),
    (r" < (?=:)", " <= "),
    (r" <= (?=:)", " < "),
    (r" > (?=:)", " >= "),
    (r" >= (?=:)", " > "),
)
_EXPRESSION_HINT = re.compile(
    r"attribute_(not_)?exists\(|[#:][a-z_]+\b.*\b(AND|OR|=)\b|^SET |^ADD "
)
_QUIET_OWNERS = {"logger", "metrics", "tracer", "log"}


@dataclass(frozen=True)
class Mutant:
    module: str
    """The module's path, relative to the repository."""
    where: str
    """The function or class it is in."""
    line: int
    end_line: int
    operator: str
    before: str
    after: str
    index: int
    """Position of the changed node in ``ast.walk`` order: how ``apply`` finds it again."""
    occurrence: int = 1
    """Which of the module's identical changes this is (same place, operator and text), in
    source order: the key tells them apart."""
    at_import: bool = False
    """Run when the module is imported (module level, class bodies, defaults, decorators), not
    when a function is called: whichever test first imported the module ran it."""
    variant: int = 0
    """Which edit of that node (a string can be edited in several places)."""

    @property
    def key(self) -> str:
        """Stable across edits elsewhere in the module: what the equivalents list names."""
        key = f"{self.module} {self.where}: {self.operator}: {self.before} -> {self.after}"
        return key if self.occurrence == 1 else f"{key} #{self.occurrence}"

    def describe(self) -> str:
        where = f"{self.module}:{self.line} ({self.where})"
        return f"{where} {self.operator}: {self.before} -> {self.after}"


def _skipped(tree: ast.Module) -> set[int]:
    """ids of nodes never mutated: docstrings, annotations, logger/metrics/tracer calls."""
    skipped: set[int] = set()

    def skip(node: ast.AST | None) -> None:
        if node is not None:
            skipped.update(id(n) for n in ast.walk(node))

    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                skip(body[0])
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            skip(node.returns)
            for arg in [*node.args.args, *node.args.kwonlyargs, *node.args.posonlyargs]:
                skip(arg.annotation)
            skip(node.args.vararg.annotation if node.args.vararg else None)
            skip(node.args.kwarg.annotation if node.args.kwarg else None)
        if isinstance(node, ast.AnnAssign):
            skip(node.annotation)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            owner = node.func.value
            if isinstance(owner, ast.Name) and owner.id in _QUIET_OWNERS:
                skip(node)
        if isinstance(node, ast.JoinedStr):  # messages
            skip(node)
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
            skip(node)
    return skipped


_SHOWN = 80
"""Characters of a changed node's text shown (and keyed); a longer text is shown from a little
before the change, so two edits of one long expression read differently."""


def _texts(node: ast.AST, changed: ast.AST) -> tuple[str, str]:
    before, after = (ast.unparse(n).replace("\n", " ") for n in (node, changed))
    if max(len(before), len(after)) <= _SHOWN:
        return before, after
    common = next(
        (i for i, (a, b) in enumerate(zip(before, after, strict=False)) if a != b),
        min(len(before), len(after)),
    )
    start = max(0, common - 20)
    cut = "..." if start else ""
    return cut + before[start : start + _SHOWN], cut + after[start : start + _SHOWN]


def _edits(node: ast.AST) -> Iterator[tuple[str, Callable[[ast.AST], ast.AST | None]]]:
    """(operator name, edit) for each way this node can be changed; an edit changes the node in
    place and returns None, or returns the node that replaces it."""
    if isinstance(node, ast.Compare):
        for i, op in enumerate(node.ops):
            swapped = _COMPARISONS.get(type(op))
            if swapped is not None:

                def flip(n: ast.AST, i: int = i, swapped: type[ast.cmpop] = swapped) -> None:
                    assert isinstance(n, ast.Compare)
                    n.ops[i] = swapped()

                yield "comparison", flip
    elif isinstance(node, ast.BoolOp):

        def swap(n: ast.AST) -> None:
            assert isinstance(n, ast.BoolOp)
            n.op = ast.Or() if isinstance(n.op, ast.And) else ast.And()

        yield "and/or", swap
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        yield "not dropped", lambda n: n.operand  # type: ignore[attr-defined, no-any-return]
    elif isinstance(node, ast.BinOp) and type(node.op) in _ARITHMETIC:

        def arithmetic(n: ast.AST) -> None:
            assert isinstance(n, ast.BinOp)
            n.op = _ARITHMETIC[type(n.op)]()

        yield "arithmetic", arithmetic
    elif isinstance(node, ast.Constant):
        value = node.value
        if isinstance(value, bool):

            def negate(n: ast.AST) -> None:
                assert isinstance(n, ast.Constant)
                n.value = not n.value

            yield "boolean", negate
        elif isinstance(value, (int, float)):

            def off_by_one(n: ast.AST) -> None:
                assert isinstance(n, ast.Constant)
                n.value = n.value + 1

            yield "constant", off_by_one
        elif isinstance(value, str) and _EXPRESSION_HINT.search(value):
            for pattern, replacement in _EXPRESSION_EDITS:
                for match in re.finditer(pattern, value):

                    def edit(
                        n: ast.AST,
                        start: int = match.start(),
                        end: int = match.end(),
                        r: str = replacement,
                    ) -> None:
                        assert isinstance(n, ast.Constant)
                        n.value = n.value[:start] + r + n.value[end:]

                    yield "expression", edit
    elif isinstance(node, ast.Raise):
        yield "raise dropped", lambda n: ast.Pass()
    elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        if node.func.id in _SWAPPED_CALLS:

            def swap_call(n: ast.AST) -> None:
                assert isinstance(n, ast.Call) and isinstance(n.func, ast.Name)
                n.func.id = _SWAPPED_CALLS[n.func.id]

            yield "min/max", swap_call
    elif isinstance(node, ast.Dict) and len(node.keys) >= 2:
        for i, key in enumerate(node.keys):
            if key is not None:

                def drop(n: ast.AST, i: int = i) -> None:
                    assert isinstance(n, ast.Dict)
                    del n.keys[i], n.values[i]

                yield "entry dropped", drop


def _replace(tree: ast.AST, old: ast.AST, new: ast.AST) -> None:
    for parent in ast.walk(tree):
        for field, value in ast.iter_fields(parent):
            if value is old:
                setattr(parent, field, new)
                return
            if isinstance(value, list) and any(v is old for v in value):
                value[next(i for i, v in enumerate(value) if v is old)] = new
                return
    raise LookupError("node not found in its tree")


def _mutated(source: str, index: int, variant: int) -> tuple[ast.Module, ast.AST]:
    """The module's tree with one edit, and the node as it is after the edit."""
    tree = ast.parse(source)
    node = list(ast.walk(tree))[index]
    _, edit = list(_edits(node))[variant]
    replacement = edit(node)
    if replacement is not None:
        ast.copy_location(replacement, node)
        _replace(tree, node, replacement)
        node = replacement
    ast.fix_missing_locations(tree)
    return tree, node


def _enclosing(tree: ast.Module) -> dict[int, tuple[str, bool]]:
    """id of each node -> the name of the function or class it is in (the module: ''), and
    whether it runs at import (outside every function body)."""
    names: dict[int, tuple[str, bool]] = {}

    def visit(node: ast.AST, where: str, at_import: bool) -> None:
        names[id(node)] = (where, at_import)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            inner = f"{where}.{node.name}" if where else node.name
            for child in ast.iter_child_nodes(node):
                in_body = any(child is statement for statement in node.body)
                visit(child, inner, at_import and not in_body)
            return
        if isinstance(node, ast.ClassDef):
            where = f"{where}.{node.name}" if where else node.name
        if isinstance(node, ast.Lambda):
            at_import = False
        for child in ast.iter_child_nodes(node):
            visit(child, where, at_import)

    visit(tree, "", True)
    return names


def mutants(module: str, source: str) -> list[Mutant]:
    """Every mutant of ``source`` (the text of ``module``)."""
    tree = ast.parse(source)
    skipped = _skipped(tree)
    where = _enclosing(tree)
    found: list[Mutant] = []
    for index, node in enumerate(ast.walk(tree)):
        if id(node) in skipped:
            continue
        for variant, (operator, _) in enumerate(_edits(node)):
            _, changed = _mutated(source, index, variant)
            before, after = _texts(node, changed)
            found.append(
                Mutant(
                    module=module,
                    where=where[id(node)][0] or "<module>",
                    at_import=where[id(node)][1],
                    line=getattr(node, "lineno", 0),
                    end_line=getattr(node, "end_lineno", None) or getattr(node, "lineno", 0),
                    operator=operator,
                    before=before,
                    after=after,
                    index=index,
                    variant=variant,
                )
            )
    return _numbered(found)


def _numbered(found: list[Mutant]) -> list[Mutant]:
    """Identical changes in one function, numbered in source order."""
    seen: dict[str, int] = {}
    numbered = []
    for mutant in sorted(found, key=lambda m: (m.line, m.index, m.variant)):
        seen[mutant.key] = seen.get(mutant.key, 0) + 1
        numbered.append(replace(mutant, occurrence=seen[mutant.key]))
    order = {(m.index, m.variant): i for i, m in enumerate(found)}
    return sorted(numbered, key=lambda m: order[(m.index, m.variant)])


def apply(mutant: Mutant, source: str) -> str:
    """The module's source with this one change."""
    tree, _ = _mutated(source, mutant.index, mutant.variant)
    return ast.unparse(tree) + "\n"
