"""Block-style YAML for the data manifests are made of, written straight to text.

``yamlout.dump`` builds PyYAML's node graph and has libyaml's emitter walk it, calling back
into Python twice per scalar: most of a render's serialization time. The layout it produces
is fixed (block style, keys in order, sequences not indented inside mappings, never folded),
so ``emit`` writes it directly. What a scalar looks like is not decided here: each distinct
string, key and float is rendered once by ``yamlout``'s own dumper (``render``, the oracle)
and its text reused, so every quoting and block-scalar decision stays libyaml's. A literal
block's lines are re-indented; that is the only thing that depends on where a scalar sits.

``emit`` returns None for anything outside that (another type, a key libyaml writes as a
complex ``?`` key, a root that is not a mapping or sequence): the caller then dumps it the
general way. ``tests/test_yamlemit.py`` holds the two to byte-identical output.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

Scalar = tuple[str, tuple[str, ...]]  # the text after "key: " or "- ", and a block's lines (unindented)

_MEMO_MAX_LEN: Final = 256  # longer strings rarely repeat: rendered each time, not memoised
_MEMO_ENTRIES: Final = 1 << 13
_SIMPLE_KEY_MAX: Final = 128  # libyaml writes a longer key as a complex "? " key


class _Outside(Exception):
    """Data ``emit`` does not write: the general dumper does."""


def _scalar_of(render: Callable[[Any], str], value: Any) -> Scalar:
    """How ``render`` (the general dumper) writes ``value`` as a sequence item."""
    text = render([value])
    if not text.startswith("- ") or not text.endswith("\n"):
        raise _Outside
    head, more, rest = text[2:-1].partition("\n")
    if not more:
        return head, ()
    if not head.startswith("|"):
        raise _Outside  # a multi-line scalar other than a literal block: not ours to lay out
    lines = []
    for line in rest.split("\n"):
        if line and not line.startswith("  "):
            raise _Outside
        lines.append(line[2:])
    return head, tuple(lines)


def _key_of(render: Callable[[Any], str], key: Any) -> str:
    """How ``render`` writes ``key`` as a mapping key (a simple key, on its line)."""
    if type(key) is not str:
        raise _Outside
    text = render({key: None})
    if text.startswith("? ") or not text.endswith(": null\n") or "\n" in text[: -len(": null\n")]:
        raise _Outside
    return text[: -len(": null\n")]


class Emitter:
    """``emit`` with the memos of one dumper (``render``: data -> its YAML text)."""

    def __init__(self, render: Callable[[Any], str], plain: Callable[[str], bool]) -> None:
        """``plain``: a string ``render`` certainly writes as it is (a plain scalar)."""
        self.render, self.plain = render, plain
        self._strings: dict[str, Scalar] = {}  # short strings, as values
        self._keys: dict[str, str] = {}  # short strings, as keys

    def emit(self, data: Any) -> str | None:
        """``data`` (a dict or list at the root) as the general dumper writes it, or None."""
        out: list[str] = []
        try:
            kind = type(data)
            if kind is dict and data:
                self._mapping(data, 0, out)
            elif (kind is list or kind is tuple) and data:
                self._sequence(data, 0, out)
            else:
                return None
        except _Outside:
            return None
        return "".join(out)

    def _string(self, value: str) -> Scalar:
        found = self._strings.get(value)
        if found is None:
            found = (value, ()) if self.plain(value) else _scalar_of(self.render, value)
            if len(value) <= _MEMO_MAX_LEN:
                if len(self._strings) >= _MEMO_ENTRIES:
                    self._strings.clear()
                self._strings[value] = found
        return found

    def _scalar(self, value: Any) -> Scalar:
        kind = type(value)
        if kind is str:
            return self._string(value)
        if kind is bool:
            return ("true" if value else "false"), ()
        if kind is int:
            return str(value), ()
        if value is None:
            return "null", ()
        if kind is float:
            return _scalar_of(self.render, value)
        raise _Outside

    def _key_text(self, key: Any) -> str:
        found = self._keys.get(key) if type(key) is str else None
        if found is None:
            if type(key) is str and len(key) <= _SIMPLE_KEY_MAX and self.plain(key):
                found = key
            else:
                found = _key_of(self.render, key)
            if len(key) <= _MEMO_MAX_LEN:
                if len(self._keys) >= _MEMO_ENTRIES:
                    self._keys.clear()
                self._keys[key] = found
        return found

    def _value(self, value: Any, column: int, out: list[str]) -> None:
        """A scalar after "key:" or "- " at ``column`` (its block's lines two further in)."""
        head, lines = self._scalar(value)
        out.append(f" {head}\n")
        if lines:
            pad = " " * (column + 2)
            out.extend(f"{pad}{line}\n" if line else "\n" for line in lines)

    def _mapping(self, data: dict[Any, Any], indent: int, out: list[str], first: bool = False) -> None:
        """Entries at ``indent``; ``first``: the first one follows a "- " already written."""
        pad = " " * indent
        keys = self._keys
        for key, value in data.items():
            text = keys.get(key)
            if text is None:
                text = self._key_text(key)
            if first:
                out.append(text + ":")
                first = False
            else:
                out.append(f"{pad}{text}:")
            kind = type(value)
            if kind is str:
                head, lines = self._string(value)
                out.append(f" {head}\n")
                if lines:
                    inner = " " * (indent + 2)
                    out.extend(f"{inner}{line}\n" if line else "\n" for line in lines)
            elif kind is dict:
                if value:
                    out.append("\n")
                    self._mapping(value, indent + 2, out)
                else:
                    out.append(" {}\n")
            elif kind is list or kind is tuple:
                if value:
                    out.append("\n")
                    self._sequence(value, indent, out)
                else:
                    out.append(" []\n")
            else:
                self._value(value, indent, out)

    def _sequence(self, data: list[Any] | tuple[Any, ...], indent: int, out: list[str]) -> None:
        """Items at ``indent`` ("- " there), their content two further in."""
        pad = " " * indent
        for item in data:
            kind = type(item)
            if kind is dict:
                if item:
                    out.append(f"{pad}- ")
                    self._mapping(item, indent + 2, out, first=True)
                else:
                    out.append(f"{pad}- {{}}\n")
            elif kind is list or kind is tuple:
                if item:
                    out.append(f"{pad}- ")
                    self._nested(item, indent + 2, out)
                else:
                    out.append(f"{pad}- []\n")
            else:
                out.append(f"{pad}-")
                self._value(item, indent, out)

    def _nested(self, data: list[Any] | tuple[Any, ...], indent: int, out: list[str]) -> None:
        """A sequence as an item of a sequence: its first "- " follows the outer one."""
        inner: list[str] = []
        self._sequence(data, indent, inner)
        inner[0] = inner[0][indent:]  # the first item's padding: it is on the outer item's line
        out.extend(inner)


__all__ = ["Emitter"]
