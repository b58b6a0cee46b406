"""Reading the fields of rendered objects that may be malformed: a field that is absent, or
under something that is not a mapping or a list, reads as ``MISSING``; a value that is not a
list reads as ``[]``, one that is not a mapping as ``{}``. The pod policy reads objects
through these, so a malformed object gives findings instead of an exception."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from generator.read.load import FieldPath


class _Missing:
    def __repr__(self) -> str:
        return "unset"


MISSING: Any = _Missing()


def field_at(node: Any, path: FieldPath) -> Any:
    """The value at ``path`` under ``node``, or MISSING."""
    for part in path:
        if isinstance(part, int):
            node = node[part] if isinstance(node, list) and part < len(node) else MISSING
        else:
            node = node.get(part, MISSING) if isinstance(node, Mapping) else MISSING
    return node


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def as_map(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}
