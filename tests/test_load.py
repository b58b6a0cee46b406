"""load: YAML text to plain data with line/column marks, and the YAML traps it rejects.

Every rejection is asserted with its exact message and location, because that is what
the user reads first.
"""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from generator.errors import Finding, Location, ModelfleetError
from generator.read import load
from generator.read.load import MAX_ALIAS_NODES, MAX_DEPTH, Document, copy_loaded, load_file, parse_text

NESTED = """\
top:
  inner:
    leaf: 5
  items:
    - name: a
    -   name: b
        x: [1, 2]
"""


def only_finding(text: str, display: str = "m.yaml") -> Finding:
    with pytest.raises(ModelfleetError) as info:
        parse_text(text, display)
    [finding] = info.value.findings
    return finding


def load_bytes(tmp_path: Path, raw: bytes, display: str = "environments/dev.yaml") -> Document:
    path = tmp_path / "file.yaml"
    path.write_bytes(raw)
    return load_file(path, display)


def load_finding(tmp_path: Path, raw: bytes, display: str = "environments/dev.yaml") -> Finding:
    with pytest.raises(ModelfleetError) as info:
        load_bytes(tmp_path, raw, display)
    [finding] = info.value.findings
    return finding


# ---------------------------------------------------------------- marks


def test_value_marks_of_nested_keys_and_list_items() -> None:
    doc = parse_text(NESTED, "m.yaml")
    assert doc.data == {"top": {"inner": {"leaf": 5}, "items": [{"name": "a"}, {"name": "b", "x": [1, 2]}]}}
    marks = doc.value_marks
    assert marks[("top", "inner", "leaf")] == (3, 11)
    assert marks[("top", "items", 0)] == (5, 7)
    assert marks[("top", "items", 0, "name")] == (5, 13)
    assert marks[("top", "items", 1)] == (6, 9)
    assert marks[("top", "items", 1, "name")] == (6, 15)
    assert marks[("top", "items", 1, "x", 1)] == (7, 16)


def test_key_marks_point_at_the_key_not_the_value() -> None:
    doc = parse_text(NESTED, "m.yaml")
    assert doc.key_marks[("top",)] == (1, 1)
    assert doc.key_marks[("top", "inner", "leaf")] == (3, 5)
    assert doc.key_marks[("top", "items", 1, "x")] == (7, 9)
    assert ("top", "items", 0) not in doc.key_marks  # list items have no key


def test_locate_value_and_key() -> None:
    doc = parse_text(NESTED, "m.yaml")
    assert doc.locate(("top", "items", 1, "name")) == Location("m.yaml", 6, 15)
    assert doc.locate(("top", "items", 1, "name"), key=True) == Location("m.yaml", 6, 9)


def test_locate_falls_back_to_the_nearest_ancestor() -> None:
    doc = parse_text(NESTED, "m.yaml")
    assert doc.locate(("top", "items", 1, "missing", "deeper")) == Location("m.yaml", 6, 9)
    assert doc.locate(("top", "inner", "nope"), key=True) == Location("m.yaml", 2, 3)
    assert doc.locate(("nothing",)) == Location("m.yaml", 1, 1)
    # a list item has no key mark: the key lookup uses its value mark
    assert doc.locate(("top", "items", 0), key=True) == Location("m.yaml", 5, 7)


def test_finding_carries_path_and_source_line() -> None:
    doc = parse_text(NESTED, "m.yaml")
    finding = doc.finding(("top", "items", 1, "x", 0), "bad", "fix it")
    assert finding == Finding("bad", Location("m.yaml", 7, 13), "top.items[1].x[0]", "fix it")
    assert finding.source_line == "        x: [1, 2]"


# ---------------------------------------------------------------- YAML 1.1 coercions


def test_plain_text_records_yaml11_coercions() -> None:
    doc = parse_text("a: no\nb: on\nc: 0755\nd: 3.10\ne: 1:20\n", "m.yaml")
    assert doc.data == {"a": False, "b": True, "c": 493, "d": 3.1, "e": 80}
    assert dict(doc.plain_text) == {("a",): "no", ("b",): "on", ("c",): "0755", ("d",): "3.10", ("e",): "1:20"}


def test_plain_text_skips_quoted_and_plain_strings() -> None:
    doc = parse_text('a: \'no\'\nb: "3.10"\nc: hello\nd: ["0755", off]\n', "m.yaml")
    assert doc.data == {"a": "no", "b": "3.10", "c": "hello", "d": ["0755", False]}
    assert dict(doc.plain_text) == {("d", 1): "off"}


def test_dates_and_timestamps_stay_strings() -> None:
    doc = parse_text("day: 2024-11-02\nat: 2024-11-02 10:00:00\n", "m.yaml")
    assert doc.data == {"day": "2024-11-02", "at": "2024-11-02 10:00:00"}
    assert dict(doc.plain_text) == {}


def test_explicit_str_tag_keeps_text() -> None:
    assert parse_text("a: !!str 0755\n", "m.yaml").data == {"a": "0755"}


# ---------------------------------------------------------------- rejections


def test_duplicate_key() -> None:
    finding = only_finding("fleet:\n  name: a\n  name: b\n")
    assert finding.message == "duplicate key 'name' (first defined at line 2)"
    assert finding.location == Location("m.yaml", 3, 3)
    assert finding.hint == "remove one of the two; YAML would silently keep only the last"
    assert finding.source_line == "  name: b"


def test_tab_indentation() -> None:
    finding = only_finding("fleet:\n \tname: a\n")
    assert finding.message == "a tab is used for indentation"
    assert finding.location == Location("m.yaml", 2, 2)
    assert finding.hint == "YAML indents with spaces only; replace the tab with spaces"


def test_tab_inside_a_value_is_not_indentation() -> None:
    assert parse_text('a: "x\ty"\n', "m.yaml").data == {"a": "x\ty"}


def test_multiple_documents() -> None:
    finding = only_finding("a: 1\n---\nb: 2\n")
    assert finding.message == "the file holds more than one YAML document"
    assert finding.location == Location("m.yaml", 2, 1)
    assert "remove the '---' separator" in finding.hint


def test_one_explicit_document_start_is_fine() -> None:
    assert parse_text("---\na: 1\n", "m.yaml").data == {"a": 1}


def test_small_aliases_expand() -> None:
    doc = parse_text("x: &a {b: 1}\ny: *a\n", "m.yaml")
    assert doc.data == {"x": {"b": 1}, "y": {"b": 1}}
    doc.data["y"]["b"] = 2
    assert doc.data["x"] == {"b": 1}, "an alias must expand to a copy"


def test_alias_expansion_bound() -> None:
    def aliased_list(items: int) -> str:
        return "a: &a [" + ", ".join(["1"] * items) + "]\nb: *a\n"

    # the alias expands to the list node plus its items
    assert len(parse_text(aliased_list(MAX_ALIAS_NODES - 1), "m.yaml").data["b"]) == MAX_ALIAS_NODES - 1
    finding = only_finding(aliased_list(MAX_ALIAS_NODES))
    assert finding.message == f"aliases expand to more than {MAX_ALIAS_NODES} nodes"
    assert finding.hint == "write the values out instead of nesting aliases"
    # the last item of the anchored list: "a: &a [" is 7 characters, each item 3
    assert finding.location == Location("m.yaml", 1, 8 + 3 * (MAX_ALIAS_NODES - 1))


def test_alias_bomb_is_rejected() -> None:
    text = (
        "x-a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]\n"
        "x-b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
        "x-c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
        "x-d: [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
    )
    assert only_finding(text).message == f"aliases expand to more than {MAX_ALIAS_NODES} nodes"


def test_nesting_depth_bound() -> None:
    def nested(levels: int) -> str:  # the top mapping is one level, each '[' another
        return "a: " + "[" * (levels - 1) + "]" * (levels - 1) + "\n"

    parse_text(nested(MAX_DEPTH), "m.yaml")
    finding = only_finding(nested(MAX_DEPTH + 1))
    assert finding.message == f"nesting is deeper than {MAX_DEPTH} levels"
    assert finding.location == Location("m.yaml", 1, 3 + MAX_DEPTH)  # the bracket that opens level 41
    assert finding.hint == "flatten the structure; no modelfleet field nests this deep"


_DEEP = "a: " + "[" * 45 + "]" * 45 + "\n"
ORDER_CASES = {
    "deep, then a duplicate key": "z: 1\n" + _DEEP + "z: 2\n",
    "a duplicate key, then deep": "z: 1\nz: 2\n" + _DEEP,
    "deep, then broken syntax": _DEEP + "b: [1\n",
    "broken syntax, then deep": "b: [1\n" + _DEEP,
    "two documents, the second broken": "a: 1\n---\nb: [1\n",
    "deep, then two documents": _DEEP + "---\nb: 2\n",
    "deeper than libyaml allows": "a: " + "[" * 1200 + "]" * 1200 + "\n",
    "deep in block style": "".join("  " * i + "-\n" for i in range(60)),
    "deep via an alias": "x: &x " + "[" * 30 + "]" * 30 + "\ny: [[[[[[[[[[[[*x]]]]]]]]]]]]\n",
    "unsafe character, then deep": "a: \"\\x85\"\n" + _DEEP,
    "deep, then a tag": _DEEP + "b: !!python/name:os.system x\n",
}


@pytest.mark.parametrize("case", list(ORDER_CASES))
def test_the_c_parser_path_reports_what_the_prescan_reports(case: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """With the C parser the event stream is walked only for a file with a finding: whatever
    the order of the problems in it, the finding is the one the prescan-first order gives."""
    text = ORDER_CASES[case]

    def outcome(prescan: bool) -> object:
        monkeypatch.setattr(load, "_PRESCAN", prescan)
        try:
            return parse_text(text, "m.yaml").data
        except ModelfleetError as exc:
            return exc.findings

    assert outcome(True) == outcome(False)


def test_merge_key() -> None:
    finding = only_finding("base: &b {x: 1}\nchild:\n  <<: *b\n  y: 2\n")
    assert finding.message == "merge keys ('<<') are not supported"
    assert finding.location == Location("m.yaml", 3, 3)
    assert finding.hint == "write the keys out, or put shared values under 'defaults:'"


def test_quoted_double_angle_key_is_an_ordinary_key() -> None:
    assert parse_text("'<<': 1\n", "m.yaml").data == {"<<": 1}


@pytest.mark.parametrize(
    ("text", "tag", "column"),
    [
        ("a: !foo bar\n", "!foo", 4),
        ("a: !!binary aGVsbG8=\n", "tag:yaml.org,2002:binary", 4),
        ("a: [1, !!python/object:os.system x]\n", "tag:yaml.org,2002:python/object:os.system", 8),
    ],
)
def test_custom_tags(text: str, tag: str, column: int) -> None:
    finding = only_finding(text)
    assert finding.message == f"unsupported YAML tag '{tag}'"
    assert finding.location == Location("m.yaml", 1, column)
    assert finding.hint == "remove the tag; modelfleet reads plain YAML values only"


def test_non_scalar_key() -> None:
    finding = only_finding("? [a]\n: 1\n")
    assert finding.message == "a mapping key must be a plain string"
    assert finding.location == Location("m.yaml", 1, 3)


def test_syntax_error_is_located() -> None:
    finding = only_finding("a:\n  b: - x\n")
    assert finding.message == "invalid YAML: block sequence entries are not allowed in this context"
    assert finding.location == Location("m.yaml", 2, 6)
    assert finding.hint == "fix the syntax at the caret"


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n"])
def test_empty_file(text: str) -> None:
    finding = only_finding(text)
    assert finding.message == "the file is empty"
    assert finding.location == Location("m.yaml", 1, 1)


@pytest.mark.parametrize("text", ["- a\n- b\n", "just text\n", "42\n"])
def test_top_level_must_be_a_mapping(text: str) -> None:
    finding = only_finding(text)
    assert finding.message == "the file must be a YAML mapping (key: value) at the top"
    assert finding.location == Location("m.yaml", 1, 1)


# ---------------------------------------------------------------- bytes on disk


def test_load_file_reads_utf8(tmp_path: Path) -> None:
    doc = load_bytes(tmp_path, "owner: équipe-ü\n".encode())
    assert doc.path == "environments/dev.yaml"
    assert doc.data == {"owner": "équipe-ü"}


def test_not_utf8(tmp_path: Path) -> None:
    finding = load_finding(tmp_path, b"a: 1\nb: caf\xe9\n")
    assert finding.message == "byte 0xe9 is not valid UTF-8"
    assert finding.location == Location("environments/dev.yaml", 2, 7)
    assert finding.hint == "save the file as UTF-8"


def test_not_utf8_column_counts_characters(tmp_path: Path) -> None:
    finding = load_finding(tmp_path, "b: é".encode() + b"\xff\n")
    assert finding.location == Location("environments/dev.yaml", 1, 5)


def test_nul_bytes(tmp_path: Path) -> None:
    finding = load_finding(tmp_path, b"a: 1\nb: \x00\n")
    assert finding.message == "the file is binary (it contains NUL bytes)"
    assert finding.location == Location("environments/dev.yaml")
    assert finding.hint == "point at a YAML text file"


def test_bom_is_accepted_and_does_not_shift_columns(tmp_path: Path) -> None:
    doc = load_bytes(tmp_path, b"\xef\xbb\xbfa: 1\nb: x\n")
    assert doc.data == {"a": 1, "b": "x"}
    assert doc.value_marks[("a",)] == (1, 4)
    assert doc.source_line(1) == "a: 1"


def test_crlf_is_accepted(tmp_path: Path) -> None:
    doc = load_bytes(tmp_path, b"a: 1\r\nb:\r\n  c: x\r\n")
    assert doc.data == {"a": 1, "b": {"c": "x"}}
    assert doc.value_marks[("b", "c")] == (3, 6)
    assert doc.source_line(3) == "  c: x"


def test_crlf_errors_show_the_line_without_carriage_return(tmp_path: Path) -> None:
    finding = load_finding(tmp_path, b"a: 1\r\na: 2\r\n")
    assert finding.location == Location("environments/dev.yaml", 2, 1)
    assert finding.source_line == "a: 2"


def test_empty_file_on_disk(tmp_path: Path) -> None:
    finding = load_finding(tmp_path, b"")
    assert finding.message == "the file is empty"
    assert finding.location == Location("environments/dev.yaml", 1, 1)


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(ModelfleetError) as info:
        load_file(tmp_path / "absent.yaml", "models.yaml")
    [finding] = info.value.findings
    assert finding.message == "cannot read the file: No such file or directory"
    assert finding.location == Location("models.yaml")


@settings(max_examples=300, deadline=None)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
        lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=3), children, max_size=3),
        max_leaves=15,
    )
)
def test_copy_loaded_is_deepcopy(value: object) -> None:
    copied = copy_loaded(value)
    assert copied == value
    assert copied == copy.deepcopy(value)
    if isinstance(value, (dict, list)):
        assert copied is not value


def test_copy_loaded_keeps_a_shared_container_shared_as_deepcopy_does() -> None:
    shared = {"a": [1, 2]}
    data = {"x": shared, "y": shared, "z": [shared["a"]]}
    copied = copy_loaded(data)
    assert copied["x"] is copied["y"] and copied["x"] is not shared
    assert copied["z"][0] is copied["x"]["a"]
    expected = copy.deepcopy(data)
    assert (expected["x"] is expected["y"]) and (expected["z"][0] is expected["x"]["a"])
