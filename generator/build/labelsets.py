"""Label sets that PromQL selectors select: every matcher of a selector is satisfied (an example
string for a regular expression, checked with ``re.fullmatch``), or, for a good request, the
error selector's own matchers are broken (status 200 against 5..)."""

from __future__ import annotations

import functools
import re

from generator.promql import LabelMatcher, selector_matchers

EQUAL, NOT_EQUAL, MATCH = "=", "!=", "=~"

Labels = dict[str, str]


@functools.lru_cache(maxsize=1 << 10)
def regex_example(pattern: str) -> str:
    """A short string that the RE2 ``pattern`` matches in full (PromQL anchors regexes)."""
    example = _sequence(_alternatives(pattern)[0])
    if re.fullmatch(pattern, example) is None:
        raise ValueError(f"found no example for the regular expression {pattern!r}")
    return example


def _alternatives(pattern: str) -> list[str]:
    parts, depth, start, index = [], 0, 0, 0
    while index < len(pattern):
        char = pattern[index]
        if char == "\\":
            index += 1
        elif char in "([":
            depth += 1
        elif char in ")]":
            depth -= 1
        elif char == "|" and depth == 0:
            parts.append(pattern[start:index])
            start = index + 1
        index += 1
    return [*parts, pattern[start:]]


def _closing(pattern: str, index: int) -> int:
    """The index of the bracket that closes the one at ``index``."""
    depth, opener = 0, pattern[index]
    closer = ")" if opener == "(" else "]"
    while index < len(pattern):
        if pattern[index] == "\\":
            index += 1
        elif pattern[index] == opener:
            depth += 1
        elif pattern[index] == closer:
            depth -= 1
            if depth == 0:
                return index
        index += 1
    raise ValueError(f"unbalanced {opener} in {pattern!r}")


def _atom(pattern: str, index: int) -> tuple[str, int]:
    char = pattern[index]
    if char == "\\":
        return pattern[index + 1], index + 2
    if char in "([":
        end = _closing(pattern, index)
        inner = pattern[index + 1 : end]
        if char == "(":
            return _sequence(_alternatives(inner.removeprefix("?:"))[0]), end + 1
        return ("x" if inner.startswith("^") else inner.lstrip("\\")[0]), end + 1
    return ("0" if char == "." else char), index + 1


def _sequence(pattern: str) -> str:
    out, index = [], 0
    while index < len(pattern):
        atom, index = _atom(pattern, index)
        quantifier = pattern[index] if index < len(pattern) else ""
        if quantifier in ("?", "*", "+"):
            index += 1
        out.append("" if quantifier in ("?", "*") else atom)
    return "".join(out)


def _matchers(selector: str) -> tuple[str, tuple[LabelMatcher, ...]]:
    return selector_matchers(selector)


def _holds(matcher: LabelMatcher, value: str) -> bool:
    op = matcher.op
    if op in (EQUAL, NOT_EQUAL):
        return (value == matcher.value) == (op == EQUAL)
    found = re.fullmatch(matcher.value, value) is not None
    return found == (op == MATCH)


def _satisfy(matcher: LabelMatcher, preferred: str | None) -> str:
    candidates = [preferred] if preferred is not None else []
    if matcher.op == EQUAL:
        candidates.append(matcher.value)
    elif matcher.op == MATCH:
        candidates.append(regex_example(matcher.value))
    candidates += ["other", "x"]
    return next(value for value in candidates if _holds(matcher, value))


def _violate(matcher: LabelMatcher) -> str:
    return next(value for value in ("200", "OK", "other", "") if not _holds(matcher, value))


def labels_for(selector: str, preferred: Labels | None = None) -> tuple[str, Labels]:
    """The metric name and a label set that ``selector`` selects."""
    name, matchers = _matchers(selector)
    prefer = preferred or {}
    return name, {m.name: _satisfy(m, prefer.get(m.name)) for m in matchers}


def selects(selector: str, labels: Labels) -> bool:
    _, matchers = _matchers(selector)
    return all(_holds(m, labels.get(m.name, "")) for m in matchers)


def good_labels(request_selector: str, error_selector: str, labels: Labels) -> Labels:
    """``labels`` changed so that the request selector still selects them and the error selector
    does not (e.g. status="200" against status=~"5..")."""
    _, matchers = _matchers(error_selector)
    unset = [m for m in matchers if m.name not in labels]
    for matcher in [*unset, *matchers]:
        candidate = labels | {matcher.name: _violate(matcher)}
        if selects(request_selector, candidate) and not selects(error_selector, candidate):
            return candidate
    if not selects(error_selector, labels):
        return labels
    raise ValueError(f"cannot build a good request that {error_selector} does not select")
