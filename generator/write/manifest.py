"""``.<target>.manifest``: the records (``generator.write.record``) of the visible tree and of
the kept tree, and whether the kept tree is trusted.

The file is ``_MAGIC``, ``1`` (the kept tree's record is trusted) or ``0``, a space, the
``content_digest`` of the body (so a truncated or edited manifest is no manifest), a newline,
then the body. The kept tree's trust is withdrawn in place (``invalidate``: one byte, synced)
before its first change, so an interrupted update leaves an untrusted kept tree, never a
manifest that lies.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from array import array
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from generator.digest import content_digest
from generator.write import fs
from generator.write.record import DirRec, FileRec, Record, Tree

_MAGIC = b"modelfleet-manifest 2 kept="
_DIGEST_HEX = 40
_INT = "q"


@dataclass
class Manifest:
    visible: Record | None
    kept: Record | None  # None unless the kept flag is set


def _location(target: Path) -> Path:
    return target.parent / fs.helper_name(target, "manifest")


def load(target: Path) -> Manifest:
    """The recorded trees; an absent, unreadable or malformed manifest records none."""
    try:
        data = _location(target).read_bytes()
    except OSError:
        return Manifest(None, None)
    head, _, body = data.partition(b"\n")
    flag, _, checksum = head[len(_MAGIC) :].partition(b" ")
    if not head.startswith(_MAGIC) or flag not in {b"0", b"1"} or checksum != _checksum(body):
        return Manifest(None, None)
    decoded = _DECODED.get(head)
    if decoded is None:
        try:
            visible, kept = decode_body(body, with_kept=flag == b"1")
        except (ValueError, KeyError, TypeError, AttributeError, UnicodeDecodeError):
            return Manifest(None, None)
        decoded = Manifest(
            Record(*visible) if visible is not None else None, Record(*kept) if kept is not None else None
        )
        _DECODED.clear()
        _DECODED[head] = decoded
    return Manifest(_copy(decoded.visible), _copy(decoded.kept))


# The last manifest decoded, by its head line (magic, flag and the body's checksum): a render
# reads the manifest twice (is rendered/ current? then the writer), and decoding a large tree's
# records costs more than the copies handed out (callers may change what they get).
_DECODED: dict[bytes, Manifest] = {}


def _copy(record: Record | None) -> Record | None:
    return record.copy() if record is not None else None


def _checksum(body: bytes) -> bytes:
    return content_digest(body).encode()


def write(target: Path, visible: Record | None, kept: Record | None) -> None:
    """Replace the manifest. Not synced: it describes trees already durable, and a manifest
    lost to a power cut leaves the previous one, whose kept flag was cleared before anything
    it describes changed."""
    body = encode_body(visible.tree() if visible is not None else None, kept.tree() if kept is not None else None)
    data = b"%s%s %s\n%s" % (_MAGIC, b"1" if kept is not None else b"0", _checksum(body), body)
    manifest = _location(target)
    if manifest.is_dir() and not manifest.is_symlink():  # not ours: it is in the way
        shutil.rmtree(manifest)
    fs.write_atomic(manifest, data, durable=False, prefix=fs.helper_name(target, "tmp-manifest-"))


def invalidate(target: Path) -> None:
    """Withdraw the kept tree's trust: clear the manifest's kept flag in place, durably."""
    try:
        fd = os.open(_location(target), os.O_RDWR)
    except FileNotFoundError:
        return
    try:
        if os.pread(fd, len(_MAGIC) + 1, 0)[: len(_MAGIC)] == _MAGIC:
            os.pwrite(fd, b"0", len(_MAGIC))
            getattr(os, "fdatasync", os.fsync)(fd)
    finally:
        os.close(fd)


# --- the body ------------------------------------------------------------------------------
# The records in columns, which a large tree decodes and encodes far faster than one JSON object
# per file: a JSON head line, then each record's paths, digests and stat numbers as packed
# blocks. The kept tree's record is stored against the visible one: only the files whose record
# differs, and the paths it lacks (the two trees share most inodes). One record's blocks, in this
# order, each length in the head line: the file paths joined by NUL (no POSIX path holds one),
# their digests (40 hex digits each, concatenated), their four numbers column by column as
# little-endian signed 64-bit integers, the absent paths joined by NUL, the directory paths
# joined by NUL, their three numbers column by column. Every malformed body raises ValueError.


def _ints(columns: Iterable[Iterable[int]]) -> bytes:
    packed = array(_INT)
    for column in columns:
        packed.extend(column)
    if sys.byteorder == "big":
        packed.byteswap()
    return packed.tobytes()


def _unints(block: bytes, rows: int, width: int) -> list[list[int]]:
    packed = array(_INT)
    if len(block) != rows * width * packed.itemsize:
        raise ValueError("a number block of the wrong size")
    packed.frombytes(block)
    if sys.byteorder == "big":
        packed.byteswap()
    values = packed.tolist()
    return [values[i * rows : (i + 1) * rows] for i in range(width)]


def _names(paths: Iterable[str]) -> bytes:
    return "\0".join(paths).encode()


def _unnames(block: bytes, count: int) -> list[str]:
    names = block.decode().split("\0") if count else []
    if len(names) != count or (not count and block) or len(set(names)) != count:
        raise ValueError("a path block with the wrong count, or a path twice")
    return names


def _encode_tree(tree: Tree, base: Tree | None) -> tuple[dict[str, Any], list[bytes]]:
    files, dirs, racy = tree
    shared = base[0] if base is not None else {}
    changed = {p: f for p, f in files.items() if shared.get(p) != f} if shared else files
    absent = [p for p in shared if p not in files]
    digests, inodes, sizes, mtimes, ctimes = zip(*changed.values(), strict=True) if changed else ((),) * 5
    blocks = [
        _names(changed),
        "".join(digests).encode("ascii"),
        _ints((inodes, sizes, mtimes, ctimes)),
        _names(absent),
        _names(dirs),
        _ints(zip(*dirs.values(), strict=True)),
    ]
    head = {"files": len(changed), "absent": len(absent), "dirs": len(dirs), "racy": sorted(racy)}
    return {**head, "blocks": [len(b) for b in blocks]}, blocks


def _decode_tree(head: Any, blocks: list[bytes], base: Tree | None) -> Tree:
    count, absent_count, dir_count, racy = head["files"], head["absent"], head["dirs"], head["racy"]
    if not all(type(n) is int and n >= 0 for n in (count, absent_count, dir_count)):
        raise ValueError("counts must be whole numbers")
    if not (isinstance(racy, list) and all(type(p) is str for p in racy)):
        raise ValueError("racy paths must be strings")
    names, digests_block, numbers, absent_block, dir_names, dir_numbers = blocks
    paths = _unnames(names, count)
    if len(digests_block) != count * _DIGEST_HEX:
        raise ValueError("a digest block of the wrong size")
    text = digests_block.decode("ascii")
    digests = [text[i : i + _DIGEST_HEX] for i in range(0, len(text), _DIGEST_HEX)]
    files: dict[str, FileRec] = dict(base[0]) if base is not None else {}
    for path in _unnames(absent_block, absent_count):
        del files[path]  # KeyError for a path the base lacks: malformed
    files.update(zip(paths, zip(digests, *_unints(numbers, count, 4), strict=True), strict=True))
    dirs: dict[str, DirRec] = dict(
        zip(_unnames(dir_names, dir_count), zip(*_unints(dir_numbers, dir_count, 3), strict=True), strict=True)
    )
    if "" not in dirs or not set(racy) <= files.keys() | dirs.keys():
        raise ValueError("an incomplete record")
    return files, dirs, set(racy)


def encode_body(visible: Tree | None, kept: Tree | None) -> bytes:
    """The manifest body for the visible tree's record and the kept tree's (either may be absent)."""
    head: dict[str, Any] = {"visible": None, "kept": None}
    blocks: list[bytes] = []
    for name, tree, base in (("visible", visible, None), ("kept", kept, visible)):
        if tree is not None:
            head[name], own = _encode_tree(tree, base)
            blocks.extend(own)
    return json.dumps(head, separators=(",", ":")).encode() + b"\n" + b"".join(blocks)


def decode_body(body: bytes, *, with_kept: bool) -> tuple[Tree | None, Tree | None]:
    """The records in ``body``; the kept tree's only ``with_kept`` (its trust flag is set).
    ``ValueError`` (or ``KeyError``) for a malformed body."""
    line, newline, rest = body.partition(b"\n")
    if not newline:
        raise ValueError("no head line")
    head = json.loads(line)
    if not isinstance(head, Mapping):
        raise ValueError("the head line is not an object")
    offset = 0
    trees: dict[str, Tree | None] = {"visible": None, "kept": None}
    for name in ("visible", "kept"):
        part = head[name]
        if part is None:
            continue
        sizes = part["blocks"]
        if not (isinstance(sizes, list) and len(sizes) == 6 and all(type(n) is int and n >= 0 for n in sizes)):
            raise ValueError("block sizes must be six whole numbers")
        blocks = []
        for size in sizes:
            blocks.append(rest[offset : offset + size])
            offset += size
        if offset > len(rest):
            raise ValueError("the body is shorter than its blocks")
        if name == "visible":
            trees[name] = _decode_tree(part, blocks, None)
        elif with_kept:
            trees[name] = _decode_tree(part, blocks, trees["visible"])
    if offset != len(rest):
        raise ValueError("bytes after the last block")
    return trees["visible"], trees["kept"]
