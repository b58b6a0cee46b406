"""yamlout memoises the per-string decisions and short-cuts PyYAML's dispatch; neither may change a byte."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import yaml

from generator.output import yamlout

REPO = Path(__file__).resolve().parent.parent

SAMPLES = [
    "yes", "No", "~", "", "0755", "1e3", "1_000", "0x1F", "2024-01-02", "12:30", "<<", "=",
    "plain", "with: colon", "- dash", "#hash", "multi\nline", "multi\nline\n", "trail \nx",
    "tab\there", "\u2028", "é", "🙂", ".inf", "-.NaN", "null", "NULL", "on", "y",
]  # fmt: skip


def test_memoised_style_and_tags_equal_the_direct_ones() -> None:
    dumper = yamlout._Dumper(io.StringIO())
    plain = yaml.resolver.Resolver()
    for _ in range(2):  # the second round answers from the memo
        for text in [*SAMPLES, "x" * (yamlout._MEMO_MAX_LEN + 1)]:
            assert yamlout._style(text) == yamlout._scalar_style(text), text
            for implicit in ((True, False), (False, True), (False, False), (True, True)):
                expected = plain.resolve(yaml.ScalarNode, text, implicit)  # type: ignore[no-untyped-call]
                assert dumper.resolve(yaml.ScalarNode, text, implicit) == expected, text
    assert yamlout._memo_style.cache_info().hits > 0


def test_long_strings_are_not_kept() -> None:
    before = yamlout._memo_style.cache_info().currsize
    yamlout.dump({"k": "v" * (yamlout._MEMO_MAX_LEN + 1), "multi": "a\n" * 200})
    assert yamlout._memo_style.cache_info().currsize <= before + 2  # the two keys at most


def test_dump_is_identical_with_a_cold_and_a_warm_memo() -> None:
    data = {text or "empty": [text, {text or "e": text}] for text in SAMPLES}
    yamlout._memo_style.cache_clear()
    yamlout._memo_plain_tag.cache_clear()
    cold = yamlout.dump(data)
    assert yamlout.dump(data) == cold
    assert yaml.safe_load(cold) == data


class _Reference(yamlout._Dumper):
    """yamlout's dumper with PyYAML's own represent_data (no short cut)."""

    represent_data = yaml.representer.BaseRepresenter.represent_data


def _dump(data: object, dumper: type) -> str:
    return yaml.dump(
        data,
        Dumper=dumper,
        default_flow_style=False,
        sort_keys=False,
        allow_unicode=True,
        width=yamlout._NEVER_FOLD,
        indent=2,
        line_break="\n",
    )


EDGE_CASES: list[object] = [
    {},
    [],
    (),
    None,
    "x",
    7,
    -0.0,
    float("inf"),
    True,
    {"a": (1, [2, (3,)]), 1: "int key", False: "bool key", None: "null key", 2.5: "float key"},
    {"nested": {"empty": {}, "list": [], "none": None, "yes": "yes", "multi": "a\nb\n"}},
    [[[]], [{}], [{"k": [1, 2.0, "3", False]}]],
    {"z": 1, "a": 2},
]


def test_the_short_cut_builds_the_same_yaml_as_pyyaml() -> None:
    documents: list[object] = list(EDGE_CASES)
    for path in sorted(REPO.joinpath("rendered").rglob("*.yaml")):
        documents.extend(yaml.safe_load_all(path.read_text(encoding="utf-8")))
    assert len(documents) > 120
    for document in documents:
        assert _dump(document, yamlout._Dumper) == _dump(document, _Reference)


def test_types_without_a_short_cut_fail_as_before() -> None:
    class Text(str):
        __slots__ = ()

    for dumper in (yamlout._Dumper, _Reference):
        with pytest.raises(yaml.representer.RepresenterError):
            _dump({"k": Text("x")}, dumper)
        with pytest.raises(yaml.representer.RepresenterError):
            _dump({"k": [object()]}, dumper)
