"""An edit read entry by entry (generator.incremental.fragments) means what the whole file
means: for random line edits of the example's models.yaml and an environment file, whenever
``changed_entries`` accepts an edit, the full parse of the edited file holds exactly the
recorded data with those entries replaced, and the new spans hold each entry alone."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from generator.errors import ModelfleetError
from generator.incremental.fragments import changed_entries, file_spans, fragment_entries
from generator.read.load import load_file, parse_text

REPO = Path(__file__).resolve().parent.parent
FILES = ["models.yaml", "environments/prod.yaml", "environments/dev.yaml"]


def _entries(data: dict[str, Any]) -> dict[str, Any]:
    models = data["models"]
    return {m["name"]: m for m in models} if isinstance(models, list) else dict(models)


def _original(path: str) -> tuple[str, dict[str, Any], dict[str, list[int]]]:
    document = load_file(REPO / path, path)
    spans = file_spans(document)
    assert spans is not None, path
    return "\n".join(document.lines), document.data, spans


def _check(path: str, new: str) -> bool:
    """Whether the edit was accepted; when it was, that it is exact."""
    old, data, spans = _original(path)
    recorded = {name: repr(value) for name, value in _entries(data).items()}
    edit = changed_entries(old, new, spans, recorded.get, path)
    if isinstance(edit, str):
        return False
    try:
        full = parse_text(new, path).data
    except ModelfleetError as exc:
        raise AssertionError(f"accepted an edit the whole file rejects: {exc}") from None
    expected = {k: v for k, v in data.items() if k != "models"}
    assert {k: v for k, v in full.items() if k != "models"} == expected
    entries = _entries(full)
    assert list(entries) == list(_entries(data))  # same entries, same order
    for name, value in entries.items():
        assert repr(value) == repr(edit.entries.get(name, _entries(data)[name])), name
        start, end = edit.spans[name]
        alone = fragment_entries(new[start:end], path)
        assert alone is not None and list(alone) == [name], (name, new[start:end])
        assert repr(alone[name][0]) == repr(value)
    return True


LINE_EDITS = st.sampled_from(
    [
        "insert a comment",
        "insert a blank line",
        "delete",
        "duplicate",
        "indent",
        "dedent",
        "change a digit",
        "append a key",
    ]
)


def _edited(text: str, index: int, kind: str) -> str:
    lines = text.split("\n")
    index %= len(lines)
    line = lines[index]
    indent = " " * (len(line) - len(line.lstrip()))
    if kind == "insert a comment":
        lines.insert(index, f"{indent}# a note")
    elif kind == "insert a blank line":
        lines.insert(index, "")
    elif kind == "delete":
        del lines[index]
    elif kind == "duplicate":
        lines.insert(index, line)
    elif kind == "indent":
        lines[index] = "  " + line
    elif kind == "dedent":
        lines[index] = line[2:] if line.startswith("  ") else line
    elif kind == "change a digit":
        digits = [i for i, c in enumerate(line) if c.isdigit()]
        if digits:
            i = digits[0]
            lines[index] = line[:i] + str((int(line[i]) + 1) % 10) + line[i + 1 :]
    elif kind == "append a key":
        lines.insert(index + 1, f"{indent}zzz: 1")
    return "\n".join(lines)


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(FILES), st.lists(st.tuples(st.integers(0, 10_000), LINE_EDITS), min_size=1, max_size=3))
def test_an_accepted_edit_means_what_the_whole_file_means(path: str, edits: list[tuple[int, str]]) -> None:
    text = _original(path)[0]
    for index, kind in edits:
        text = _edited(text, index, kind)
    _check(path, text)


@pytest.mark.parametrize(
    ("path", "old", "new"),
    [
        ("models.yaml", "maxReplicas: 12", "maxReplicas: 13"),
        ("models.yaml", 'tag: "1.6.1-r2"', 'tag: "1.6.1-r2"  # pinned\n      # and reviewed'),
        (
            "environments/prod.yaml",
            "scaling: {maxReplicas: 60}",
            "scaling: {maxReplicas: 60}\n    startup: {maxSeconds: 9}",
        ),
        ("environments/dev.yaml", "\n  support-llm:", "\n\n  support-llm:"),
    ],
)
def test_an_edit_inside_entries_is_accepted(path: str, old: str, new: str) -> None:
    text = _original(path)[0]
    assert old in text
    assert _check(path, text.replace(old, new, 1))


@pytest.mark.parametrize(
    ("path", "old", "new"),
    [
        ("models.yaml", "models:\n", "models:\n  # first\n"),  # before the first entry: the header's
        ("models.yaml", "maxReplicas: 12", "maxReplicas: *max"),
        ("models.yaml", "  - name: churn-model", "  - name: churn"),
        ("environments/prod.yaml", "  image-classifier:", "  sentiment: {}\n  image-classifier:"),
    ],
)
def test_an_edit_outside_one_entry_or_of_its_name_is_declined(path: str, old: str, new: str) -> None:
    text = _original(path)[0]
    assert old in text
    assert not _check(path, text.replace(old, new, 1))
