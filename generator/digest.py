"""The project's digests: blake2b, 20 bytes, as hex, of bytes, of a file and of JSON-able parts.

One function per kind, so a digest recorded on disk (the writer's manifest, the input and delta
records, the unit cache's keys) and the one computed now are the same function and agree.
Imports nothing from the rest of ``generator``.
"""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path
from typing import Any

__all__ = ["DIGEST_SIZE", "content_digest", "digest", "file_digest", "stream_digest"]

DIGEST_SIZE = 20


def content_digest(data: bytes) -> str:
    """The digest of ``data``: what the writer's manifest records for a file's bytes."""
    return hashlib.blake2b(data, digest_size=DIGEST_SIZE).hexdigest()


def stream_digest(handle: io.BufferedReader) -> str:
    """``content_digest`` of what ``handle`` reads to its end, read in chunks."""
    return hashlib.file_digest(handle, lambda: hashlib.blake2b(digest_size=DIGEST_SIZE)).hexdigest()


def file_digest(path: str | Path) -> str:
    """``content_digest`` of the bytes of the file at ``path``."""
    with Path(path).open("rb") as handle:
        return stream_digest(handle)


def digest(*parts: Any) -> str:
    """A key from JSON-able parts (canonical: sorted keys, no whitespace); bytes count by their
    ``content_digest``, sets as sorted lists."""
    text = json.dumps(parts, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_default)
    return content_digest(text.encode("utf-8"))


def _default(value: Any) -> Any:
    if isinstance(value, bytes):
        return {"$bytes": content_digest(value)}
    if isinstance(value, (set, frozenset)):
        return {"$set": sorted(value)}
    raise TypeError(f"not hashable as a cache key part: {type(value).__name__}")
