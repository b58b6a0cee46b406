"""A fingerprint of the generator itself: any change to the code that renders, the data it
ships (templates, JSON Schemas, CRD schemas), the Python interpreter or an installed
distribution gives a different fingerprint, so a cache keyed on it can never serve output
an older generator produced.

Imports nothing heavy: ``validate`` and ``render --check`` compute it before deciding
whether they need the pipeline at all.
"""

from __future__ import annotations

import functools
import hashlib
import os
import sys
from pathlib import Path

from generator.digest import file_digest

_PACKAGE_DIR = Path(__file__).resolve().parents[1]  # all of generator/, not only incremental/
# the data packages (pyproject maps them to templates/ and schemas/ in a checkout)
_DATA_PACKAGES = ("generator.templates", "generator.schemas")


def _data_dirs() -> list[Path]:
    from importlib.util import find_spec

    dirs: list[Path] = []
    for name in _DATA_PACKAGES:
        spec = find_spec(name)
        if spec is not None and spec.submodule_search_locations:
            dirs.extend(Path(location).resolve() for location in spec.submodule_search_locations)
    return dirs


def _files_under(directory: Path) -> list[Path]:
    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(directory):
        dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
        found.extend(Path(dirpath) / name for name in sorted(filenames) if not name.endswith((".pyc", ".pyo")))
    return found


def _distributions() -> list[str]:
    """Name and version of every installed distribution on sys.path (the dist-info names)."""
    names: set[str] = set()
    cwd = Path.cwd()
    for entry in sys.path:
        if not entry or Path(entry) == cwd:  # `python -m`/`-c` put the working directory first
            continue
        try:
            listing = [child.name for child in Path(entry or ".").iterdir()]
        except OSError:
            continue
        names.update(f"{entry}:{name}" for name in listing if name.endswith((".dist-info", ".egg-info", ".pth")))
    return sorted(names)


@functools.cache
def generator_fingerprint() -> str:
    """Hex digest of the generator's files, the interpreter and the installed distributions."""
    digest = hashlib.blake2b(digest_size=20)
    digest.update(f"{sys.implementation.cache_tag}\0{sys.version}\0{sys.executable}\0".encode())
    for name in _distributions():
        digest.update(name.encode("utf-8", "surrogateescape") + b"\0")
    for directory in [_PACKAGE_DIR, *_data_dirs()]:
        for path in _files_under(directory):
            digest.update(os.fsencode(path) + b"\0")
            digest.update(bytes.fromhex(file_digest(path)))
    return digest.hexdigest()
