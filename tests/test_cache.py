"""The unit cache and the input records (.modelfleet-cache/): output is byte-identical to a
render without them after any edit, broken entries are ignored, a cache that cannot be
written does not fail the render, and the fast paths answer only when nothing changed."""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from generator import pipeline
from generator.cli import main
from generator.incremental import fingerprint
from generator.incremental.cache import MAGIC, UnitCache
from generator.incremental.inputrecord import CACHE_DIR
from generator.incremental.sinks import WriterSink
from generator.read.load import load_fleet
from generator.read.rawschema import sources_findings
from tests.conftest import committed_file_count

HEAVY = ("pydantic", "yaml", "jinja2", "jsonschema", "kubernetes_validate", "generator.pipeline", "rich")


def _age(root: Path) -> None:
    """Date every input an hour back: the cache never records inputs changed moments ago."""
    past = time.time() - 3600
    for path in root.rglob("*"):
        if path.is_file() and CACHE_DIR not in path.parts:
            os.utime(path, (past, past))


def _tree(root: Path) -> dict[str, bytes]:
    target = root / "rendered"
    return {p.relative_to(target).as_posix(): p.read_bytes() for p in sorted(target.rglob("*")) if p.is_file()}


def _cached_render(root: Path) -> tuple[dict[str, bytes], UnitCache]:
    """A render streamed into rendered/ as the CLI does it: a hit's files go by digest."""
    cache = UnitCache(root)
    with contextlib.ExitStack() as stack:
        sink = WriterSink(root / "rendered", stack)
        pipeline.render(root, cache, sink)
        assert sink.writer is not None
        sink.writer.commit()
    return _tree(root), cache


def _fresh(root: Path) -> dict[str, bytes]:
    return dict(pipeline.render(root).plan.files)


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


EDITS: dict[str, Callable[[Path], None]] = {
    "model": lambda root: _edit(root / "models.yaml", "maxReplicas: 12", "maxReplicas: 13"),
    "environment-override": lambda root: _edit(root / "environments/prod.yaml", "maxReplicas: 60", "maxReplicas: 61"),
    "environment-settings": lambda root: _edit(root / "environments/staging.yaml", "namespace: ", "namespace: x"),
    "config-file": lambda root: (root / "services/fraud-detector/config/thresholds.yaml").write_text(
        "threshold: 0.93\n", encoding="utf-8"
    ),
}


@pytest.mark.parametrize("edit", sorted(EDITS))
def test_incremental_render_equals_a_fresh_render_after_an_edit(edit: str, example_fleet: Path) -> None:
    _age(example_fleet)
    first, cache = _cached_render(example_fleet)
    assert cache.misses > 0
    assert first == _fresh(example_fleet)
    EDITS[edit](example_fleet)
    _age(example_fleet)
    again, cache = _cached_render(example_fleet)
    assert cache.hits > 0, "the unchanged units come from the cache"
    assert cache.misses > 0, "the changed units are rebuilt"
    assert again == _fresh(example_fleet)
    assert again != first


def test_unchanged_fleet_is_served_from_the_cache(example_fleet: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _age(example_fleet)
    first, _ = _cached_render(example_fleet)

    def no_build(*args: object) -> None:
        raise AssertionError("a unit was built")

    monkeypatch.setattr("generator.pipeline.model_objects", no_build)
    monkeypatch.setattr("generator.fanout.model_objects", no_build)  # a base missed by the cache is built there
    monkeypatch.setattr("generator.units.model_objects", no_build)
    again, cache = _cached_render(example_fleet)
    assert cache.misses == 0 and cache.hits > 0
    assert again == first


def test_entries_hold_digests_and_a_tree_that_lost_the_bytes_is_rebuilt(example_fleet: Path) -> None:
    """The bytes of a hit come from the trees the writer keeps: with rendered/ and the kept
    tree gone, every unit is built again, and the tree is the same."""
    _age(example_fleet)
    first, _ = _cached_render(example_fleet)
    entries = _entries(example_fleet)
    assert sum(p.stat().st_size for p in entries) < sum(len(data) for data in first.values()) / 4
    for helper in [example_fleet / "rendered", *example_fleet.glob(".rendered.*")]:
        if helper.is_dir():
            shutil.rmtree(helper)
        else:
            helper.unlink()
    again, cache = _cached_render(example_fleet)
    assert cache.hits > 0
    assert again == first == _fresh(example_fleet)
    assert main(["--root", str(example_fleet), "render", "--check"]) == 0


def test_a_new_generator_fingerprint_misses_everything(example_fleet: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _age(example_fleet)
    first, _ = _cached_render(example_fleet)
    monkeypatch.setattr(fingerprint, "generator_fingerprint", lambda: "another-generator")
    monkeypatch.setattr("generator.incremental.keys.generator_fingerprint", lambda: "another-generator")
    monkeypatch.setattr("generator.pipeline.generator_fingerprint", lambda: "another-generator")
    again, cache = _cached_render(example_fleet)
    assert cache.hits == 0
    assert again == first


def test_fingerprint_covers_the_package_and_its_data() -> None:
    fingerprint.generator_fingerprint.cache_clear()
    before = fingerprint.generator_fingerprint()
    files = [str(p) for d in [fingerprint._PACKAGE_DIR, *fingerprint._data_dirs()] for p in fingerprint._files_under(d)]
    for module in ("generator/pipeline.py", "generator/build/workload.py", "generator/spec/model.py"):
        assert any(f.endswith(module) for f in files), module
    assert any(f.endswith(".j2") for f in files), "templates"
    assert any(f.endswith("models.schema.json") for f in files), "schemas"
    assert fingerprint.generator_fingerprint() == before


def _entries(root: Path) -> list[Path]:
    return sorted(p for p in (root / CACHE_DIR / "units").rglob("*") if p.is_file())


def _valid_entry(key: str, value: object) -> bytes:
    import hashlib

    body = pickle.dumps(value)
    return MAGIC + key.encode() + hashlib.blake2b(body, digest_size=20).digest() + body


CORRUPTIONS: dict[str, Callable[[Path], None]] = {
    "truncated": lambda p: p.write_bytes(p.read_bytes()[: len(p.read_bytes()) // 2]),
    "empty": lambda p: p.write_bytes(b""),
    "flipped-byte": lambda p: p.write_bytes(p.read_bytes()[:-1] + bytes([p.read_bytes()[-1] ^ 0xFF])),
    "garbage": lambda p: p.write_bytes(os.urandom(300)),
    "foreign-class": lambda p: p.write_bytes(_valid_entry(p.name, Path("/etc/passwd"))),
    "wrong-shape": lambda p: p.write_bytes(_valid_entry(p.name, {"files": {"x": b"not a digest"}, "objects": 1})),
    "other-key": lambda p: p.write_bytes(_valid_entry("0" * 40, {"files": {}})),
    "directory": lambda p: (p.unlink(), p.mkdir()),
}


@pytest.mark.parametrize("corruption", sorted(CORRUPTIONS))
def test_broken_entries_are_recomputed(corruption: str, example_fleet: Path) -> None:
    _age(example_fleet)
    first, _ = _cached_render(example_fleet)
    entries = _entries(example_fleet)
    assert entries
    for entry in entries:
        CORRUPTIONS[corruption](entry)
    again, cache = _cached_render(example_fleet)
    assert cache.hits == 0
    assert again == first


def test_an_entry_is_never_written_through_a_symbolic_link(example_fleet: Path, tmp_path: Path) -> None:
    """Entries are written in place (a torn one is only a miss): a link planted at an entry's
    path must not send the write elsewhere."""
    _age(example_fleet)
    first, _ = _cached_render(example_fleet)
    victim = tmp_path / "victim"
    victim.write_bytes(b"keep\n")
    entries = _entries(example_fleet)
    for entry in entries:
        entry.unlink()
        entry.symlink_to(victim)
    again, cache = _cached_render(example_fleet)
    assert again == first
    assert cache.hits == 0
    assert victim.read_bytes() == b"keep\n"
    assert all(entry.is_symlink() for entry in entries)


def test_an_unwritable_cache_does_not_fail_the_render(example_fleet: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _age(example_fleet)
    (example_fleet / CACHE_DIR).write_text("not a directory\n")  # refuses writes even to root
    assert main(["--root", str(example_fleet), "render"]) == 0
    assert main(["--root", str(example_fleet), "validate"]) == 0
    assert main(["--root", str(example_fleet), "render", "--check"]) == 0
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("how", ["flag", "env"])
def test_the_cache_can_be_disabled(how: str, example_fleet: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _age(example_fleet)
    args = ["--root", str(example_fleet), "render"]
    if how == "flag":
        args.append("--no-cache")
    else:
        monkeypatch.setenv("MODELFLEET_NO_CACHE", "1")
    assert main(args) == 0
    assert not (example_fleet / CACHE_DIR).exists()


def _cli(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The CLI in a child process that reports which heavy modules it imported."""
    code = (
        "import sys\nfrom generator.cli import main\ncode = main(sys.argv[1:])\n"
        f"print('IMPORTED', sorted(m for m in {HEAVY!r} if m in sys.modules))\nsys.exit(code)\n"
    )
    return subprocess.run(
        [sys.executable, "-c", code, "--root", str(root), *args], capture_output=True, text=True, check=False
    )


def _imported(result: subprocess.CompletedProcess[str]) -> list[str]:
    line = next(line for line in result.stdout.splitlines() if line.startswith("IMPORTED "))
    imported: list[str] = json.loads(line.removeprefix("IMPORTED ").replace("'", '"'))
    return imported


def test_help_imports_nothing_heavy(tmp_path: Path) -> None:
    result = _cli(tmp_path, "--help")
    assert result.returncode == 0, result.stderr
    assert _imported(result) == []
    code = (
        "import sys\nfrom generator.cli import build_parser\nbuild_parser()\n"
        f"print([m for m in {HEAVY!r} if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_validate_after_an_edit_imports_no_builder_and_no_explainer(example_fleet: Path) -> None:
    """Every check runs (no record), yet templates, the Kubernetes schemas and jsonschema (which
    only words a rejection) stay unloaded: pre-commit pays for what validate checks."""
    result = _cli(example_fleet, "validate", "--no-cache")
    assert result.returncode == 0, result.stderr
    assert "5 models, 3 environments valid" in result.stdout
    assert _imported(result) == ["pydantic", "yaml"]


def test_a_schema_rejection_is_still_worded_by_jsonschema(example_fleet: Path) -> None:
    """jsonschema, imported only when jsonschema-rs rejects a file, words the finding."""
    models = example_fleet / "models.yaml"
    models.write_text(models.read_text().replace("apiVersion: modelfleet/v1", "apiVersion: 7", 1))
    findings = sources_findings(load_fleet(example_fleet))
    assert [(f.location and f.location.line, f.message) for f in findings] == [
        (4, "'modelfleet/v1' was expected (JSON Schema models.schema.json)"),
        (4, "7 is not of type 'string' (JSON Schema models.schema.json)"),
    ]


def test_noop_check_and_validate_answer_from_the_record(example_fleet: Path) -> None:
    _age(example_fleet)
    assert _cli(example_fleet, "render").returncode == 0
    for args in (("render", "--check"), ("validate",), ("render",)):
        result = _cli(example_fleet, *args)
        assert result.returncode == 0, result.stderr
        assert _imported(result) == [], f"{args}: the pipeline ran although nothing changed"
    assert f"rendered/ is current ({committed_file_count()} files)" in _cli(example_fleet, "render", "--check").stdout
    assert "(0 files changed)" in _cli(example_fleet, "render").stdout


@pytest.mark.parametrize(
    "change",
    ["edit-rendered", "add-rendered", "remove-rendered", "config-file", "models", "new-environment"],
)
def test_the_record_never_hides_a_change(change: str, example_fleet: Path) -> None:
    _age(example_fleet)
    assert _cli(example_fleet, "render").returncode == 0
    rendered = example_fleet / "rendered"
    victim = next(p for p in sorted(rendered.rglob("*.yaml")) if p.is_file())
    if change == "edit-rendered":
        victim.write_bytes(victim.read_bytes() + b"# hand edit\n")
    elif change == "add-rendered":
        (rendered / "stray.yaml").write_text("a: 1\n")
    elif change == "remove-rendered":
        victim.unlink()
    elif change == "config-file":
        (example_fleet / "services/fraud-detector/config/thresholds.yaml").write_text("threshold: 0.5\n")
    elif change == "models":
        EDITS["model"](example_fleet)
    else:
        env = example_fleet / "environments"
        (env / "qa.yaml").write_text((env / "staging.yaml").read_text().replace("staging", "qa"))
    _age(example_fleet)
    result = _cli(example_fleet, "render", "--check")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "pydantic" in _imported(result)


def test_validate_record_does_not_hide_an_invalid_spec(example_fleet: Path) -> None:
    _age(example_fleet)
    assert _cli(example_fleet, "validate").returncode == 0
    _edit(example_fleet / "models.yaml", "maxReplicas: 12", "maxReplicas: -12")
    _age(example_fleet)
    assert _cli(example_fleet, "validate").returncode == 1


def test_validate_uses_the_committed_schemas(example_fleet: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from generator.spec import jsonschema as schema_export

    def no_export(filename: str) -> dict[str, object]:
        raise AssertionError("validate exported a schema from the pydantic models")

    monkeypatch.setattr(schema_export, "schema_for", no_export)
    assert main(["--root", str(example_fleet), "validate", "--no-cache"]) == 0


def test_unchanged_files_keep_their_inode_and_mtime(example_fleet: Path) -> None:
    _age(example_fleet)
    assert main(["--root", str(example_fleet), "render"]) == 0
    rendered = example_fleet / "rendered"
    kept = rendered / "images/docker-bake.hcl"
    before = kept.stat()
    EDITS["model"](example_fleet)
    assert main(["--root", str(example_fleet), "render"]) == 0
    after = kept.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert after.st_nlink == 2, "shared with the previous tree, kept as .rendered.kept"
    assert not list(example_fleet.glob(".rendered.tmp-*")) and not list(example_fleet.glob(".rendered.old-*"))
    assert _fresh(example_fleet) == {
        p.relative_to(rendered).as_posix(): p.read_bytes() for p in rendered.rglob("*") if p.is_file()
    }


def test_an_unchanged_file_with_another_mode_is_rewritten(example_fleet: Path) -> None:
    _age(example_fleet)
    assert main(["--root", str(example_fleet), "render"]) == 0
    kept = example_fleet / "rendered/images/docker-bake.hcl"
    kept.chmod(0o600)
    EDITS["model"](example_fleet)
    assert main(["--root", str(example_fleet), "render"]) == 0
    assert kept.stat().st_mode & 0o777 == 0o644
