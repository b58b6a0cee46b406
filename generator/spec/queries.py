"""PromQL in the spec: the SLI overrides, which Argo Rollouts analysis also reads (so '{{', its
own argument syntax, is refused), and the KEDA wake-up query, which must be an instant vector."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field, WithJsonSchema

from generator.spec.base import spec_error


def _check_analysis_query(value: str) -> str:
    if "{{" in value:
        raise spec_error(
            "the query holds '{{', which Argo Rollouts would read as one of its own {{...}} arguments "
            "in the canary analysis",
            "inside a PromQL string write '{' as \\x7b",
        )
    return value


def _check_instant_vector(value: str) -> str:
    """A whole query that KEDA reads: valid PromQL whose result is an instant vector."""
    from generator import promql  # the PromQL parser, only for fields that hold whole queries

    problem = promql.type_problem(value, promql.INSTANT_VECTOR)
    if problem is not None:
        raise spec_error(f"the query {problem}", "for example sum(my_queue_length{queue=\"scoring\"})")
    return value


AnalysisQuery = Annotated[
    str,
    Field(min_length=1),
    AfterValidator(_check_analysis_query),
    WithJsonSchema({"type": "string", "minLength": 1, "not": {"pattern": r"\{\{"}}),
]
DemandQuery = Annotated[
    str,
    Field(min_length=1),
    AfterValidator(_check_instant_vector),
    WithJsonSchema({"type": "string", "minLength": 1}),
]
