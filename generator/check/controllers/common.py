"""What the controller rules share: the objects of one environment by kind and name, and
PromQL as the controllers will send it."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import promql_parser

from generator.errors import Finding, Location

Obj = Mapping[str, Any]

# Argo Rollouts replaces {{args.name}} in a query before it sends it; any label value will do
# for reading the expression's shape.
ARGO_ARG = re.compile(r"\{\{\s*args\.[A-Za-z0-9_.-]+\s*\}\}")


class Objects:
    """One environment's objects, looked up by kind and name; findings located at its overlay."""

    def __init__(self, env_name: str, objects: Sequence[Obj]) -> None:
        self.env_name = env_name
        self.location = Location(f"rendered/overlays/{env_name}")
        self.all = list(objects)
        self._by_name = {(str(obj.get("kind")), name_of(obj)): obj for obj in reversed(self.all)}

    def of_kind(self, *kinds: str) -> Iterator[Obj]:
        return (obj for obj in self.all if obj.get("kind") in kinds)

    def named(self, kind: str, name: str) -> Obj | None:
        return self._by_name.get((kind, name))

    def finding(self, obj: Obj, field: str, message: str, hint: str) -> Finding:
        return Finding(message, self.location, f"{obj.get('kind')}/{name_of(obj)}: {field}", hint)


def name_of(obj: Obj) -> str:
    return str(obj.get("metadata", {}).get("name", ""))


@functools.lru_cache(maxsize=1 << 8)
def parse(query: str) -> Any | None:
    """The expression tree of ``query`` with Argo's {{args.*}} filled in; None if unparsable
    (the schema and promtool checks report that). Several checks read the same queries of a
    unit: a tree is parsed once (the checks only read it)."""
    try:
        return promql_parser.parse(ARGO_ARG.sub("arg", query))
    except ValueError:
        return None


def unwrap(node: Any) -> Any:
    while isinstance(node, promql_parser.ParenExpr):
        node = node.expr
    return node


def answers_at_rest(node: Any) -> bool:
    """Whether the expression always yields exactly one sample: ``<x> or vector(<number>)``
    at its top, so an idle model (no series, or NaN filtered away) still reads a number."""
    node = unwrap(node)
    if not isinstance(node, promql_parser.BinaryExpr) or str(node.op) != "or":
        return False
    fallback = unwrap(node.rhs)
    return (
        isinstance(fallback, promql_parser.Call)
        and fallback.func.name == "vector"
        and isinstance(unwrap(fallback.args[0]), promql_parser.NumberLiteral)
    )


def selectors(node: Any) -> list[Any]:
    """Every vector selector in the expression (those inside range selectors too)."""
    found: list[Any] = []

    def visit(child: Any) -> None:
        if isinstance(child, promql_parser.VectorSelector):
            found.append(child)

    promql_parser.walk(node, pre_visit=visit)
    return found


def equal_matchers(selector: Any) -> dict[str, str]:
    """The ``label="value"`` matchers of a vector selector."""
    return {
        m.name: m.value
        for m in selector.matchers.matchers
        if str(m.op) == str(promql_parser.MatchOp.Equal)
    }
