"""generator.promql: promql_parser's verdicts and selector matchers, memoised by text as plain
Python values (no parsed tree is kept)."""

from __future__ import annotations

import uuid

import promql_parser
import pytest

from generator import promql
from generator.promql import LabelMatcher


def test_each_expression_is_parsed_once_and_valid_ones_have_no_problem(monkeypatch: pytest.MonkeyPatch) -> None:
    parsed: list[str] = []
    parse = promql_parser.parse

    def counting(text: str) -> object:
        parsed.append(text)
        return parse(text)

    monkeypatch.setattr(promql_parser, "parse", counting)
    text = f'sum(rate(http_requests_total{{namespace="ml-prod",service="{uuid.uuid4().hex}"}}[5m]))'  # never seen
    assert promql.problem(text) is None
    assert promql.problem(text) is None
    assert parsed == [text]  # the parser ran once; the second answer came from the memo


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

