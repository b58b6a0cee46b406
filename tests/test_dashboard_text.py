"""dashboard_text: the indented JSON of a dashboard, serialised once per model (its base and units)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from generator import pipeline
from generator.build import dashboard as dash
from generator.build.dashboard import dashboard_text

REPO = Path(__file__).resolve().parent.parent


def indented(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True) + "\n"


@pytest.fixture
def memo(monkeypatch: pytest.MonkeyPatch) -> dict[tuple[str, str, str], str]:
    texts: dict[tuple[str, str, str], str] = {}
    monkeypatch.setattr(dash, "_MODEL_TEXTS", texts)
    return texts


def test_the_example_fleets_dashboards_are_serialised_as_before(memo: dict[tuple[str, str, str], str]) -> None:
    rendered = pipeline.render(REPO)
    configmaps = [
        obj
        for objects in [*(m.objects for m in rendered.base), *(e.objects for e in rendered.environments)]
        for obj in objects
        if obj["kind"] == "ConfigMap" and obj["metadata"]["name"].endswith("-dashboard")
    ]
    assert len(configmaps) > len(rendered.base)
    for configmap in configmaps:
        [text] = configmap["data"].values()
        assert text == indented(json.loads(text))
    assert 0 < len(memo) < len(configmaps)  # environments share their model's dashboard text


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ({"a": 1}, {"a": 1.0}),
        ({"a": 1}, {"a": True}),
        ({"a": None}, {"a": "null"}),
        ({"a": [1, 2]}, {"a": [2, 1]}),
        ({"a": {"b": 1}}, {"a": {"b": 1}, "c": {}}),
        ({"é": "x"}, {"\\u00e9": "x"}),
    ],
)
def test_different_dashboards_get_their_own_text(first: Any, second: Any) -> None:
    assert dashboard_text(first) == indented(first)
    assert dashboard_text(second) == indented(second)
    assert dashboard_text(first) == indented(first)


def test_equal_dashboards_give_one_text_in_any_key_order() -> None:
    first = {"b": [1, {"y": 2, "x": 1}], "a": "z"}
    second = {"a": "z", "b": [1, {"x": 1, "y": 2}]}
    assert dashboard_text(first) == dashboard_text(second) == indented(second)


def test_the_memo_is_bounded(memo: dict[tuple[str, str, str], str], monkeypatch: pytest.MonkeyPatch) -> None:
    from generator.build.dashboard import dashboard, dashboard_sli, model_dashboard_text
    from generator.validation import validate

    monkeypatch.setattr(dash, "_MODEL_TEXTS_MAX", 2)
    resolution = validate(REPO)
    for model in [*resolution.base, *(m for env in resolution.environments for m in env.models)]:
        assert model_dashboard_text(model) == dashboard_text(dashboard(model, dashboard_sli(model)))
        assert len(memo) <= 2
