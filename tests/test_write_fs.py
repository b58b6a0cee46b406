"""write.fs.write_atomic: the one way generator replaces a single file (the manifest, cache
entries, input records, an environment file edited by promote)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import BinaryIO

import pytest

from generator.write import fs


def test_replaces_the_file_and_keeps_its_mode(tmp_path: Path) -> None:
    path = tmp_path / "prod.yaml"
    path.write_bytes(b"old\n")
    path.chmod(0o640)
    fs.write_atomic(path, b"new\n", durable=False)
    assert path.read_bytes() == b"new\n"
    assert path.stat().st_mode & 0o7777 == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["prod.yaml"]


def test_a_new_file_is_private_and_its_directories_are_made(tmp_path: Path) -> None:
    path = tmp_path / "units" / "ab" / "abc"
    fs.write_atomic(path, b"entry", durable=False)
    assert path.read_bytes() == b"entry"
    assert path.stat().st_mode & 0o7777 == 0o600


def test_a_writer_gets_a_seekable_file_in_the_same_directory(tmp_path: Path) -> None:
    path = tmp_path / "record.json"
    seen: list[str] = []

    def fill(handle: BinaryIO) -> None:
        seen.extend(p.name for p in tmp_path.iterdir())
        handle.write(b"head ....")
        handle.seek(5)
        handle.write(b"body")

    fs.write_atomic(path, fill, durable=False, prefix=".x.tmp-")
    assert path.read_bytes() == b"head body"
    assert len(seen) == 1 and seen[0].startswith(".x.tmp-") and seen[0].endswith(".tmp")


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "prod.yaml"
    path.write_bytes(b"old\n")

    def fill(handle: BinaryIO) -> None:
        handle.write(b"half")
        raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError):
        fs.write_atomic(path, fill, durable=True)
    assert path.read_bytes() == b"old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["prod.yaml"]


def test_durable_syncs_the_data_before_the_rename_and_the_directory_after(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "prod.yaml"
    path.write_bytes(b"old\n")
    events: list[tuple[str, bytes]] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        events.append(("file", path.read_bytes()))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(fs, "fsync_dir", lambda directory: events.append((str(directory), path.read_bytes())))
    fs.write_atomic(path, b"new\n", durable=True)
    assert events == [("file", b"old\n"), (str(tmp_path), b"new\n")]

    events.clear()
    fs.write_atomic(path, b"newer\n", durable=False)
    assert events == []
