"""Column-mapping expressions (``--map amount=Quantity*UnitPrice``) turned into Ibis.

The text is parsed with :mod:`ast` (never evaluated) and only a small language is accepted:
column names, numbers, strings, ``+ - * /``, comparisons, ``and``/``or``/``not``, the
functions ``col("Name With Spaces")`` and ``coalesce(a, b)``, and the string methods
``startswith``, ``endswith``, ``contains``, ``lower``, ``upper``, ``strip``. Text columns in
arithmetic are cast to numbers (a value that is not a number becomes null).
"""

from __future__ import annotations

import ast
import operator
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import ibis
import ibis.expr.types as ir

from patron.data.contracts import normalise_name
from patron.errors import UsageError

__all__ = ["as_number", "compile_expression", "referenced_names", "resolve_column"]

_ARITH: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
}
_COMPARE: dict[type[ast.cmpop], Callable[[Any, Any], Any]] = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
}
#: A single ``=`` (not part of ``==``, ``!=``, ``<=``, ``>=``): someone meant to compare.
_LONE_EQUALS = re.compile(r"(?<![=!<>])=(?!=)")
_METHODS = {"startswith", "endswith", "contains", "lower", "upper", "strip"}


def resolve_column(table: ir.Table, name: str) -> str | None:
    """The table's column called ``name``: exact, then case- and punctuation-insensitive."""
    if name in table.columns:
        return name
    wanted = normalise_name(name)
    for col in table.columns:
        if normalise_name(col) == wanted:
            return str(col)
    return None


def as_number(value: Any) -> Any:
    """Cast a text column to float64 (a leading currency sign is dropped; junk -> null)."""
    if isinstance(value, ir.StringValue):
        cleaned = value.strip().re_replace(r"^[$£€]", "")
        return cleaned.try_cast("float64")
    return value


def referenced_names(text: str) -> set[str]:
    """The column names an expression mentions (bare names and ``col('Name')``), lower-cased.

    Unparseable text gives an empty set; :func:`compile_expression` reports the error.
    """
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError:
        return set()
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            names.add(node.id.lower())
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "col"
            and node.args
            and isinstance(node.args[0], ast.Constant)
        ):
            names.add(str(node.args[0].value).lower())
    return names


def compile_expression(
    text: str,
    table: ir.Table,
    *,
    what: str = "--map",
    aliases: Mapping[str, Any] | None = None,
    source: str = "the file",
    condition: bool = False,
    available: Sequence[str] | None = None,
) -> ir.Value:
    """Compile ``text`` into an Ibis expression over ``table``'s columns.

    Parameters
    ----------
    text
        The expression, e.g. ``Quantity*UnitPrice`` or ``order_id.startswith('C')``.
    table
        The table whose columns the names refer to.
    what
        The option the text came from, for messages.
    aliases
        Extra names (e.g. contract columns already computed) usable in the expression.
    source
        What ``table`` is, for messages ("the file", "the audience table").
    condition
        Whether the expression must be true/false (a rule, an audience); else a
        :class:`UsageError` says so.
    available
        The column names a "no column" message lists (default: ``table``'s), for a table
        that joins more columns only when an expression names them.
    """
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        hint = ""
        if _LONE_EQUALS.search(text):
            hint = " Use == to compare (e.g. tier == 'MVC'); a single = assigns."
        raise UsageError(f"{what} {text!r} is not a valid expression: {exc.msg}.{hint}") from None
    aliases = dict(aliases or {})

    def column(name: str) -> ir.Value:
        if name in aliases:
            return aliases[name]
        found = resolve_column(table, name)
        if found is None:
            names = available if available is not None else table.columns
            cols = ", ".join(c for c in names if not c.startswith("_"))
            raise UsageError(f"{what} {text!r}: no column {name!r}; {source} has: {cols}.")
        return table[found]

    def walk(node: ast.AST) -> Any:
        if isinstance(node, ast.Expression):
            return walk(node.body)
        if isinstance(node, ast.Name):
            return column(node.id)
        if isinstance(node, ast.Constant) and isinstance(node.value, int | float | str):
            return ibis.literal(node.value)
        if isinstance(node, ast.BinOp) and type(node.op) in _ARITH:
            return _ARITH[type(node.op)](as_number(walk(node.left)), as_number(walk(node.right)))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return -as_number(walk(node.operand))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            return ~walk(node.operand)
        if isinstance(node, ast.BoolOp):
            values = [walk(v) for v in node.values]
            combine = operator.and_ if isinstance(node.op, ast.And) else operator.or_
            result = values[0]
            for v in values[1:]:
                result = combine(result, v)
            return result
        if isinstance(node, ast.Compare) and len(node.ops) == 1 and type(node.ops[0]) in _COMPARE:
            left, right = walk(node.left), walk(node.comparators[0])
            if isinstance(left, ir.NumericValue) or isinstance(right, ir.NumericValue):
                left, right = as_number(left), as_number(right)
            return _COMPARE[type(node.ops[0])](left, right)
        if (
            isinstance(node, ast.Compare)
            and len(node.ops) == 1
            and isinstance(node.ops[0], ast.In | ast.NotIn)
            and (
                isinstance(node.comparators[0], ast.Constant)  # "x in ('a')" is one value
                or (
                    isinstance(node.comparators[0], ast.Tuple | ast.List)
                    and all(isinstance(e, ast.Constant) for e in node.comparators[0].elts)
                )
            )
        ):
            right = node.comparators[0]
            elts = [right] if isinstance(right, ast.Constant) else getattr(right, "elts", [])
            values = [e.value for e in elts if isinstance(e, ast.Constant)]
            member = walk(node.left).isin(values)
            return member if isinstance(node.ops[0], ast.In) else ~member
        if isinstance(node, ast.Call):
            args = node.args
            if isinstance(node.func, ast.Name):
                if node.func.id == "col" and len(args) == 1 and isinstance(args[0], ast.Constant):
                    return column(str(args[0].value))
                if node.func.id == "coalesce" and args:
                    return ibis.coalesce(*(walk(a) for a in args))
            if isinstance(node.func, ast.Attribute) and node.func.attr in _METHODS:
                target = walk(node.func.value).cast("string")
                return getattr(target, node.func.attr)(*(walk(a) for a in args))
        raise UsageError(
            f"{what} {text!r}: {ast.unparse(node)!r} is not allowed; use column names, numbers, "
            "strings, + - * /, comparisons, and/or/not, `in (...)` lists, col('Name'), "
            "coalesce(...), and the methods startswith, endswith, contains, lower, upper, strip."
        )

    result = walk(tree)
    if condition and not isinstance(result, ir.BooleanValue):
        raise UsageError(
            f"{what} {text!r} is not a condition (it gives {result.type()} values, not "
            "true/false); compare something, e.g. tier == 'MVC' or clv > 100."
        )
    return result
