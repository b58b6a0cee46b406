"""PromQL checks and selector matchers, memoised.

The same expressions (alert rules, SLI queries, label selectors) recur for every model in
every environment, differing only in label values such as the model's name. A verdict
(valid, and of which type) is memoised by the expression's shape, its text with plain label
values replaced, so each shape is parsed once; selectors' matchers by their text.

Only plain Python results are memoised: a verdict (the parser's message, or None) and a
selector's matchers as strings. A parsed tree lives in Rust memory that ``tracemalloc``
does not see, and a large fleet has thousands of them.
"""

from __future__ import annotations

import functools
import re
from typing import NamedTuple

import promql_parser

__all__ = [
    "INSTANT_VECTOR",
    "RULE_RESULT",
    "LabelMatcher",
    "problem",
    "selector_matchers",
    "type_problem",
    "value_type",
]


class LabelMatcher(NamedTuple):
    """One label matcher of a selector: ``name op "value"`` (op as PromQL writes it: =, !=, =~, !~)."""

    name: str
    op: str
    value: str


# The type of an expression's result, as Prometheus defines it (prometheus/prometheus
# promql/parser/ast.go, the ``Type()`` method of each node): an aggregation is a vector, a
# binary operation is a scalar only between two scalars, a call has its function's return
# type, a range or subquery is a matrix, parentheses and unary minus keep their operand's.
_VALUE_TYPES = {
    str(promql_parser.ValueType.Vector): "vector",
    str(promql_parser.ValueType.Scalar): "scalar",
    str(promql_parser.ValueType.Matrix): "matrix",
    str(promql_parser.ValueType.String): "string",
}


def _type_of(node: object) -> str:
    if isinstance(node, (promql_parser.VectorSelector, promql_parser.AggregateExpr)):
        return "vector"
    if isinstance(node, (promql_parser.MatrixSelector, promql_parser.SubqueryExpr)):
        return "matrix"
    if isinstance(node, promql_parser.NumberLiteral):
        return "scalar"
    if isinstance(node, promql_parser.StringLiteral):
        return "string"
    if isinstance(node, promql_parser.Call):
        return _VALUE_TYPES[str(node.func.return_type)]
    if isinstance(node, promql_parser.BinaryExpr):
        both_scalar = _type_of(node.lhs) == "scalar" and _type_of(node.rhs) == "scalar"
        return "scalar" if both_scalar else "vector"
    if isinstance(node, (promql_parser.ParenExpr, promql_parser.UnaryExpr)):
        return _type_of(node.expr)
    raise TypeError(f"unknown PromQL node {type(node).__name__}")


# A label matcher's value whose text cannot change what the parser decides: a plain word, no
# escapes or regex operators, never empty (a matcher that matches "" is a parse error in a
# selector without another matcher). Replaced by one placeholder, the many expressions that
# differ only in a model's or namespace's name share one parse. The lookbehind starts a
# label name only at a word's start (three times faster than trying every position inside
# one); a value it leaves in place only makes the shape closer to the expression.
_PLAIN_VALUE = re.compile(r'(?<![A-Za-z0-9_])([A-Za-z_][A-Za-z0-9_]*\s*(?:=~|!~|!=|=)\s*)"[A-Za-z0-9_.:/-]+"')


def _shape(expression: str) -> str:
    return _PLAIN_VALUE.sub(r'\1"v"', expression)


@functools.lru_cache(maxsize=1 << 14)
def _shape_type(shape: str) -> str | None:
    """The result type of expressions of this shape, or None when the shape does not parse."""
    try:
        return _type_of(promql_parser.parse(shape))
    except ValueError:
        return None


def _verdict(expression: str) -> tuple[str | None, str | None]:
    """(the result type, None) or (None, the parser's message). The shape answers for a valid
    expression; the expression itself is parsed only when its shape does not parse, so the
    message is the parser's own for the text the user wrote."""
    found = _shape_type(_shape(expression))
    if found is not None:
        return found, None
    try:
        return _type_of(promql_parser.parse(expression)), None
    except ValueError as error:
        return None, str(error)


def problem(expression: str) -> str | None:
    """The parser's message when ``expression`` is not valid PromQL, else None."""
    return _verdict(expression)[1]


def value_type(expression: str) -> str:
    """The type of ``expression``'s result: "vector", "scalar", "matrix" or "string"
    (``ValueError`` when it is not valid PromQL)."""
    found, error = _verdict(expression)
    if found is None:
        raise ValueError(error)
    return found


def type_problem(expression: str, wanted: frozenset[str]) -> str | None:
    """Why ``expression`` cannot serve a consumer that reads one of the ``wanted`` types
    (its parse error, or its type), else None."""
    found, error = _verdict(expression)
    if found is None:
        return f"is not valid PromQL: {error}"
    if found in wanted:
        return None
    article = "an" if found[0] in "aeiou" else "a"
    needed = " or ".join(f"{'an' if t == 'vector' else 'a'} {_TYPE_WORDS[t]}" for t in _TYPE_ORDER if t in wanted)
    return f"is {article} {_TYPE_WORDS[found]}, where {needed} is needed"


_TYPE_WORDS = {
    "vector": "instant vector",
    "scalar": "scalar",
    "matrix": "range vector",
    "string": "string",
}

_TYPE_ORDER = ("vector", "scalar", "matrix", "string")
INSTANT_VECTOR = frozenset({"vector"})
RULE_RESULT = frozenset({"vector", "scalar"})  # what a recording or alerting rule may yield


_OPS = {
    str(promql_parser.MatchOp.Equal): "=",
    str(promql_parser.MatchOp.NotEqual): "!=",
    str(promql_parser.MatchOp.Re): "=~",
    str(promql_parser.MatchOp.NotRe): "!~",
}


@functools.lru_cache(maxsize=1 << 12)
def selector_matchers(selector: str) -> tuple[str, tuple[LabelMatcher, ...]]:
    """The metric name and the label matchers of the vector selector ``selector``
    (``ValueError`` when it is not valid PromQL or not a selector with a metric name)."""
    parsed = promql_parser.parse(selector)
    if not isinstance(parsed, promql_parser.VectorSelector) or parsed.name is None:
        raise ValueError(f"{selector!r} is not a vector selector with a metric name")
    matchers = tuple(LabelMatcher(m.name, _OPS[str(m.op)], m.value) for m in parsed.matchers.matchers)
    return parsed.name, matchers
