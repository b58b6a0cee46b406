"""``promql.value_type``: the type of an expression's result, as Prometheus's own
``Type()`` methods give it (promql/parser/ast.go). The live test asks a real Prometheus
server the same question (``resultType``) for these expressions."""

from __future__ import annotations

import pytest

from generator import promql

# (expression, the resultType Prometheus's /api/v1/query reports for it)
TYPED = [
    ("http_requests_total", "vector"),
    ('http_requests_total{status=~"5.."} offset 5m', "vector"),
    ("http_requests_total[5m]", "matrix"),
    ("(http_requests_total[5m])", "matrix"),
    ("rate(http_requests_total[5m])[10m:1m]", "matrix"),
    ("sum(rate(http_requests_total[5m]))", "vector"),
    ("sum(rate(http_requests_total[5m])) or vector(0)", "vector"),
    ("histogram_quantile(0.95, sum by (le) (rate(x_bucket[2m])))", "vector"),
    ("1", "scalar"),
    ("-1", "scalar"),
    ("1 + 2 * 3", "scalar"),
    ("http_requests_total * 2", "vector"),
    ("-(http_requests_total)", "vector"),
    ("scalar(sum(http_requests_total))", "scalar"),
    ("time()", "scalar"),
    ('"text"', "string"),
]


@pytest.mark.parametrize(("expression", "expected"), TYPED)
def test_value_type_matches_prometheus(expression: str, expected: str) -> None:
    assert promql.value_type(expression) == expected


def test_type_problem_words_the_mismatch() -> None:
    assert promql.type_problem("x[5m]", promql.INSTANT_VECTOR) == "is a range vector, where an instant vector is needed"
    assert promql.type_problem("time()", promql.RULE_RESULT) is None
    assert promql.type_problem('"a"', promql.RULE_RESULT) == (
        "is a string, where an instant vector or a scalar is needed"
    )
    assert promql.type_problem("sum(", promql.INSTANT_VECTOR) is not None
    assert promql.type_problem("sum(x)", promql.INSTANT_VECTOR) is None


def test_invalid_expression_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        promql.value_type("rate(x)")
