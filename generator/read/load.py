"""Stage 1, load: YAML files to plain data with a line and column for every node.

Rejects what YAML allows but a spec should not contain: duplicate keys, tabs in
indentation, bytes that are not UTF-8, several documents, alias bombs, deep nesting,
merge keys and custom tags. Plain scalars that YAML 1.1 turned into something else
(``no`` -> false, ``0755`` -> 493, ``3.10`` -> 3.1) keep their source text so that the
parse stage can say "quote it" when they reach a string field.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from generator.errors import Finding, Location, ModelfleetError, path_str
from generator.read.text import check_line_breaks, check_tabs, decode
from generator.spec.paths import UNSAFE_CHARACTERS, UNSAFE_HINT

try:  # the C parser is several times faster; the pure one behaves the same
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - depends on how PyYAML was built
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

FieldPath = tuple[str | int, ...]

MAX_FILE_BYTES = 8 * 1024 * 1024
MAX_DEPTH = 40
MAX_ALIAS_NODES = 2000

_SCALAR_TAGS = {
    "tag:yaml.org,2002:str",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null",
    "tag:yaml.org,2002:timestamp",
}
_CONSTRUCTOR = yaml.constructor.SafeConstructor()


@dataclass(frozen=True)
class Document:
    """One loaded YAML file: its data and where each value came from."""

    path: str
    data: Any
    lines: tuple[str, ...] = ()
    value_marks: Mapping[FieldPath, tuple[int, int]] = field(default_factory=dict)
    key_marks: Mapping[FieldPath, tuple[int, int]] = field(default_factory=dict)
    plain_text: Mapping[FieldPath, str] = field(default_factory=dict)

    def locate(self, path: FieldPath, *, key: bool = False) -> Location:
        """The location of ``path``, or of its nearest ancestor that exists."""
        current = tuple(path)
        while True:
            marks = self.key_marks if key else self.value_marks
            mark = marks.get(current) or self.value_marks.get(current)
            if mark is not None:
                return Location(self.path, mark[0], mark[1])
            if not current:
                return Location(self.path, 1, 1)
            current = current[:-1]

    def source_line(self, line: int) -> str | None:
        if 1 <= line <= len(self.lines):
            return self.lines[line - 1]
        return None

    def finding(self, path: FieldPath, message: str, hint: str = "", *, key: bool = False) -> Finding:
        location = self.locate(path, key=key)
        return Finding(
            message=message,
            location=location,
            path=path_str(path),
            hint=hint,
            source_line=self.source_line(location.line),
        )


def _located(display: str, lines: tuple[str, ...], mark: Any, message: str, hint: str = "") -> Finding:
    line, column = mark.line + 1, mark.column + 1
    source = lines[line - 1] if 1 <= line <= len(lines) else None
    return Finding(message, Location(display, line, column), "", hint, source)


def unsafe_character_message(char: str) -> str:
    return (
        f"the value holds the control character U+{ord(char):04X}, which kubectl kustomize cannot carry "
        "(DEL, U+0080 to U+009F, U+FFFE and U+FFFF are refused)"
    )


def first_unsafe_character(text: str) -> str | None:
    """The first character of ``text`` that kustomize refuses, if any."""
    found = UNSAFE_CHARACTERS.search(text)
    return found.group() if found else None


_TWO_DOCUMENTS = "the file holds more than one YAML document"
_TWO_DOCUMENTS_HINT = (
    "keep one document per file: remove the '---' separator and what follows, or move it to its own file"
)
_TOO_DEEP = f"nesting is deeper than {MAX_DEPTH} levels"
_TOO_DEEP_HINT = "flatten the structure; no modelfleet field nests this deep"
# The event stream is walked before composing only with the pure parser, which has no bound
# on nesting. libyaml (the C parser) refuses nesting deeper than 1,000 levels itself, and the
# converter stops at MAX_DEPTH; _prescan then runs only for a file with a finding, so that its
# findings (more than one document, too deep) still come first, as they always did.
_PRESCAN = not getattr(_Loader, "__module__", "").startswith("yaml.cyaml")


def _prescan(text: str, display: str, lines: tuple[str, ...]) -> None:
    """Walk the event stream once: count documents, bound nesting depth."""
    depth = 0
    documents = 0
    for event in yaml.parse(text, Loader=_Loader):
        if isinstance(event, yaml.DocumentStartEvent):
            documents += 1
            if documents > 1:
                raise ModelfleetError([_located(display, lines, event.start_mark, _TWO_DOCUMENTS, _TWO_DOCUMENTS_HINT)])
        elif isinstance(event, yaml.MappingStartEvent | yaml.SequenceStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                raise ModelfleetError([_located(display, lines, event.start_mark, _TOO_DEEP, _TOO_DEEP_HINT)])
        elif isinstance(event, yaml.MappingEndEvent | yaml.SequenceEndEvent):
            depth -= 1


class _Converter:
    """Turn a composed node graph into plain Python data with marks."""

    def __init__(self, display: str, lines: tuple[str, ...]) -> None:
        self.display = display
        self.lines = lines
        self.value_marks: dict[FieldPath, tuple[int, int]] = {}
        self.key_marks: dict[FieldPath, tuple[int, int]] = {}
        self.plain_text: dict[FieldPath, str] = {}
        self.seen: set[int] = set()
        self.active: set[int] = set()  # collections being converted: an alias to one of them loops
        self.alias_nodes = 0

    def fail(self, mark: Any, message: str, hint: str = "") -> ModelfleetError:
        return ModelfleetError([_located(self.display, self.lines, mark, message, hint)])

    def convert(self, node: yaml.Node, path: FieldPath, via_alias: bool = False) -> Any:
        if id(node) in self.seen and not isinstance(node, yaml.ScalarNode):
            via_alias = True
        self.seen.add(id(node))
        if via_alias:
            self.alias_nodes += 1
            if self.alias_nodes > MAX_ALIAS_NODES:
                raise self.fail(
                    node.start_mark,
                    f"aliases expand to more than {MAX_ALIAS_NODES} nodes",
                    "write the values out instead of nesting aliases",
                )
        self.value_marks[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
        if isinstance(node, yaml.MappingNode | yaml.SequenceNode):
            if len(path) >= MAX_DEPTH and not via_alias:  # as _prescan counts: the top is level 1
                raise self.fail(node.start_mark, _TOO_DEEP, _TOO_DEEP_HINT)
            if id(node) in self.active:
                raise self.fail(
                    node.start_mark,
                    "an alias refers to a node that contains it (an endless loop)",
                    "remove the alias or point it at a node outside itself",
                )
            self.active.add(id(node))
            try:
                if isinstance(node, yaml.MappingNode):
                    return self.mapping(node, path, via_alias)
                return [self.convert(item, (*path, index), via_alias) for index, item in enumerate(node.value)]
            finally:
                self.active.discard(id(node))
        assert isinstance(node, yaml.ScalarNode)
        return self.scalar(node, path)

    def mapping(self, node: yaml.MappingNode, path: FieldPath, via_alias: bool) -> dict[str, Any]:
        out: dict[str, Any] = {}
        key_at: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise self.fail(key_node.start_mark, "a mapping key must be a plain string")
            key = str(key_node.value)
            self.check_characters(key_node, key, (*path, key))
            if key == "<<" and key_node.tag == "tag:yaml.org,2002:merge":
                raise self.fail(
                    key_node.start_mark,
                    "merge keys ('<<') are not supported",
                    "write the keys out, or put shared values under 'defaults:'",
                )
            if key in out:
                first = key_at[key]
                raise self.fail(
                    key_node.start_mark,
                    f"duplicate key '{key}' (first defined at line {first.line + 1})",
                    "remove one of the two; YAML would silently keep only the last",
                )
            key_at[key] = key_node.start_mark
            child = (*path, key)
            self.key_marks[child] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            out[key] = self.convert(value_node, child, via_alias)
        return out

    def check_characters(self, node: yaml.Node, text: str, path: FieldPath) -> None:
        char = first_unsafe_character(text)
        if char is not None:
            finding = _located(self.display, self.lines, node.start_mark, unsafe_character_message(char), UNSAFE_HINT)
            raise ModelfleetError([dataclasses.replace(finding, path=path_str(path))])

    def scalar(self, node: yaml.ScalarNode, path: FieldPath) -> Any:
        tag = node.tag
        if tag not in _SCALAR_TAGS:
            raise self.fail(
                node.start_mark,
                f"unsupported YAML tag '{tag}'",
                "remove the tag; modelfleet reads plain YAML values only",
            )
        if tag in {"tag:yaml.org,2002:str", "tag:yaml.org,2002:timestamp"}:
            self.check_characters(node, str(node.value), path)
            return str(node.value)
        value = _CONSTRUCTOR.yaml_constructors[tag](_CONSTRUCTOR, node)
        if not node.style:  # plain: None from the pure loader, '' from the C loader
            self.plain_text[path] = str(node.value)
        return value


def _invalid_yaml(exc: yaml.YAMLError, display: str, lines: tuple[str, ...]) -> ModelfleetError:
    if not isinstance(exc, yaml.MarkedYAMLError):
        return ModelfleetError([Finding(f"invalid YAML: {exc}", Location(display))])
    mark = exc.problem_mark or exc.context_mark
    problem = exc.problem or exc.context or "invalid YAML"
    if mark is None:
        return ModelfleetError([Finding(f"invalid YAML: {problem}", Location(display))])
    return ModelfleetError([_located(display, lines, mark, f"invalid YAML: {problem}", "fix the syntax at the caret")])


def parse_text(text: str, display: str) -> Document:
    """Parse YAML text into a Document (no file access)."""
    lines = tuple(text.split("\n"))
    check_tabs(text, display, lines)
    check_line_breaks(text, display, lines)
    try:
        if _PRESCAN:
            _prescan(text, display, lines)
        root = yaml.compose(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        if not _PRESCAN:
            with contextlib.suppress(yaml.YAMLError):
                _prescan(text, display, lines)  # its findings come first, as when it runs first
        raise _invalid_yaml(exc, display, lines) from None
    if root is None:
        raise ModelfleetError(
            [
                Finding(
                    "the file is empty",
                    Location(display, 1, 1),
                    hint="start from the example in README.md",
                )
            ]
        )
    converter = _Converter(display, lines)
    try:
        data = converter.convert(root, ())
    except ModelfleetError:
        if not _PRESCAN:
            _prescan(text, display, lines)  # as above (the text composed: it parses)
        raise
    if not isinstance(data, dict):
        raise converter.fail(root.start_mark, "the file must be a YAML mapping (key: value) at the top")
    return Document(
        path=display,
        data=data,
        lines=lines,
        value_marks=converter.value_marks,
        key_marks=converter.key_marks,
        plain_text=converter.plain_text,
    )


def load_file(path: Path, display: str) -> Document:
    """Read and parse one YAML file; ``display`` is the name shown in messages."""
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise ModelfleetError([Finding(f"cannot read the file: {exc.strerror}", Location(display))]) from None
    if len(raw) > MAX_FILE_BYTES:
        raise ModelfleetError(
            [
                Finding(
                    f"the file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB",
                    Location(display),
                    hint="split the fleet or remove generated content from it",
                )
            ]
        )
    if b"\x00" in raw:
        raise ModelfleetError(
            [Finding("the file is binary (it contains NUL bytes)", Location(display), hint="point at a YAML text file")]
        )
    return parse_text(decode(raw, display), display)


@dataclass(frozen=True)
class Sources:
    """Every input file of a fleet, loaded."""

    root: Path
    models: Document
    environments: tuple[Document, ...]


def load_fleet(root: Path) -> Sources:
    """Load ``models.yaml`` and ``environments/*.yaml`` under ``root``.

    Every file is loaded even when an earlier one fails, so that one run reports
    all YAML-level problems together.
    """
    findings: list[Finding] = []
    documents: list[Document] = []
    models_path = root / "models.yaml"
    if not models_path.is_file():
        raise ModelfleetError(
            [
                Finding(
                    "no models.yaml in this directory",
                    Location("models.yaml"),
                    hint="run modelfleet from the fleet's root directory",
                )
            ]
        )
    env_dir = root / "environments"
    env_paths = sorted(env_dir.glob("*.yaml")) if env_dir.is_dir() else []
    for path in [models_path, *env_paths]:
        display = path.relative_to(root).as_posix()
        try:
            documents.append(load_file(path, display))
        except ModelfleetError as exc:
            findings.extend(exc.findings)
    if findings:
        raise ModelfleetError(findings)
    return Sources(root=root, models=documents[0], environments=tuple(documents[1:]))


def copy_loaded(value: Any) -> Any:
    """``copy.deepcopy(value)`` for data this module loaded, several times faster: dicts and
    lists copied (a container shared through a YAML alias stays shared, as deepcopy keeps
    it), scalars kept, anything else deep-copied."""
    return _copy(value, {})


_IMMUTABLE = (str, int, float, bool, type(None))


def _copy(value: Any, memo: dict[int, Any]) -> Any:
    """``copy.deepcopy(value)`` for loaded YAML data, several times faster: dicts and lists
    copied (a container shared through an alias stays shared, as deepcopy keeps it), scalars
    kept, anything else deep-copied."""
    kind = type(value)
    if kind is dict or kind is list:
        found = memo.get(id(value))
        if found is not None:
            return found
        if kind is dict:
            mapping: dict[Any, Any] = {}
            memo[id(value)] = mapping
            for key, child in value.items():
                mapping[key] = _copy(child, memo)
            return mapping
        items: list[Any] = []
        memo[id(value)] = items
        items.extend(_copy(child, memo) for child in value)
        return items
    if kind in _IMMUTABLE:
        return value
    return copy.deepcopy(value, memo)
