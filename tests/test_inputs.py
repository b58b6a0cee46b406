"""inputs: the digest of a tree from its files' recorded digests (``tree_digest_of``, what the
writer's manifest and the delta record give) agrees with the digest of the same tree read
from disk (``disk_tree_digest``); a no-op ``render --check`` relies on that agreement."""

from __future__ import annotations

from pathlib import Path

import pytest

from generator.digest import content_digest
from generator.incremental.inputrecord import disk_tree_digest, tree_digest_of

TREE = {
    "a.yaml": b"a\n",
    "dev/fraud/deployment.yaml": b"kind: Deployment\n",
    "dev/fraud/service.yaml": b"kind: Service\n",
    "dev/fraud-detector/x.yaml": b"",
    "dev/fraud.yaml": b"x\n",
    "prod/é/ü.yaml": "ü\n".encode(),
    "prod/z/y/x/w.json": b"{}\n",
}


def _write(root: Path, files: dict[str, bytes]) -> Path:
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    return root


def _digests(files: dict[str, bytes]) -> dict[str, str]:
    return {path: content_digest(data) for path, data in files.items()}


def test_recorded_and_disk_digests_agree(tmp_path: Path) -> None:
    root = _write(tmp_path / "tree", TREE)
    assert tree_digest_of(_digests(TREE)) == disk_tree_digest(root)
    shuffled = dict(reversed(list(_digests(TREE).items())))  # the order of the mapping does not count
    assert tree_digest_of(shuffled) == tree_digest_of(_digests(TREE))


@pytest.mark.parametrize(
    "change",
    ["content", "rename", "move a file into a directory", "an extra empty file", "swap two files' bytes"],
)
def test_every_change_changes_the_digest(change: str) -> None:
    files = dict(TREE)
    if change == "content":
        files["a.yaml"] = b"b\n"
    elif change == "rename":
        files["b.yaml"] = files.pop("a.yaml")
    elif change == "move a file into a directory":
        files["dev/fraud.yaml/x"] = files.pop("dev/fraud.yaml")
    elif change == "an extra empty file":
        files["dev/empty"] = b""
    else:
        files["dev/fraud/deployment.yaml"], files["dev/fraud/service.yaml"] = (
            files["dev/fraud/service.yaml"],
            files["dev/fraud/deployment.yaml"],
        )
    before, after = tree_digest_of(_digests(TREE)), tree_digest_of(_digests(files))
    assert before[0] != after[0]


def test_an_empty_directory_shows_in_the_directory_digest_only(tmp_path: Path) -> None:
    root = _write(tmp_path / "tree", TREE)
    (root / "dev" / "empty").mkdir()
    files, dirs = disk_tree_digest(root) or ("", "")
    assert files == tree_digest_of(_digests(TREE))[0]
    assert dirs != tree_digest_of(_digests(TREE))[1]


def test_a_symbolic_link_has_no_digest(tmp_path: Path) -> None:
    root = _write(tmp_path / "tree", TREE)
    (root / "link.yaml").symlink_to(root / "a.yaml")
    assert disk_tree_digest(root) is None
