"""generator.promql: promql_parser's verdicts and selector matchers, memoised by text as plain
Python values (no parsed tree is kept)."""

from __future__ import annotations

import uuid

import promql_parser
import pytest

from generator import promql
from generator.promql import LabelMatcher


def test_expressions_that_differ_only_in_plain_label_values_are_parsed_once(monkeypatch: pytest.MonkeyPatch) -> None:
    parsed: list[str] = []
    parse = promql_parser.parse

    def counting(text: str) -> object:
        parsed.append(text)
        return parse(text)

    monkeypatch.setattr(promql_parser, "parse", counting)
    metric = f"m_{uuid.uuid4().hex}"  # a shape never seen before
    first = f'sum(rate({metric}{{namespace="ml-prod",service="fraud-detector"}}[5m]))'
    second = f'sum(rate({metric}{{namespace="ml-dev",service="image-classifier-0042"}}[5m]))'
    assert promql.problem(first) is None and promql.value_type(first) == "vector"
    assert promql.problem(second) is None and promql.value_type(second) == "vector"
    assert len(parsed) == 1  # one parse answered all four questions


# Where a label value's text does matter to the parser: an empty value (a selector needs one
# matcher that does not match ""), escapes, regex syntax, quotes of other kinds.
TRICKY = [
    'up{job=""}',
    'up{job="", a="b"}',
    '{job=""}',
    '{job="x"}',
    '{__name__="up"}',
    'up{__name__="up"}',
    'up{job=~"a(b"}',
    'up{job=~"a.b"}',
    'up{job=~".*"}',
    '{job=~".*"}',
    '{job=~".+"}',
    'up{job="a\\qb"}',
    'up{job="a\\"b"}',
    "up{job='x'}",
    "up{job=`x`}",
    'label_replace(up, "dst", "$1", "src", "(.*)")',
    'label_replace(up{a="b"}, "1dst", "$1", "src", "(.*)")',
    'count_values("value", up{a="b"})',
    'up == "x"',
    'up{a = "b"} > bool 1',
    'sum by (a) (rate(x{a!~"b"}[5m])) / on(a) group_left sum(y{c!="d"})',
    'vector(1) or up{a="b"}',
    'scalar(up{a="b"})',
    'rate(up{a="b"}[5m:1m])',
]


def _truth(text: str) -> tuple[str | None, bool]:
    """What the parser itself says: the type, and whether it parses."""
    try:
        return promql._type_of(promql_parser.parse(text)), True
    except ValueError:
        return None, False


@pytest.mark.parametrize("text", TRICKY)
def test_the_memo_agrees_with_the_parser_where_label_values_matter(text: str) -> None:
    kind, ok = _truth(text)
    assert (promql.problem(text) is None) == ok
    if ok:
        assert promql.value_type(text) == kind
    else:
        with pytest.raises(ValueError):
            promql.value_type(text)


def test_the_memo_agrees_with_the_parser_on_every_rendered_expression(example_render: object) -> None:
    import yaml

    from tests.conftest import REPO

    exprs = {
        rule["expr"]
        for path in sorted((REPO / "rendered").rglob("*.yaml"))
        for doc in yaml.safe_load_all(path.read_text())
        if isinstance(doc, dict) and doc.get("kind") == "PrometheusRule"
        for group in doc["spec"]["groups"]
        for rule in group["rules"]
    }
    assert len(exprs) > 100
    for expr in sorted(exprs):
        kind, ok = _truth(expr)
        assert ok and promql.problem(expr) is None and promql.value_type(expr) == kind, expr


@pytest.mark.parametrize("text", ["sum(", "rate(x[5q])", "", "up{a=}"])
def test_invalid_expressions_give_the_parsers_message_every_time(text: str) -> None:
    with pytest.raises(ValueError) as direct:
        promql_parser.parse(text)
    for _ in range(2):
        message = promql.problem(text)
        assert type(message) is str and message == str(direct.value)


def test_selector_matchers_are_plain_strings_in_promql_notation() -> None:
    name, matchers = promql.selector_matchers('http_requests_total{a="b",c!="d",e=~"5..",g!~"x|y"}')
    assert name == "http_requests_total"
    assert matchers == (
        LabelMatcher("a", "=", "b"),
        LabelMatcher("c", "!=", "d"),
        LabelMatcher("e", "=~", "5.."),
        LabelMatcher("g", "!~", "x|y"),
    )
    assert all(type(part) is str for matcher in matchers for part in matcher)


@pytest.mark.parametrize("text", ['sum(up{a="b"})', "up{", 'rate(up{a="b"}[5m])'])
def test_selector_matchers_refuse_what_is_not_a_selector(text: str) -> None:
    with pytest.raises(ValueError):
        promql.selector_matchers(text)

