"""Deterministic YAML output for plain data: the same input always gives the same bytes.

Every reader that will see ``rendered/`` must read back exactly the data we meant:
PyYAML (YAML 1.1), Go ``yaml.v2`` (older kubectl, Argo CD, Flux), Go ``yaml.v3`` and
YAML 1.2 readers such as ruamel. A string that any of them could take for a bool, null,
number, timestamp or merge key is therefore always written double-quoted.

Layout decisions (one style, used everywhere):

* block style, keys in the order the caller inserted them, no anchors or aliases;
* sequences inside mappings are not indented (``key:`` then ``- item`` in the same
  column), which is what ``kubectl get -o yaml`` and Go ``yaml.v2`` print and the only
  layout libyaml's C emitter can produce;
* lines are never folded, whatever their length;
* a multi-line string is a literal block (``|`` or ``|-``) when that reads back exactly
  (only ``\\n`` line breaks, no trailing blanks, no control characters, at most one
  final newline); otherwise it is double-quoted with escapes;
* floats use Python's shortest round-tripping ``repr`` with ``.0`` added before a bare
  exponent (``1.0e+17``), and ``.inf``, ``-.inf``, ``.nan``.

The same keys and values recur across thousands of files, so the two per-string decisions
(our quoting style and PyYAML's implicit tag resolution, both pure functions of the text)
are memoised for short strings.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Collection, Iterator, Mapping, Sequence
from typing import Any, Final

import yaml
from yaml.representer import SafeRepresenter

from generator.output.yamlemit import Emitter

# libyaml's emitter is much faster. The pure one lays out our data the same way; it
# differs only on exotic text (characters outside the BMP, keys over 128 bytes or with
# control characters), where both still read back exactly.
try:
    from yaml import CSafeDumper as _BaseDumper
except ImportError:  # pragma: no cover - depends on how PyYAML was built
    from yaml import SafeDumper as _BaseDumper  # type: ignore[assignment]

__all__ = ["dump", "dump_documents", "dump_split", "needs_quotes"]

_STR_TAG: Final = "tag:yaml.org,2002:str"
_MAP_TAG: Final = "tag:yaml.org,2002:map"
_SEQ_TAG: Final = "tag:yaml.org,2002:seq"
_NEVER_FOLD: Final = 1 << 30

# Spellings compared after casefold(): YAML 1.1 has y/n/yes/no/on/off/true/false in
# three capitalisations each; quoting the odd mixed-case spelling too costs nothing.
_BOOL_WORDS: Final = frozenset({"y", "n", "yes", "no", "on", "off", "true", "false"})
_NULL_WORDS: Final = frozenset({"", "~", "null"})
_KEY_WORDS: Final = frozenset({"=", "<<"})  # YAML 1.1 value key, merge key (1.1 and Go)

# Readers decide "might be a number" by the first character (PyYAML, ruamel, Go).
_NUMBER_START: Final = frozenset("-+.0123456789")

# Numbers in the union of YAML 1.1 (PyYAML), YAML 1.2 core (ruamel) and Go yaml.v2/v3.
# Go deletes every "_" before parsing and accepts 0b/0o/0x in either case, so
# underscores are allowed anywhere a digit is. Deliberately generous: a string that no
# reader takes for a number but that looks like one ("0x", "-_") is merely quoted.
_NUMBER: Final = re.compile(
    r"""
    [-+]?
    (?:
        0[bB][01_]*                                  # binary
      | 0[oO][0-7_]*                                 # octal, YAML 1.2 / Go
      | 0[xX][0-9a-fA-F_]*                           # hex
      | (?:[0-9_]+(?:\.[0-9_]*)?|\.[0-9_]+)          # int, 1.1 octal 0755, decimal float
        (?:[eE][-+]?[0-9_]+)?                        #   with optional exponent
      | [0-9_]+(?::[0-5]?[0-9])+(?:\.[0-9_]*)?       # YAML 1.1 sexagesimal 1:20, 1:20.5
      | \.(?:inf|nan)                                # .inf .Inf -.INF .nan .NaN (any case)
    )
    """,
    re.VERBOSE | re.IGNORECASE,
)

# YAML 1.1 timestamps, widened to Go's time formats (1-digit month, day, hour, minute).
_TIMESTAMP: Final = re.compile(
    r"""
    [0-9]{4}-[0-9]{1,2}-[0-9]{1,2}
    (?:
        (?:[Tt]|[ \t]+)
        [0-9]{1,2}:[0-9]{1,2}(?::[0-9]{1,2})?
        (?:\.[0-9]*)?
        (?:[ \t]*(?:[Zz]|[-+][0-9]{1,2}(?::?[0-9]{1,2})?))?
    )?
    """,
    re.VERBOSE,
)

# Everything YAML reads as a line break; only "\n" may stay unescaped.
_LINE_BREAK: Final = re.compile(r"[\n\r\x85\u2028\u2029]")
# Literal block scalars cannot carry these faithfully: other line breaks are
# normalised to "\n" on reading, and C0 controls/DEL need escapes.
_NOT_LITERAL: Final = re.compile(r"[\x00-\x09\x0b-\x1f\x7f\x85\u2028\u2029\ufeff]")
_TRAILING_BLANK: Final = re.compile(r"[ \t]\n|[ \t]$")

# PyYAML's own YAML 1.1 resolver, as a safety net under the rules above.
_RESOLVER: Final = yaml.resolver.Resolver()

# Strings up to this length have their style and tag memoised (the most recent
# _MEMO_ENTRIES of each, under 1 MB); longer ones (dashboards, scripts) rarely repeat. A
# render goes model by model, so a small memo serves nearly every repeat.
_MEMO_MAX_LEN: Final = 256
_MEMO_ENTRIES: Final = 1 << 12


def needs_quotes(s: str) -> bool:
    """Whether some YAML 1.1 or 1.2 reader would read plain ``s`` as a non-string.

    Covers bools in every YAML 1.1 spelling, null, ints and floats of YAML 1.1, 1.2 and
    Go (underscores, ``0o``/``0x``/``0b``, sexagesimal, exponents without a dot,
    ``.inf``/``.nan``), dates and timestamps, and the ``=`` and ``<<`` keys.
    """
    folded = s.casefold()
    if folded in _BOOL_WORDS or folded in _NULL_WORDS or s in _KEY_WORDS:
        return True
    if s[0] in _NUMBER_START and _NUMBER.fullmatch(s) and re.search(r"[0-9_]", s):
        return True
    if _TIMESTAMP.fullmatch(s):
        return True
    tag: str = _RESOLVER.resolve(yaml.ScalarNode, s, (True, False))  # type: ignore[no-untyped-call]
    return tag != _STR_TAG


def _literal_ok(s: str) -> bool:
    """Whether ``s`` reads back exactly from a ``|`` or ``|-`` block."""
    return "\n" in s and not s.endswith("\n\n") and not _NOT_LITERAL.search(s) and not _TRAILING_BLANK.search(s)


def _scalar_style(s: str) -> str | None:
    """Double quotes for ambiguous text, literal blocks for clean multi-line text."""
    if needs_quotes(s):
        return '"'
    if _LINE_BREAK.search(s):
        return "|" if _literal_ok(s) else '"'
    return None  # the emitter picks plain, or quotes where YAML syntax requires it


_memo_style = functools.lru_cache(maxsize=_MEMO_ENTRIES)(_scalar_style)


def _style(s: str) -> str | None:
    return _memo_style(s) if len(s) <= _MEMO_MAX_LEN else _scalar_style(s)


@functools.lru_cache(maxsize=_MEMO_ENTRIES)
def _memo_plain_tag(value: str) -> str:
    """The tag a reader gives ``value`` written plain (implicit resolution)."""
    tag: str = _RESOLVER.resolve(yaml.ScalarNode, value, (True, False))  # type: ignore[no-untyped-call]
    return tag


class _Dumper(_BaseDumper):
    """SafeDumper with our string styles, no aliases, tuples as sequences, and the implicit
    tag of short scalars memoised (the emitter asks twice per scalar)."""

    def ignore_aliases(self, data: Any) -> bool:
        return True

    def represent_data(self, data: Any) -> yaml.Node:
        """PyYAML's dispatch, cut short for the exact types manifests are made of.

        Builds the very nodes PyYAML's representers would (no aliases, insertion order, the
        block style ``dump`` asks for); anything else, and any other dumper setting, goes
        the general way.
        """
        kind = type(data)
        if kind is str:
            return self.represent_scalar(_STR_TAG, data, style=_style(data))
        flow_style = self.default_flow_style
        if flow_style is None or self.sort_keys:
            return super().represent_data(data)
        if kind is dict:
            pairs = [(self.represent_data(key), self.represent_data(value)) for key, value in data.items()]
            return yaml.MappingNode(_MAP_TAG, pairs, flow_style=flow_style)
        if kind is list or kind is tuple:
            items = [self.represent_data(item) for item in data]
            return yaml.SequenceNode(_SEQ_TAG, items, flow_style=flow_style)
        return super().represent_data(data)

    def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
        # The dumper has no path resolvers, so a scalar's tag depends on its text alone, and
        # without implicit resolution (implicit[0] false) it is always the str tag.
        if kind is yaml.ScalarNode and type(value) is str and len(value) <= _MEMO_MAX_LEN:
            return _memo_plain_tag(value) if implicit[0] else _STR_TAG
        return super().resolve(kind, value, implicit)  # type: ignore[no-untyped-call]


def _represent_str(dumper: _Dumper, data: str) -> yaml.ScalarNode:
    return dumper.represent_scalar(_STR_TAG, data, style=_style(data))


_Dumper.add_representer(str, _represent_str)
_Dumper.add_representer(tuple, SafeRepresenter.represent_list)


def dump(data: Any) -> str:
    """One YAML document for ``data`` (dict/list/tuple/str/int/float/bool/None).

    Keys keep the caller's order. The text ends with exactly one newline. A mapping or
    sequence is written by ``yamlemit`` (the same text, several times faster), anything it
    does not take the general way.
    """
    text = _EMITTER.emit(data)
    return text if text is not None else _dump_general(data)


def _dump_general(data: Any) -> str:
    """``dump`` through PyYAML's representer and emitter: the reference ``yamlemit`` follows."""
    text = yaml.dump(
        data,
        Dumper=_Dumper,
        default_flow_style=False,
        sort_keys=False,
        allow_unicode=True,
        width=_NEVER_FOLD,
        indent=2,
        line_break="\n",
    )
    # The pure-Python emitter closes a bare root scalar with "...": libyaml does not.
    # It is optional here (we never write directives), so drop it for identical bytes.
    return text.removesuffix("\n...\n") + "\n" if text.endswith("\n...\n") else text


# Text libyaml writes plain in block context, by its scalar analysis (emitter.c,
# yaml_emitter_analyze_scalar): not empty, no leading or trailing space, a first character
# that is no indicator, no ": ", " #" or final ":" (they end a plain scalar), nothing
# outside printable ASCII, no line break. Deliberately narrow: anything else asks the
# general dumper (and ``_plain_text`` also needs our quoting rules to leave it unquoted).
_PLAIN_TEXT: Final = re.compile(
    r"[A-Za-z0-9_/(]"  # a first character that is no indicator
    r"(?:[A-Za-z0-9_/()=+\-*<>$,;.\"'{}\[\]|~!%^&@ ]|:(?! |$)|(?<! )#)*"
    r"(?<! )"  # no trailing space
)


def _plain_text(s: str) -> bool:
    return _PLAIN_TEXT.fullmatch(s) is not None and _style(s) is None


_EMITTER: Final = Emitter(_dump_general, _plain_text)


def _comment(header: str) -> str:
    # splitlines() also breaks at \r, \x85, \u2028 and \u2029, which YAML reads as
    # line breaks: each piece must be a comment line of its own.
    lines = [f"# {line}".rstrip() for line in header.splitlines()]
    while lines and lines[-1] == "#":
        lines.pop()
    while lines and lines[0] == "#":
        lines.pop(0)
    return "".join(line + "\n" for line in lines)


def dump_documents(docs: Sequence[Any], header: str, split: Collection[tuple[str, ...]] = ()) -> str:
    """A ``# header`` comment, then ``docs`` as YAML documents separated by ``---``.

    Each line of ``header`` becomes a comment line. The text ends with one newline. The
    mappings at the key paths ``split`` of a document are dumped an entry at a time
    (``dump_split``): the same text, less memory for a large document.
    """
    texts = (dump_split(doc, split) if split and type(doc) is dict else dump(doc) for doc in docs)
    return _comment(header) + "---\n".join(texts)


_SIMPLE_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")


def dump_split(data: Mapping[str, Any], split: Collection[tuple[str, ...]]) -> str:
    """``dump(data)`` for a mapping, the same text, with each non-empty mapping found at a key
    path in ``split`` written one entry at a time. PyYAML builds the node graph of everything
    it dumps at once, so a large document costs far more memory than its entries one by
    one. Block style writes a nested entry as the entry alone, indented by two spaces per
    level (sequences are not indented; lines are never folded)."""
    return "".join(_split_lines(data, split, ())) if data else dump(dict(data))


def _split_lines(data: Mapping[str, Any], split: Collection[tuple[str, ...]], path: tuple[str, ...]) -> Iterator[str]:
    for key, value in data.items():
        inner = (*path, key)
        if type(value) is dict and value and _simple_key(key) and any(p[: len(inner)] == inner for p in split):
            yield f"{key}:\n"
            yield from (_indented(text) for text in _split_lines(value, split, inner))
        else:
            yield dump({key: value})


def _simple_key(key: object) -> bool:
    """A key written plain as itself in any context (so ``key:`` is its line)."""
    return (
        type(key) is str
        and _SIMPLE_KEY.fullmatch(key) is not None
        and _style(key) is None
        and _memo_plain_tag(key) == _STR_TAG
    )


def _indented(text: str) -> str:
    """``text`` two spaces deeper; empty lines (inside a literal block) stay empty, as PyYAML
    writes them."""
    return "\n".join(f"  {line}" if line else line for line in text.split("\n"))
