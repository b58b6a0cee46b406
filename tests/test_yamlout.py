"""yamlout: ambiguous strings quoted, exact round trips, stable bytes."""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from generator.output.yamlout import dump, dump_documents, dump_split, needs_quotes

# fmt: off
AMBIGUOUS = [
    # YAML 1.1 bools, every spelling; 1.2 bools
    "y", "Y", "n", "N", "yes", "Yes", "YES", "no", "No", "NO",
    "on", "On", "ON", "off", "Off", "OFF",
    "true", "True", "TRUE", "false", "False", "FALSE",
    # null
    "~", "null", "Null", "NULL", "",
    # ints: 1.1 octal, 1.2 octal, hex, binary, underscores, sign, sexagesimal, Go forms
    "0", "42", "-7", "+12", "0755", "0o755", "0O755", "0x1F", "0X1f", "0b101", "-0b1",
    "1_000", "1__0", "-_1", "1:20", "190:20:30", "+1:20",
    # floats: 1.2 exponent without dot, dotted forms, inf/nan, underscores, sexagesimal
    "1e3", "1E3", "1e+3", "1e-3", "1.5", ".5", "1.", "-1.", "3.10", "6.8523015e+5",
    "1_000.5", "1:20.5", ".inf", ".Inf", ".INF", "-.inf", "+.inf", "-.Inf", ".nan",
    ".NaN", ".NAN", "._5",
    # dates and timestamps, YAML 1.1 and Go's 1-digit forms
    "2024-01-02", "2024-1-2", "2001-12-14t21:59:43.10-05:00",
    "2001-12-14T21:59:43Z", "2001-12-14 21:59:43.10 -5", "2001-12-14 1:2:3",
    # value and merge keys
    "=", "<<",
]

PLAIN = [
    "abc", "nginx", "v1", "1.2.3", "0.0.0.0", "500m", "2Gi", "8080:80", "sha256:9f2c",
    "app.kubernetes.io/name", "hello world", "python:3.11-slim-bookworm", "e3", "_1",
    "yesterday", "none", "inf", "nan", "2024-01-02x",
]
# fmt: on

# An independent oracle: the YAML 1.2 core schema, as ruamel and yaml.v3 read it.
CORE_12 = re.compile(
    r"""null|Null|NULL|~|
    |true|True|TRUE|false|False|FALSE
    |[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+
    |[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?
    |[-+]?\.(inf|Inf|INF)|\.nan|\.NaN|\.NAN""",
    re.VERBOSE,
)


def scalars(text: str) -> Iterator[yaml.ScalarNode]:
    """Every scalar node of every document in ``text``."""
    stack: list[yaml.Node] = [n for n in yaml.compose_all(text, Loader=yaml.SafeLoader) if n]
    while stack:
        node = stack.pop()
        if isinstance(node, yaml.ScalarNode):
            yield node
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)
        elif isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                stack.extend((key, value))


def assert_strings_quoted(text: str) -> None:
    for node in scalars(text):
        if node.tag != "tag:yaml.org,2002:str":
            continue
        if needs_quotes(node.value):
            assert node.style == '"', (node.value, text)
        if node.style is None:
            assert not CORE_12.fullmatch(node.value), (node.value, text)


@pytest.mark.parametrize("text", AMBIGUOUS)
def test_ambiguous_strings_are_double_quoted(text: str) -> None:
    assert needs_quotes(text)
    out = dump({text: text, "list": [text]})
    assert out.count(f'"{text}"') == 3
    assert yaml.safe_load(out) == {text: text, "list": [text]}


@pytest.mark.parametrize("text", PLAIN)
def test_ordinary_strings_stay_plain(text: str) -> None:
    assert not needs_quotes(text)
    assert dump({"k": text}) == f"k: {text}\n"


@pytest.mark.parametrize("text", ["- x", "a: b", "#x", " a", "a ", "@x", "*x", "{x", "'x", '"x'])
def test_syntax_quoting_is_kept(text: str) -> None:
    out = dump({"k": text})
    assert out != f"k: {text}\n"
    assert yaml.safe_load(out) == {"k": text}


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (1.0, "1.0"),
        (0.1, "0.1"),
        (-2.5, "-2.5"),
        (1e17, "1.0e+17"),
        (1e-07, "1.0e-07"),
        (float("inf"), ".inf"),
        (float("-inf"), "-.inf"),
        (3, "3"),
        (True, "true"),
        (False, "false"),
        (None, "null"),
        (10**20, "100000000000000000000"),
    ],
)
def test_non_string_scalars(value: Any, text: str) -> None:
    assert dump({"k": value}) == f"k: {text}\n"
    assert yaml.safe_load(dump(value)) == value


def test_nan() -> None:
    assert dump({"k": float("nan")}) == "k: .nan\n"
    assert math.isnan(yaml.safe_load(dump(float("nan"))))


def test_layout_block_style_insertion_order_no_aliases() -> None:
    shared = {"cpu": "500m"}
    data = {
        "zeta": 1,
        "alpha": [1, {"b": [2]}],
        "requests": shared,
        "limits": shared,
        "empty": [],
        "none": {},
        "tuple": (1, "2"),
    }
    assert dump(data) == (
        "zeta: 1\n"
        "alpha:\n"
        "- 1\n"
        "- b:\n"
        "  - 2\n"
        "requests:\n"
        "  cpu: 500m\n"
        "limits:\n"
        "  cpu: 500m\n"
        "empty: []\n"
        "none: {}\n"
        "tuple:\n"
        "- 1\n"
        '- "2"\n'
    )


def test_config_file_content_is_a_literal_block() -> None:
    content = "threshold: 0.82\nlabels:\n  - fraud\n"
    assert dump({"thresholds.yaml": content}) == ("thresholds.yaml: |\n  threshold: 0.82\n  labels:\n    - fraud\n")
    assert dump({"k": "a\nb"}) == "k: |-\n  a\n  b\n"
    assert dump({"k": "  indented\nx\n"}) == "k: |2\n    indented\n  x\n"


@pytest.mark.parametrize("text", ["trailing \nspace\n", "tab\there\n", "crlf\r\n", "two\n\n", "nel\x85x\n", "x\u2028y"])
def test_multiline_that_a_block_would_change_is_double_quoted(text: str) -> None:
    out = dump({"k": text})
    assert out.startswith('k: "')
    assert out.count("\n") == 1
    assert yaml.safe_load(out) == {"k": text}


def test_long_strings_are_not_folded() -> None:
    text = " ".join(["word"] * 2000)
    assert dump({"k": text}) == f"k: {text}\n"
    quoted = "#" + text
    assert dump({"k": quoted}) == f"k: '{quoted}'\n"


def test_unicode_is_written_as_is() -> None:
    assert dump({"k": "Grüße ✓"}) == "k: Grüße ✓\n"


def test_root_scalars_end_with_one_newline() -> None:
    assert dump("abc") == "abc\n"
    assert dump(None) == "null\n"
    assert dump("yes") == '"yes"\n'


def test_dump_documents_header_and_separators() -> None:
    out = dump_documents(
        [{"kind": "A"}, {"kind": "B", "items": [1]}],
        "Generated by modelfleet: do not edit.\n\nSource: models.yaml\n",
    )
    assert out == (
        "# Generated by modelfleet: do not edit.\n#\n# Source: models.yaml\nkind: A\n---\nkind: B\nitems:\n- 1\n"
    )
    assert list(yaml.safe_load_all(out)) == [{"kind": "A"}, {"kind": "B", "items": [1]}]


def test_dump_documents_without_header_or_documents() -> None:
    assert dump_documents([{"a": 1}], "") == "a: 1\n"
    assert dump_documents([], "only a header") == "# only a header\n"
    assert dump_documents(["x", "z"], "h") == "# h\nx\n---\nz\n"


def test_bytes_do_not_depend_on_hash_seed() -> None:
    code = (
        "from generator.output.yamlout import dump_documents\n"
        "docs = [{'metadata': {'labels': {k: 'v' + k for k in 'zxwvu'}}, 's': 'yes'},"
        " {'data': {'f': 'a\\nb\\n', 'n': [1.5, None, True]}}]\n"
        "print(dump_documents(docs, 'hdr'), end='')\n"
    )
    outputs = set()
    for seed in ("0", "1", "12345"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, check=True)
        outputs.add(result.stdout)
    assert len(outputs) == 1
    assert b"labels:\n    z: vz\n    x: vx\n" in outputs.pop()


NUMBERISH = st.from_regex(r"[-+]?[0-9_.:eExXoObB+-]{1,8}", fullmatch=True)
DATEISH = st.from_regex(r"[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}([Tt ][0-9]{1,2}:[0-9]{2}:[0-9]{2})?", fullmatch=True)
TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=30)
STRINGS = TEXT | NUMBERISH | DATEISH | st.sampled_from(AMBIGUOUS + PLAIN)
SCALARS = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | STRINGS
DATA = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(STRINGS, children, max_size=4),
    max_leaves=25,
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(DATA)
def test_random_data_round_trips_and_ambiguous_strings_are_quoted(data: Any) -> None:
    out = dump(data)
    assert yaml.safe_load(out) == data
    assert out.endswith("\n")
    assert not out.endswith("\n\n")
    assert_strings_quoted(out)
    assert dump(data) == out


@settings(max_examples=200, deadline=None)
@given(STRINGS)
def test_needs_quotes_covers_pyyaml_and_yaml_12(text: str) -> None:
    resolver = yaml.resolver.Resolver()
    resolved = resolver.resolve(yaml.ScalarNode, text, (True, False))  # type: ignore[no-untyped-call]
    if resolved != "tag:yaml.org,2002:str" or CORE_12.fullmatch(text):
        assert needs_quotes(text)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(DATA, max_size=3),
    st.text(
        st.characters(codec="ascii", exclude_categories=["Cc"], include_characters="\n\r"),
        max_size=40,
    ),
)
def test_random_documents_round_trip(docs: list[Any], header: str) -> None:
    out = dump_documents(docs, header)
    assert list(yaml.safe_load_all(out)) == docs
    assert out == "" or (out.endswith("\n") and not out.endswith("\n\n"))


def _mapping_paths(data: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    if isinstance(data, dict):
        for key, value in data.items():
            if isinstance(key, str) and isinstance(value, dict):
                yield (*path, key)
                yield from _mapping_paths(value, (*path, key))


SIMPLE_KEYS = st.sampled_from(["services", "a", "b_1", "x-modelfleet", "models", "app.kubernetes.io", "yes", "1"])
NESTED = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(SIMPLE_KEYS | STRINGS, children, max_size=4),
    max_leaves=30,
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(SIMPLE_KEYS | STRINGS, NESTED, max_size=5), st.data())
def test_dump_split_writes_exactly_what_dump_writes(data: dict[Any, Any], draw: st.DataObject) -> None:
    paths = sorted(set(_mapping_paths(data)))
    split = draw.draw(st.lists(st.sampled_from(paths), unique=True) if paths else st.just([]))
    assert dump_split(data, split) == dump(data)
    assert dump_split(data, paths) == dump(data)


@pytest.mark.parametrize(
    "text",
    ["line\n\nafter a blank\n", " leading space\nx", "x\n\n\ny", "tab\tin\nlines\n", "ünï\ncödé\n"],
)
def test_dump_split_keeps_literal_blocks_with_blank_lines(text: str) -> None:
    data = {"services": {"a": {"environment": {"SCRIPT": text}, "command": ["sh", "-c", text]}}, "name": "n"}
    assert dump_split(data, [("services",)]) == dump(data)
    assert yaml.safe_load(dump_split(data, [("services",)])) == data
