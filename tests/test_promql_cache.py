"""promql.parse: promql_parser.parse memoised by text, with the same results and errors."""

from __future__ import annotations

import promql_parser
import pytest

from generator import promql


def test_each_expression_is_parsed_once_with_the_parsers_result() -> None:
    promql._parsed.cache_clear()
    text = 'sum(rate(http_requests_total{namespace="ml-prod",service="a"}[5m]))'
    first = promql.parse(text)
    assert promql.parse(text) is first
    assert promql._parsed.cache_info().misses == 1
    assert str(first) == str(promql_parser.parse(text))
    assert isinstance(promql.parse('up{a="b"}'), promql_parser.VectorSelector)


@pytest.mark.parametrize("text", ["sum(", "rate(x[5q])", "", "up{a=}"])
def test_invalid_expressions_raise_the_parsers_message_every_time(text: str) -> None:
    with pytest.raises(ValueError) as direct:
        promql_parser.parse(text)
    for _ in range(2):
        with pytest.raises(ValueError) as cached:
            promql.parse(text)
        assert str(cached.value) == str(direct.value)
