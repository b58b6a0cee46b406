"""Edits of a YAML file's text that keep every byte they do not change.

The YAML is composed with PyYAML (the parser the loader uses, so both see the same tree),
and only the text span of the value being replaced is rewritten, or new lines are inserted
after the last entry of the mapping that receives a key. Every other byte of the file
(comments, blank lines, quoting, flow mappings, key order, CRLF line ends) stays as it was.
A round-trip serialiser such as ruamel.yaml cannot promise that: it normalises
``key:   value``, ``{ a: 1 }`` and sequence indentation when it writes the file back.
``edit`` checks that the result reads back as the old data with the new values in place.
"""

from __future__ import annotations

import copy
import json
import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

import yaml

from generator.output.yamlout import needs_quotes


@dataclass(frozen=True)
class YamlMap:
    """A mapping to write; ``flow`` is the style used when a new key is created."""

    items: tuple[tuple[str, YamlValue], ...]
    flow: bool


YamlValue = str | YamlMap  # str: a scalar's YAML text, already quoted where needed

_PLAIN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/:@+%=~-]*")
_ESCAPES = {"\x85": "\\N", "\u2028": "\\L", "\u2029": "\\P", "\ufeff": "\\uFEFF"}


def scalar(value: str, *, quote: bool = False) -> str:
    """Plain when every YAML 1.1/1.2 reader reads it back as this string, else double-quoted."""
    if quote or not _PLAIN.fullmatch(value) or value.endswith(":") or needs_quotes(value):
        text = json.dumps(value, ensure_ascii=False)  # JSON strings are YAML double-quoted scalars
        return "".join(_ESCAPES.get(ch, ch) for ch in text)
    return value


class CannotEdit(Exception):
    """The file uses YAML that these edits do not rewrite by machine (aliases, odd layout)."""


def _compose(text: str) -> yaml.MappingNode:
    node = yaml.compose(text, Loader=yaml.SafeLoader)
    if not isinstance(node, yaml.MappingNode):
        raise CannotEdit("the file is not a mapping")
    return node


def _end(node: yaml.Node) -> int:
    """Index just after the node's own text (block collections end with their last child)."""
    if isinstance(node, yaml.MappingNode) and not node.flow_style and node.value:
        return _end(node.value[-1][1])
    if isinstance(node, yaml.SequenceNode) and not node.flow_style and node.value:
        return _end(node.value[-1])
    index: int = node.end_mark.index
    return index


def _next_line(text: str, index: int) -> int:
    """Start of the line after the one holding ``index`` (len(text) at the end of the file)."""
    if index > 0 and text[index - 1] == "\n":
        return index
    newline = text.find("\n", index)
    return len(text) if newline < 0 else newline + 1


def _past_comments(text: str, at: int, indent: int) -> int:
    """Skip the comment lines right after a mapping's last entry that are indented like its keys or deeper."""
    while at < len(text):
        newline = text.find("\n", at)
        end = len(text) if newline < 0 else newline + 1
        line = text[at:end]
        stripped = line.lstrip(" ")
        if not stripped.startswith("#") or len(line) - len(stripped) < indent:
            break
        at = end
    return at


def _indent_step(root: yaml.Node) -> int:
    """The file's indentation step: the most common offset of a nested block mapping's keys."""
    counts: Counter[int] = Counter()
    seen: set[int] = set()
    stack: list[yaml.Node] = [root]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if isinstance(value, yaml.MappingNode) and not value.flow_style and value.value:
                    step = value.value[0][0].start_mark.column - key.start_mark.column
                    if step > 0:
                        counts[step] += 1
                stack.append(value)
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)
    return min(counts, key=lambda step: (-counts[step], step)) if counts else 2


def _inline(value: YamlValue) -> str:
    if isinstance(value, str):
        return value
    return "{" + ", ".join(f"{key}: {_inline(item)}" for key, item in value.items) + "}"


def _entry_lines(key: str, value: YamlValue, indent: int, step: int) -> list[str]:
    pad = " " * indent
    if isinstance(value, YamlMap) and not value.flow and value.items:
        lines = [f"{pad}{key}:"]
        for child_key, child in value.items:
            lines += _entry_lines(child_key, child, indent + step, step)
        return lines
    return [f"{pad}{key}: {_inline(value)}"]


def _nest(path: tuple[str, ...], value: YamlValue) -> YamlValue:
    if not path:
        return value
    return YamlMap(((path[0], _nest(path[1:], value)),), flow=False)


def _insert(text: str, mapping: yaml.MappingNode, key: str, value: YamlValue, *, step: int, newline: str) -> str:
    """Add ``key: value`` as the last entry of ``mapping``."""
    if mapping.flow_style:
        if mapping.value:
            at = mapping.value[-1][1].end_mark.index
            piece = f", {key}: {_inline(value)}"
        else:
            at = mapping.end_mark.index - 1
            if text[at] != "}":
                raise CannotEdit("unexpected flow mapping layout")
            piece = f"{key}: {_inline(value)}"
        return text[:at] + piece + text[at:]
    if not mapping.value:
        raise CannotEdit("empty block mapping")
    indent = mapping.value[0][0].start_mark.column
    at = _past_comments(text, _next_line(text, _end(mapping)), indent)
    piece = "".join(line + newline for line in _entry_lines(key, value, indent, step))
    if at == len(text) and text and not text.endswith("\n"):
        piece = newline + piece
    return text[:at] + piece + text[at:]


def _replace(text: str, key: yaml.Node, node: yaml.Node, value: YamlValue, *, step: int, newline: str) -> str:
    """Rewrite the value of ``key``, keeping the style (block or flow) it had."""
    if node.start_mark.index < key.end_mark.index:
        raise CannotEdit("the value is a YAML alias")
    if isinstance(node, yaml.MappingNode) and not node.flow_style and node.value:
        end = _end(node)
        if isinstance(value, YamlMap) and value.items:
            first = node.value[0][0].start_mark
            lines = [line for k, item in value.items for line in _entry_lines(k, item, first.column, step)]
            body = lines[0][first.column :] + "".join(newline + line for line in lines[1:])
            return text[: first.index] + body + text[end:]
        return text[: key.end_mark.index] + ": " + _inline(value) + text[end:]
    start, end = node.start_mark.index, node.end_mark.index
    if start == end:  # an empty value (null): write after the colon
        colon = text.find(":", key.end_mark.index)
        if colon < 0 or text[key.end_mark.index : colon].strip():
            raise CannotEdit("no colon after the key")
        return text[: colon + 1] + " " + _inline(value) + text[colon + 1 :]
    return text[:start] + _inline(value) + text[end:]


def _set(text: str, path: tuple[str, ...], value: YamlValue, newline: str) -> str:
    """``text`` with the value at ``path`` set to ``value``; missing mappings are created."""
    root = _compose(text)
    step = _indent_step(root)
    mapping = root
    for depth, name in enumerate(path):
        rest = path[depth + 1 :]
        found = next(
            ((k, v) for k, v in mapping.value if isinstance(k, yaml.ScalarNode) and k.value == name),
            None,
        )
        if found is None:
            return _insert(text, mapping, name, _nest(rest, value), step=step, newline=newline)
        key, child = found
        if not rest:
            return _replace(text, key, child, value, step=step, newline=newline)
        if not isinstance(child, yaml.MappingNode) or child.start_mark.index < key.end_mark.index:
            raise CannotEdit(f"'{name}' is not a plain mapping")
        mapping = child
    raise AssertionError("empty path")  # pragma: no cover


def _with_value(data: Any, path: tuple[str, ...], value: Any) -> Any:
    out = copy.deepcopy(data)
    current = out
    for name in path[:-1]:
        current = current.setdefault(name, {})
    current[path[-1]] = value
    return out


def edit(text: str, edits: list[tuple[tuple[str, ...], YamlValue, Any]], newline: str) -> str:
    """Apply ``(path, yaml value, python value)`` edits; check the result reads back as intended."""
    expected = yaml.safe_load(text)
    for path, value, data in edits:
        text = _set(text, path, value, newline)
        expected = _with_value(expected, path, data)
    try:
        actual = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise CannotEdit(f"the edit does not parse: {exc}") from None
    if actual != expected:
        raise CannotEdit("the edit does not read back as intended")
    return text


def _mapping_at(root: yaml.MappingNode, path: tuple[str, ...]) -> yaml.Node:
    node: yaml.Node = root
    for name in path:
        if not isinstance(node, yaml.MappingNode):
            raise CannotEdit(f"'{name}' is not inside a mapping")
        found = next((v for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == name), None)
        if found is None:
            raise CannotEdit(f"no '{name}'")
        node = found
    return node


def append_item(text: str, path: tuple[str, ...], item: str, newline: str) -> str:
    """``text`` with the block mapping ``item`` (YAML text, keys at column 0) added as the last
    item of the block sequence at ``path``, indented like the items before it, after a blank
    line when they are separated by one; checked to read back as the old data plus the item."""
    sequence = _mapping_at(_compose(text), path)
    if not isinstance(sequence, yaml.SequenceNode) or sequence.flow_style or not sequence.value:
        raise CannotEdit(f"'{'.'.join(path)}' is not a block sequence with items")
    first = sequence.value[0]
    if not isinstance(first, yaml.MappingNode) or first.flow_style or not first.value:
        raise CannotEdit("the first item is not a block mapping")
    dash, keys = sequence.start_mark.column, first.value[0][0].start_mark.column
    lines = item.rstrip("\n").split("\n")
    body = [" " * dash + "-" + " " * (keys - dash - 1) + lines[0]]
    body += [" " * keys + line if line else "" for line in lines[1:]]
    at = _past_comments(text, _next_line(text, _end(sequence)), dash)
    before_second = text[: sequence.value[1].start_mark.index] if len(sequence.value) > 1 else ""
    separated = before_second.replace("\r\n", "\n").rstrip(" -").endswith("\n\n")
    piece = ("\n" if separated else "") + "\n".join(body) + "\n"
    if at == len(text) and text and not text.endswith("\n"):
        piece = "\n" + piece
    result = text[:at] + piece.replace("\n", newline) + text[at:]
    expected = yaml.safe_load(text)
    container = expected
    for name in path:
        container = container[name]
    container.append(yaml.safe_load(item))
    if yaml.safe_load(result) != expected:
        raise CannotEdit("the edit does not read back as intended")
    return result
