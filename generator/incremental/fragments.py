"""Where each model's entry sits in an input file's text, so that an edit of a few entries
is read back by parsing only those entries (``changed_entries``), not the whole file.

A span is the half-open range ``[start, end)`` of characters of one entry's lines: in
``models.yaml`` a model's item of the ``models`` list (from its ``-`` line to the next item, or to the next
top-level key or the end of the file), in an environment file a model's override under
``models`` (from its key's line to the next override's). Spans are taken from the full
parse (``Document`` marks) of a render from scratch and recorded with the text.

An edit is read entry by entry when every changed line lies inside the spans of the
entries it touches. Their new lines are then parsed on their own, under a ``models:`` line:
the block structure before and after them is unchanged, so in the file they mean what they
mean alone. Two checks make that exact rather than assumed: the recorded lines of those
spans, parsed the same way, must give the recorded entries (the spans are whole entries),
and the new lines must give entries of the same names, in the same order. Files with anchors or aliases (``&``,
``*`` anywhere) have no spans: an entry could share nodes with another.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from generator.errors import ModelfleetError
from generator.read.load import Document, parse_text

Spans = dict[str, list[int]]  # name -> [start, end) characters, each at the start of a line


def file_spans(document: Document) -> Spans | None:
    """The span of each entry of ``document`` (``models.yaml`` or an environment file), or
    None when the file cannot be read entry by entry."""
    text_has_refs = any("&" in line or "*" in line for line in document.lines)
    data = document.data
    models = data.get("models") if isinstance(data, dict) else None
    if text_has_refs or not models or ("models",) not in document.key_marks:
        return None
    models_line = document.key_marks[("models",)][0] - 1
    if isinstance(models, list):
        found = [item.get("name") if isinstance(item, dict) else None for item in models]
        names: list[str] = [name for name in found if isinstance(name, str)]
        starts = [document.value_marks.get(("models", index), (0, 0))[0] - 1 for index in range(len(models))]
        if len(names) != len(found):
            return None
        for start in starts:  # each item starts on its own "- " line
            if start <= models_line or not document.lines[start].lstrip().startswith("- "):
                return None
    elif isinstance(models, dict):
        names = [str(name) for name in models]
        starts = [document.key_marks.get(("models", name), (0, 0))[0] - 1 for name in names]
        if any(start <= models_line for start in starts):
            return None
    else:
        return None
    if starts != sorted(starts) or len(set(starts)) != len(starts):
        return None
    top = [line - 1 for path, (line, _) in document.key_marks.items() if len(path) == 1 and path[0] != "models"]
    after = [line for line in top if line > starts[-1]]  # the first top-level key after the models ends them
    ends = [*starts[1:], min(after) if after else len(document.lines)]
    at = [0]  # the character each line starts at
    for line in document.lines:
        at.append(at[-1] + len(line) + 1)
    at[-1] -= 1  # the last line has no line break after it
    return {str(name): [at[start], at[end]] for name, start, end in zip(names, starts, ends, strict=True)}


@dataclass(frozen=True)
class Edit:
    """The entries an edit touched (name -> new data; unchanged ones too), and the file's
    spans after the edit."""

    entries: dict[str, Any]
    spans: Spans


def _common_prefix(a: str, b: str) -> int:
    """The length of the longest common prefix of ``a`` and ``b`` (compared in blocks)."""
    size, low = 1 << 14, 0
    high = min(len(a), len(b))
    while low + size <= high and a[low : low + size] == b[low : low + size]:
        low += size
    high = min(high, low + size)
    while low < high:  # a[:low] == b[:low], and they differ before high (or high is the end)
        middle = (low + high + 1) // 2
        if a[low:middle] == b[low:middle]:
            low = middle
        else:
            high = middle - 1
    return low


def _line_start(text: str, at: int) -> bool:
    return at == 0 or text[at - 1] == "\n"


def changed_entries(
    old: str, new: str, spans: Mapping[str, list[int]], recorded: Callable[[str], str | None], display: str
) -> Edit | str:
    """The entries an edit from ``old`` to ``new`` lies in, or why it is not within entries.
    ``recorded``: an entry's canonical text (``repr`` of its data) as last rendered."""
    first = _common_prefix(old, new)
    first = old.rfind("\n", 0, first) + 1  # widened to whole lines: a line start in both texts
    tail = _common_prefix(old[first:][::-1], new[first:][::-1])
    shift = len(new) - len(old)
    last = len(old) - tail  # the changed characters of old are [first, last)
    if not (_line_start(old, last) and _line_start(new, last + shift)):
        end_of_line = old.find("\n", last)  # the common tail starts mid-line: from the next line
        last = len(old) if end_of_line < 0 else end_of_line + 1
    ordered = sorted(spans.items(), key=lambda item: item[1][0])
    # Lines inserted between two entries may belong to either: both are read.
    low, high = (first - 1, first + 1) if first == last else (first, last)
    inside = [(name, span) for name, span in ordered if span[1] > low and span[0] < high]
    if not inside or inside[0][1][0] > max(low, 0) or inside[-1][1][1] < high - (first == last):
        return "the edit is outside the models' entries"
    start, end = inside[0][1][0], inside[-1][1][1]
    names = [name for name, _ in inside]
    before = fragment_entries(old[start:end], display)
    if before is None or list(before) != names or any(repr(before[n][0]) != recorded(n) for n in names):
        return f"the recorded lines of {', '.join(names)} are not their entries"
    after = fragment_entries(new[start : end + shift], display)
    if after is None or list(after) != names:
        return f"the edit of {', '.join(names)} is not of these entries alone"
    moved = {name: [a + shift, b + shift] if a >= end else [a, b] for name, (a, b) in spans.items()}
    bounds = [start] + [start + offset for _, offset in list(after.values())[1:]] + [end + shift]
    for index, name in enumerate(names):
        moved[name] = [bounds[index], bounds[index + 1]]
    return Edit({name: data for name, (data, _) in after.items()}, moved)


def fragment_entries(text: str, display: str) -> dict[str, tuple[Any, int]] | None:
    """The entries ``text`` (whole lines of a file) holds, in order: name -> (data, the
    character its line starts at), parsed under ``models:``; None when it holds anything
    else or does not parse."""
    if "&" in text or "*" in text:
        return None
    try:
        document = parse_text("models:\n" + text, f"{display} (a model's entry)")
    except ModelfleetError:  # a finding is reported by the full parse
        return None
    lines = document.lines[1:]
    at = [0]
    for text_line in lines:
        at.append(at[-1] + len(text_line) + 1)
    data = document.data
    models = data.get("models") if len(data) == 1 else None
    entries: dict[str, tuple[Any, int]] = {}
    if isinstance(models, list):
        for index, item in enumerate(models):
            name = item.get("name") if isinstance(item, dict) else None
            row = document.value_marks.get(("models", index), (0, 0))[0] - 2
            if not isinstance(name, str) or name in entries or not lines[row].lstrip().startswith("- "):
                return None
            entries[name] = (item, at[row])
    elif isinstance(models, dict):
        for name, value in models.items():
            entries[str(name)] = (value, at[document.key_marks.get(("models", name), (0, 0))[0] - 2])
    else:
        return None
    offsets = [offset for _, offset in entries.values()]
    if not entries or offsets != sorted(set(offsets)):
        return None
    return entries
