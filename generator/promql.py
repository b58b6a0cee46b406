"""PromQL parsing, memoised by expression text.

The same expressions (alert rules, SLI queries, label selectors) recur for every model in
every environment: a 1000-model fleet parsed them 255,000 times. ``promql_parser.parse`` is
a pure function of the text, so each distinct expression is parsed once; the parsed tree is
shared between callers, who only read it.
"""

from __future__ import annotations

import functools

import promql_parser

__all__ = ["parse"]


@functools.lru_cache(maxsize=1 << 14)
def _parsed(expression: str) -> promql_parser.Expr | str:
    try:
        return promql_parser.parse(expression)
    except ValueError as error:
        return str(error)


def parse(expression: str) -> promql_parser.Expr:
    """The parsed ``expression``; raises ``ValueError`` with the parser's message if it is invalid."""
    parsed = _parsed(expression)
    if isinstance(parsed, str):
        raise ValueError(parsed)
    return parsed
