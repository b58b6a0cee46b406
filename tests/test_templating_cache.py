"""templating: each distinct rendered text is parsed once; every caller still gets its own objects."""

from __future__ import annotations

import datetime
import math
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from generator.build import templating
from generator.build.templating import TemplateBug, render_documents

TEXT = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: "a"
  labels: {"z": "1", "a": "2"}
data:
  list: [1, 2.5, true, null, "x", 1e300, -0.0]
  nested: {"k": [{"v": 1}]}
---
apiVersion: v1
kind: Service
metadata: {"name": "b"}
"""


@pytest.fixture
def texts(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """Templates whose rendered text the test sets; an empty memo before and after."""
    rendered: dict[str, str] = {}
    monkeypatch.setattr(templating, "render_text", lambda template, context: rendered[template])
    monkeypatch.setattr(templating, "_PARSED", {})
    yield rendered


@pytest.fixture
def parses(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every text PyYAML parses from now on, in order: what the memo exists to spare.
    (The test's own yaml.safe_load_all calls land here too: check this list before them.)"""
    seen: list[str] = []
    load_all = yaml.load_all

    def counting(stream: Any, Loader: Any) -> Any:  # PyYAML calls it Loader
        seen.append(stream)
        return load_all(stream, Loader)

    monkeypatch.setattr(yaml, "load_all", counting)
    return seen


def _types(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: (type(key), _types(item)) for key, item in value.items()}
    if isinstance(value, list):
        return [_types(item) for item in value]
    return type(value), repr(value)


def test_documents_equal_a_fresh_parse_in_values_types_and_order(texts: dict[str, str], parses: list[str]) -> None:
    texts["t"] = TEXT
    first, second = render_documents("t", {}), render_documents("t", {})
    assert parses == [TEXT]  # parsed once: the second call was answered from the memo
    expected = list(yaml.safe_load_all(TEXT))
    for documents in (first, second):
        assert documents == expected
        assert _types(documents) == _types(expected)
        assert [list(d) for d in documents] == [list(d) for d in expected]
    assert math.copysign(1, second[0]["data"]["list"][6]) == -1.0  # -0.0 stays negative


def test_callers_never_share_objects(texts: dict[str, str]) -> None:
    texts["t"] = TEXT
    first = render_documents("t", {})
    first[0]["metadata"]["labels"]["z"] = "changed"
    first[0]["data"]["nested"]["k"].append("more")
    second = render_documents("t", {})
    third = render_documents("t", {})
    assert second == list(yaml.safe_load_all(TEXT))
    second[1]["metadata"]["name"] = "changed"
    assert third == list(yaml.safe_load_all(TEXT))


def test_invalid_text_is_a_template_bug_every_time(texts: dict[str, str], parses: list[str]) -> None:
    texts["bad"] = "a: [\n"
    texts["bare"] = "just: a mapping\n"
    for _ in range(2):
        with pytest.raises(TemplateBug, match=r"^bad rendered invalid YAML"):
            render_documents("bad", {})
        with pytest.raises(TemplateBug, match=r"^bare rendered a document without apiVersion and kind"):
            render_documents("bare", {})
    assert parses == [texts["bad"], texts["bare"]] * 2  # nothing of a failed text is remembered


def test_values_marshal_cannot_hold_are_parsed_each_time(texts: dict[str, str], parses: list[str]) -> None:
    texts["t"] = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata: {when: 2024-01-02}\n"
    first, second = render_documents("t", {}), render_documents("t", {})
    assert parses == [texts["t"]] * 2
    for documents in (first, second):
        assert type(documents[0]["data"]["when"]) is datetime.date
    assert first == second and first[0] is not second[0] and first[0]["data"] is not second[0]["data"]


def test_the_memo_is_bounded(texts: dict[str, str], parses: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(templating, "_PARSED_MAX", 3)
    for index in range(10):
        texts[f"t{index}"] = f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: n{index}}}\n"
        assert render_documents(f"t{index}", {})[0]["metadata"]["name"] == f"n{index}"
        assert len(templating._PARSED) <= 3  # memory: no behaviour shows the size of the memo
    assert render_documents("t9", {})[0]["metadata"]["name"] == "n9"  # kept: not parsed again
    assert render_documents("t0", {})[0]["metadata"]["name"] == "n0"  # evicted: parsed again
    assert parses == [texts[f"t{index}"] for index in range(10)] + [texts["t0"]]
