"""write.manifest: the writer's manifest body in columns. What is encoded decodes to the same
records, the kept tree's against the visible one's, and a damaged body is refused (the
writer then trusts no record and reads the trees)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from generator.write.manifest import decode_body, encode_body
from generator.write.record import Tree

_PATH = st.text(alphabet="abcé/-._0", min_size=1, max_size=12)
_INT = st.integers(min_value=-(2**63), max_value=2**63 - 1)
_FILE = st.tuples(st.text(alphabet="0123456789abcdef", min_size=40, max_size=40), _INT, _INT, _INT, _INT)


@st.composite
def trees(draw: st.DrawFn) -> Tree:
    files = draw(st.dictionaries(_PATH, _FILE, max_size=20))
    dirs = draw(st.dictionaries(_PATH, st.tuples(_INT, _INT, _INT), max_size=8))
    dirs[""] = draw(st.tuples(_INT, _INT, _INT))
    racy = draw(st.sets(st.sampled_from(sorted(files.keys() | dirs.keys()))))
    return files, dirs, racy


@settings(max_examples=200, deadline=None)
@given(visible=trees(), kept=st.one_of(st.none(), trees()), shared=st.booleans())
def test_records_survive_the_round_trip(visible: Tree, kept: Tree | None, shared: bool) -> None:
    if kept is not None and shared:  # most kept files are recorded alike in both trees
        kept = ({**visible[0], **kept[0]}, kept[1], kept[2])
    assert decode_body(encode_body(visible, kept), with_kept=True) == (visible, kept)
    assert decode_body(encode_body(visible, kept), with_kept=False) == (visible, None)
    assert decode_body(encode_body(None, None), with_kept=True) == (None, None)


def _tree() -> Tree:
    files = {"a/x.yaml": ("1" * 40, 10, 3, 5, 6), "b.yaml": ("2" * 40, 11, 4, 7, 8)}
    return files, {"": (1, 2, 3), "a": (4, 5, 6)}, {"b.yaml"}


def test_the_kept_record_holds_only_what_differs() -> None:
    visible = _tree()
    kept_files = {"a/x.yaml": visible[0]["a/x.yaml"], "c.yaml": ("3" * 40, 12, 1, 1, 1)}
    body = encode_body(visible, (kept_files, visible[1], set()))
    head = json.loads(body.partition(b"\n")[0])
    assert (head["kept"]["files"], head["kept"]["absent"]) == (1, 1)  # c.yaml new, b.yaml gone


def _damage(body: bytes, how: str) -> bytes:
    line, _, rest = body.partition(b"\n")
    head = json.loads(line)
    if how == "truncated":
        return body[:-3]
    if how == "trailing bytes":
        return body + b"x"
    if how == "no head line":
        return line
    if how == "wrong count":
        head["visible"]["files"] = 3
    elif how == "negative size":
        head["visible"]["blocks"][0] = -1
    elif how == "five blocks":
        head["visible"]["blocks"] = head["visible"]["blocks"][:5]
    elif how == "racy path unknown":
        head["visible"]["racy"] = ["nowhere"]
    elif how == "no root directory":
        return _encode_without_root()
    return json.dumps(head).encode() + b"\n" + rest


def _encode_without_root() -> bytes:
    files, dirs, racy = _tree()
    return encode_body((files, {k: v for k, v in dirs.items() if k}, racy), None)


@pytest.mark.parametrize(
    "how",
    [
        "truncated",
        "trailing bytes",
        "no head line",
        "wrong count",
        "negative size",
        "five blocks",
        "racy path unknown",
        "no root directory",
    ],
)
def test_a_damaged_body_is_refused(how: str) -> None:
    body = _damage(encode_body(_tree(), None), how)
    with pytest.raises((ValueError, KeyError)):
        decode_body(body, with_kept=True)


def test_a_path_recorded_twice_is_refused() -> None:
    files, dirs, racy = _tree()
    body = encode_body((files, dirs, racy), None)
    line, _, rest = body.partition(b"\n")
    head = json.loads(line)
    doubled = rest.replace(b"a/x.yaml\0b.yaml", b"b.yaml\0b.yaml", 1)
    head["visible"]["blocks"][0] = len(b"b.yaml\0b.yaml")
    assert doubled != rest
    with pytest.raises(ValueError, match="twice"):
        decode_body(json.dumps(head).encode() + b"\n" + doubled, with_kept=True)
