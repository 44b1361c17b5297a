"""Offer eligibility: the ``--map`` expression language, checked and evaluated in Python.

An offer's eligibility is written in the same safe language as ``--map`` and ``--audience``
(:mod:`patron.data.expressions`): attribute names, numbers, strings, ``+ - * /``,
comparisons, ``and``/``or``/``not``, ``in (...)`` lists, ``col("Name")``, ``coalesce(...)``
and the string methods ``startswith``, ``endswith``, ``contains``, ``lower``, ``upper``,
``strip``. The batch next best action compiles it to Ibis with
:func:`patron.data.expressions.compile_expression`; the real-time one (one customer, no
engine on the request path) evaluates it here, with the same meaning: SQL's three-valued
logic (an unknown attribute value is null; a comparison with null is null; an offer is
eligible only when the condition is true), text in arithmetic read as a number (junk: null).

:func:`check_eligibility` parses an expression once and refuses, with the position, text
that does not parse, constructs outside the language, and names outside the attributes the
caller says exist.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from patron.errors import UsageError

__all__ = ["Eligibility", "check_eligibility", "evaluate"]

_LONE_EQUALS = re.compile(r"(?<![=!<>])=(?!=)")
_METHODS = {"startswith", "endswith", "contains", "lower", "upper", "strip"}
_NUMBER = re.compile(r"^\s*[$£€]?\s*([-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?)\s*$")


@dataclass(frozen=True)
class Eligibility:
    """A parsed eligibility condition and the attribute names it reads (lower-cased)."""

    text: str
    tree: ast.Expression
    names: frozenset[str]

    def __call__(self, attributes: Mapping[str, Any]) -> bool:
        """Whether the condition is true for these attributes (null and false: not eligible)."""
        return _compiled(self.text, self.tree)(attributes) is True


def _position(node: ast.AST) -> str:
    return f"column {getattr(node, 'col_offset', 0) + 1}"


def _names(tree: ast.AST) -> list[tuple[str, ast.AST]]:
    found: list[tuple[str, ast.AST]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id not in {"col", "coalesce"}:
            found.append((node.id, node))
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "col"
            and len(node.args) == 1
            and isinstance(node.args[0], ast.Constant)
        ):
            found.append((str(node.args[0].value), node))
    return found


def _check_node(node: ast.AST, what: str, text: str) -> None:
    """Refuse anything outside the language (the same set as ``compile_expression``)."""
    ok = isinstance(
        node,
        ast.Expression | ast.Name | ast.Load | ast.BoolOp | ast.And | ast.Or | ast.Tuple | ast.List,
    )
    if isinstance(node, ast.Constant):
        ok = isinstance(node.value, int | float | str) and not isinstance(node.value, bool)
    elif isinstance(node, ast.BinOp):
        ok = isinstance(node.op, ast.Add | ast.Sub | ast.Mult | ast.Div)
    elif isinstance(node, ast.UnaryOp):
        ok = isinstance(node.op, ast.USub | ast.Not)
    elif isinstance(node, ast.Compare):
        ok = len(node.ops) == 1 and isinstance(
            node.ops[0],
            ast.Eq | ast.NotEq | ast.Lt | ast.LtE | ast.Gt | ast.GtE | ast.In | ast.NotIn,
        )
        if ok and isinstance(node.ops[0], ast.In | ast.NotIn):
            right = node.comparators[0]
            ok = isinstance(right, ast.Constant) or (
                isinstance(right, ast.Tuple | ast.List)
                and all(isinstance(e, ast.Constant) for e in right.elts)
            )
    elif isinstance(node, ast.Call):
        if isinstance(node.func, ast.Name):
            ok = (
                node.func.id == "col"
                and len(node.args) == 1
                and isinstance(node.args[0], ast.Constant)
            ) or (node.func.id == "coalesce" and bool(node.args))
        else:
            ok = isinstance(node.func, ast.Attribute) and node.func.attr in _METHODS
        ok = ok and not node.keywords
    elif isinstance(node, ast.Attribute):
        ok = node.attr in _METHODS
    if not ok and isinstance(node, ast.expr_context | ast.boolop | ast.operator | ast.cmpop):
        ok = True
    if not ok and isinstance(node, ast.unaryop):
        ok = isinstance(node, ast.USub | ast.Not)
    if not ok:
        raise UsageError(
            f"{what}: {ast.unparse(node)!r} at {_position(node)} of {text!r} is not allowed; use "
            "attribute names, numbers, strings, + - * /, comparisons, and/or/not, `in (...)` "
            "lists, col('Name'), coalesce(...), and the methods startswith, endswith, contains, "
            "lower, upper, strip."
        )


@lru_cache(maxsize=1024)
def _parse(text: str, what: str) -> ast.Expression:
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        hint = ""
        if _LONE_EQUALS.search(text):
            hint = " Use == to compare (e.g. tier == 'MVC'); a single = assigns."
        # Python reports 0 when the text ends too early: the problem is at its end.
        where = f" at column {exc.offset or len(text.strip()) + 1}"
        raise UsageError(
            f"{what}: {text!r} is not a valid expression ({exc.msg}{where}).{hint}"
        ) from None
    for node in ast.walk(tree):
        _check_node(node, what, text)
    return tree


def check_eligibility(
    text: str, known: Collection[str] | None = None, *, what: str = "eligibility"
) -> Eligibility:
    """Parse an eligibility condition and check its names.

    Parameters
    ----------
    text
        The condition, e.g. ``tier == 'MGC' and favourite_department == 'books'``.
    known
        The attribute names that exist (compared case-insensitively); ``None``: any.
    what
        How messages name the expression (e.g. ``offer 'books-x' eligibility``).

    Raises
    ------
    UsageError
        The text does not parse, uses something outside the language, or names an unknown
        attribute; the message gives the column (1-based) where the problem is.
    """
    tree = _parse(text, what)
    names = _names(tree)
    if known is not None:
        allowed = {k.lower() for k in known}
        for name, node in names:
            if name.lower() not in allowed:
                listed = ", ".join(sorted(allowed))
                raise UsageError(
                    f"{what}: unknown attribute {name!r} at {_position(node)} of {text!r}; "
                    f"known attributes: {listed}."
                )
    # A bare name may be a true/false fact; arithmetic or a constant never is a condition.
    if isinstance(tree.body, ast.BinOp | ast.Constant):
        raise UsageError(
            f"{what}: {text!r} is not a condition (it gives a value, not true/false); "
            "compare something, e.g. tier == 'MVC' or clv > 100."
        )
    return Eligibility(text, tree, frozenset(n.lower() for n, _ in names))


def _number(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None if value is None else float(value)
    if isinstance(value, int | float):
        return float(value)
    match = _NUMBER.match(str(value))
    return float(match.group(1)) if match else None


def _arith(op: ast.operator, a: Any, b: Any) -> Any:
    x, y = _number(a), _number(b)
    if x is None or y is None:
        return None
    if isinstance(op, ast.Add):
        return x + y
    if isinstance(op, ast.Sub):
        return x - y
    if isinstance(op, ast.Mult):
        return x * y
    return None if y == 0 else x / y


_COMPARE: dict[type[ast.cmpop], Callable[[Any, Any], bool]] = {
    ast.Eq: lambda a, b: bool(a == b),
    ast.NotEq: lambda a, b: bool(a != b),
    ast.Lt: lambda a, b: bool(a < b),
    ast.LtE: lambda a, b: bool(a <= b),
    ast.Gt: lambda a, b: bool(a > b),
    ast.GtE: lambda a, b: bool(a >= b),
}


_Fn = Callable[[Mapping[str, Any]], Any]
_COMPILED: dict[str, _Fn] = {}


def _compiled(text: str, tree: ast.Expression) -> _Fn:
    """The expression as nested Python closures, built once (the meaning of :func:`evaluate`)."""
    fn = _COMPILED.get(text)
    if fn is None:
        fn = _compile(tree.body)
        if len(_COMPILED) > 4096:
            _COMPILED.clear()
        _COMPILED[text] = fn
    return fn


def _compile(node: ast.AST) -> _Fn:
    if isinstance(node, ast.Name):
        key = node.id.lower()
        return lambda a: a.get(key)
    if isinstance(node, ast.Constant):
        value = node.value
        return lambda a: value
    if isinstance(node, ast.BinOp):
        left, right, op = _compile(node.left), _compile(node.right), node.op
        return lambda a: _arith(op, left(a), right(a))
    if isinstance(node, ast.UnaryOp):
        inner = _compile(node.operand)
        if isinstance(node.op, ast.USub):

            def neg(a: Mapping[str, Any]) -> Any:
                number = _number(inner(a))
                return None if number is None else -number

            return neg
        return lambda a: None if (v := inner(a)) is None else not v
    if isinstance(node, ast.BoolOp):
        parts = [_compile(v) for v in node.values]
        if isinstance(node.op, ast.And):

            def both(a: Mapping[str, Any]) -> Any:
                unknown = False
                for part in parts:
                    v = part(a)
                    if v is None:
                        unknown = True
                    elif not v:
                        return False
                return None if unknown else True

            return both

        def either(a: Mapping[str, Any]) -> Any:
            unknown = False
            for part in parts:
                v = part(a)
                if v is None:
                    unknown = True
                elif v:
                    return True
            return None if unknown else False

        return either
    if isinstance(node, ast.Compare):
        cop = node.ops[0]
        left = _compile(node.left)
        if isinstance(cop, ast.In | ast.NotIn):
            listed = node.comparators[0]
            elts = [listed] if isinstance(listed, ast.Constant) else getattr(listed, "elts", [])
            values = [e.value for e in elts]
            negate = isinstance(cop, ast.NotIn)

            def member(a: Mapping[str, Any]) -> Any:
                v = left(a)
                if v is None:
                    return None
                return _member(v, values) != negate

            return member
        right_fn = _compile(node.comparators[0])
        compare = _COMPARE[type(cop)]

        def cmp(a: Mapping[str, Any]) -> Any:
            return _compare(compare, left(a), right_fn(a))

        return cmp
    tree = ast.Expression(body=node)  # type: ignore[arg-type]
    rule = Eligibility(ast.unparse(node), tree, frozenset())
    return lambda a: evaluate(rule, a)  # calls and methods: the tree walk


def _compare(compare: Callable[[Any, Any], bool], left: Any, right: Any) -> Any:
    if left is None or right is None:
        return None
    if _is_number(left) or _is_number(right):
        left, right = _number(left), _number(right)
        if left is None or right is None:
            return None
    elif not isinstance(left, str) or not isinstance(right, str):
        left, right = str(left), str(right)
    return compare(left, right)


def evaluate(rule: Eligibility, attributes: Mapping[str, Any]) -> Any:
    """The value of the expression for one customer's attributes (None for SQL null).

    ``attributes`` are keyed by lower-case name; a missing name is null.
    """

    def get(name: str) -> Any:
        return attributes.get(name.lower())

    def walk(node: ast.AST) -> Any:
        if isinstance(node, ast.Expression):
            return walk(node.body)
        if isinstance(node, ast.Name):
            return get(node.id)
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.BinOp):
            return _arith(node.op, walk(node.left), walk(node.right))
        if isinstance(node, ast.UnaryOp):
            value = walk(node.operand)
            if isinstance(node.op, ast.USub):
                number = _number(value)
                return None if number is None else -number
            return None if value is None else not value
        if isinstance(node, ast.BoolOp):
            values = [walk(v) for v in node.values]
            if isinstance(node.op, ast.And):
                if any(v is not None and not v for v in values):
                    return False
                return None if any(v is None for v in values) else True
            if any(v is not None and v for v in values):
                return True
            return None if any(v is None for v in values) else False
        if isinstance(node, ast.Compare):
            op = node.ops[0]
            left = walk(node.left)
            if isinstance(op, ast.In | ast.NotIn):
                right = node.comparators[0]
                elts = [right] if isinstance(right, ast.Constant) else getattr(right, "elts", [])
                values = [e.value for e in elts]
                if left is None:
                    return None
                member = _member(left, values)
                return member if isinstance(op, ast.In) else not member
            right_value = walk(node.comparators[0])
            if left is None or right_value is None:
                return None
            if _is_number(left) or _is_number(right_value):
                left, right_value = _number(left), _number(right_value)
                if left is None or right_value is None:
                    return None
            elif not isinstance(left, str) or not isinstance(right_value, str):
                left, right_value = str(left), str(right_value)
            return _COMPARE[type(op)](left, right_value)
        if isinstance(node, ast.Call):
            if isinstance(node.func, ast.Name):
                if node.func.id == "col":
                    return get(str(node.args[0].value))  # type: ignore[attr-defined]
                for arg in node.args:  # coalesce
                    value = walk(arg)
                    if value is not None:
                        return value
                return None
            assert isinstance(node.func, ast.Attribute)  # checked at parse time
            target = walk(node.func.value)
            args = [walk(a) for a in node.args]
            if target is None or any(a is None for a in args):
                return None
            text = _text(target)
            method = node.func.attr
            if method == "contains":
                return str(args[0]) in text
            return getattr(text, method)(*(str(a) for a in args))
        raise UsageError(f"eligibility {rule.text!r}: cannot evaluate {ast.unparse(node)!r}.")

    return walk(rule.tree)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return repr(value)
    return str(value)


def _member(value: Any, values: list[Any]) -> bool:
    for candidate in values:
        if _is_number(candidate) and not isinstance(value, str):
            if _number(value) == float(candidate):
                return True
        elif value == candidate or (isinstance(value, bool) is False and str(value) == candidate):
            return True
    return False
