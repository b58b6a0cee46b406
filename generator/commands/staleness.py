"""Why ``render --check`` finds a file stale, and how: the inputs that feed it (those that
changed since the last render, when its record says so) and the first lines that differ.

The check's sink (``CheckSink``) keeps the bytes of the first files that differ from the
disk (up to ``MAX_KEPT``), so the diff costs no second render: a cached unit whose files differ on disk is
rebuilt (its bytes are not in the cache), every other one still comes by digest.
"""

from __future__ import annotations

import difflib
import stat
from collections.abc import Collection, Mapping
from pathlib import Path

from generator.digest import file_digest
from generator.errors import StaleOutputError
from generator.incremental.inputrecord import cache_disabled, changed_inputs
from generator.write import findings
from generator.write.planned import Kept, TreeDiff, digest_of
from generator.write.read import last_written

MAX_DIFFS = 3  # stale files shown with a diff (the first by path); the others are only named
MAX_KEPT = 64  # stale files whose bytes the check keeps to choose those from
MAX_DIFF_LINES = 10  # changed lines shown per file
FLEET_FILES = "models.yaml"
ENV_DIRS = ("overlays", "platform", "tests")  # <dir>/<env>/...
ENV_FILES = ("gitops", "compose")  # <dir>/<env>.yaml
BASE_DIRS = ("base", "images")  # fed by models.yaml alone (and the files it points at)


class CheckSink:
    """``render --check``'s sink: each file's digest, and the bytes of the first
    ``MAX_KEPT`` files whose content differs from the file on disk."""

    def __init__(self, target: Path) -> None:
        self.target = target
        self.digests: dict[str, str] = {}
        self.kept: dict[str, bytes] = {}
        self._recorded: dict[str, str] | None = None
        self._looked = False
        self._on_disk: dict[str, str | None] = {}

    def __call__(self, path: str, content: bytes | Kept) -> str:
        found = digest_of(content)
        self.digests[path] = found
        if isinstance(content, bytes) and len(self.kept) < MAX_KEPT and self.on_disk(path) not in (None, found):
            self.kept[path] = content
        return found

    def holds(self, files: Mapping[str, str]) -> bool:
        """By digest, unless a file differs from the disk while diffs are still wanted."""
        full = len(self.kept) >= MAX_KEPT
        return full or all(self.on_disk(path) in (None, digest) for path, digest in files.items())

    def on_disk(self, path: str) -> str | None:
        """The digest of the regular file ``path`` under the target; None when there is none."""
        if not self._looked:
            self._looked = True
            try:
                self._recorded = last_written(self.target) if self.target.is_dir() else None
            except OSError:  # an unreadable record: read the files instead
                self._recorded = None
        if self._recorded is not None:
            return self._recorded.get(path)
        if path not in self._on_disk:
            try:
                mode = (self.target / path).lstat().st_mode
                self._on_disk[path] = file_digest(self.target / path) if stat.S_ISREG(mode) else None
            except (OSError, ValueError):
                self._on_disk[path] = None
        return self._on_disk[path]


def stale_error(
    root: Path, diff: TreeDiff, kept: Mapping[str, bytes], envs: Collection[str], *, use_cache: bool
) -> StaleOutputError:
    """``render --check``'s error for ``diff``: each stale file with the inputs that feed it
    (or those of them that changed since the last render) and, for the first few, a diff."""
    changed = changed_inputs(root, "render") if use_cache and not cache_disabled() else None
    shown = [path for path in diff.stale if path in kept][:MAX_DIFFS]
    hidden = len(diff.stale) - len(shown)
    notes: dict[str, tuple[str, str]] = {}
    for path in diff.stale:
        detail = ""
        if path in shown:
            detail = _short_diff(root / "rendered" / path, kept[path], findings.display(path))
            if path == shown[-1] and hidden:
                detail += f"… and {hidden} more stale {'file' if hidden == 1 else 'files'} (diff not shown)\n"
        notes[path] = (_why(path, envs, changed), detail)
    return findings.stale(diff, notes)


def feeders(path: str, envs: Collection[str]) -> list[str]:
    """The inputs a file under rendered/ is rendered from (besides the files they point at)."""
    parts = path.split("/")
    env = None
    if parts[0] in ENV_DIRS and len(parts) > 2 and parts[1] in envs:
        env = parts[1]
    elif parts[0] in ENV_FILES and len(parts) == 2 and parts[1].removesuffix(".yaml") in envs:
        env = parts[1].removesuffix(".yaml")
    if env is not None:
        return [FLEET_FILES, f"environments/{env}.yaml"]
    if parts[0] in BASE_DIRS:
        return [FLEET_FILES]
    return [FLEET_FILES, "environments/*.yaml"]


def _why(path: str, envs: Collection[str], changed: list[str] | None) -> str:
    fed_by = feeders(path, envs)
    if changed is None:
        return f"stale: content differs from what {_join(fed_by)} {'render' if len(fed_by) > 1 else 'renders'}"
    relevant = [c for c in changed if _feeds(c, fed_by)]
    if relevant:
        return f"stale: {_join(relevant)} changed since the last render (this file is rendered from {_join(fed_by)})"
    return f"stale: edited since the last render: its inputs ({_join(fed_by)}) did not change"


def _feeds(changed: str, fed_by: list[str]) -> bool:
    """Whether a changed input can feed a file rendered from ``fed_by``: one of them, an
    environment file when any is, or a file the spec points at (not told apart per file)."""
    if changed in fed_by:
        return True
    if changed.startswith("environments/"):
        return "environments/*.yaml" in fed_by
    return changed != FLEET_FILES


def _join(names: list[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def _lines(content: bytes) -> list[str]:
    return content.decode("utf-8", errors="replace").splitlines(keepends=True)


def _short_diff(on_disk: Path, planned: bytes, shown: str) -> str:
    """A unified diff from the disk to the render, cut after ``MAX_DIFF_LINES`` changed lines."""
    try:
        before = on_disk.read_bytes()
    except OSError:
        return ""
    out: list[str] = []
    changed = 0
    for line in difflib.unified_diff(
        _lines(before), _lines(planned), f"{shown} (on disk)", f"{shown} (rendered now)", n=1
    ):
        is_change = line[:1] in "+-" and not line.startswith(("+++", "---"))
        if is_change and changed == MAX_DIFF_LINES:
            out.append("… (more lines differ)\n")
            break
        changed += is_change
        out.append(line if line.endswith("\n") else line + "\n")
    return "".join(out)
