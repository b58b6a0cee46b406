"""yamlemit writes exactly what PyYAML's representer and libyaml's emitter write (yamlout's
general path), for every document of the example's rendered tree and for random data whose
strings are made of the characters YAML treats specially."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from generator.output.yamlemit import Emitter
from generator.output.yamlout import _dump_general, _plain_text, dump

REPO = Path(__file__).resolve().parent.parent

# Strings mostly of the characters that decide a scalar's style: indicators, blanks, breaks,
# quotes, escapes, a few non-ASCII ones.
CHARACTERS = "ab09 :#-?,[]{}&*!|>'\"%@`\n\t\\./=+()$<~^;\r\x85\u2028é😀\x00\x7f"
SPECIAL = st.text(st.sampled_from(list(CHARACTERS)), max_size=12)
WORDS = st.from_regex(r"[A-Za-z_][A-Za-z0-9_.:/-]{0,20}", fullmatch=True)
STRINGS = SPECIAL | WORDS | st.text(max_size=20) | st.sampled_from(["", "-", "---", "...", "null", "~", "yes", "0x1f"])
SCALARS = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | STRINGS
DATA = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(STRINGS, children, max_size=4),
    max_leaves=30,
)


def _documents() -> list[Any]:
    found = []
    for path in sorted((REPO / "rendered").rglob("*.yaml")):
        found += [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc is not None]
    return found


def test_every_rendered_document_is_written_as_the_general_dumper_writes_it() -> None:
    documents = _documents()
    assert len(documents) > 100
    emitter = Emitter(_dump_general, _plain_text)
    for doc in documents:
        assert emitter.emit(doc) == _dump_general(doc)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(DATA)
def test_random_data_is_written_as_the_general_dumper_writes_it(data: Any) -> None:
    expected = _dump_general(data)
    assert dump(data) == expected
    assert Emitter(_dump_general, _plain_text).emit(data) in (expected, None)


@settings(max_examples=300, deadline=None)
@given(STRINGS)
def test_text_taken_as_plain_is_what_libyaml_writes_plain(text: str) -> None:
    if _plain_text(text):
        assert _dump_general([text]) == f"- {text}\n"
        assert _dump_general({text: 1}) == f"{text}: 1\n"


@pytest.mark.parametrize(
    "data",
    [
        "root scalar",
        {},
        [],
        {"x" * 200: 1},  # a complex "? " key
        {1: "a"},  # a key that is no string
        {"a": b"bytes"},
    ],
)
def test_what_it_does_not_write_goes_the_general_way(data: Any) -> None:
    assert Emitter(_dump_general, _plain_text).emit(data) is None
    assert dump(data) == _dump_general(data)
