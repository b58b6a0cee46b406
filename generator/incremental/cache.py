"""The unit cache: checked output of one (environment, model) unit, or of one base model,
stored under ``.modelfleet-cache/units/`` in the fleet root and addressed by a key that
hashes everything the unit's computation reads (see ``generator.incremental.keys``).

An entry is ``MAGIC + key + blake2b(payload) + payload``; the payload is a pickle of plain
data only (dict, list, tuple, str, bytes, int, bool, None): the unpickler refuses every
class, so a foreign file cannot run code. A truncated, corrupt, foreign or mistyped entry
is a miss, which is why an entry is written in place (``write_digested``): a render killed
while writing, or two writing one key, leave at worst a miss. A cache that cannot be written
is ignored.
"""

from __future__ import annotations

import hashlib
import io
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

from generator.incremental.inputrecord import CACHE_DIR, cache_disabled
from generator.write.fs import write_digested

MAGIC = b"modelfleet-unit-v1\n"
_DIGEST = 20


class _PlainUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        raise pickle.UnpicklingError(f"refusing {module}.{name}")


def plain_loads(data: bytes) -> Any:
    """Unpickle plain data only (dict, list, tuple, str, bytes, numbers, bool, None): any class
    is refused (``pickle.UnpicklingError``), so foreign bytes cannot run code."""
    return _PlainUnpickler(io.BytesIO(data)).load()


class UnitCache:
    """Get and put plain-data payloads by key."""

    def __init__(self, root: Path, *, enabled: bool = True, writable: bool = True) -> None:
        self.directory = root / CACHE_DIR / "units"
        self.enabled = enabled and not cache_disabled()
        self.writable = writable
        self.hits = 0
        self.misses = 0

    def _path(self, key: str) -> Path:
        return self.directory / key[:2] / key

    def get(self, key: str, valid: Callable[[Any], bool], *, count: bool = True) -> Any:
        """The payload stored under ``key`` when ``valid`` accepts its shape, or None.
        ``count=False``: reading back what this run stored, not a hit or a miss."""
        value = self._load(key, valid)
        if count:
            if value is None:
                self.misses += 1
            else:
                self.hits += 1
        return value

    def _load(self, key: str, valid: Callable[[Any], bool]) -> Any:
        if not self.enabled:
            return None
        try:
            raw = self._path(key).read_bytes()
        except OSError:
            return None
        header = MAGIC + key.encode("ascii")
        body = raw[len(header) + _DIGEST :]
        if not raw.startswith(header) or raw[len(header) : len(header) + _DIGEST] != _hash(body):
            return None
        try:
            value = plain_loads(body)
        except Exception:  # a corrupt entry with a matching digest is still only a miss
            return None
        return value if valid(value) else None

    def put(self, key: str, value: Any) -> bool:
        """Store ``value``; False when it was not stored (disabled, read-only, or the disk refused)."""
        if not (self.enabled and self.writable):
            return False
        try:
            write_digested(self._path(key), lambda handle: _write_entry(handle, key, value))
        except (OSError, pickle.PicklingError, TypeError, ValueError):
            return False
        return True


def _hash(body: bytes) -> bytes:
    return hashlib.blake2b(body, digest_size=_DIGEST).digest()


class _Hashing:
    """A binary file that hashes what is written to it."""

    def __init__(self, handle: BinaryIO) -> None:
        self.handle = handle
        self.hash = hashlib.blake2b(digest_size=_DIGEST)

    def write(self, data: bytes) -> int:
        self.hash.update(data)
        return self.handle.write(data)


def _write_entry(handle: BinaryIO, key: str, value: Any) -> None:
    """An entry, its payload pickled straight to ``handle`` (a large
    record is never held as bytes, nor as a concatenated copy), then its digest
    written into the place left for it."""
    header = MAGIC + key.encode("ascii")
    handle.write(header + bytes(_DIGEST))
    body = _Hashing(handle)
    pickle.dump(value, body, protocol=pickle.HIGHEST_PROTOCOL)
    handle.seek(len(header))
    handle.write(body.hash.digest())
