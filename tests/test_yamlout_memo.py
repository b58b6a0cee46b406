"""yamlout memoises the per-string decisions; the memo must never change a byte."""

from __future__ import annotations

import io

import yaml

from generator import yamlout

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
