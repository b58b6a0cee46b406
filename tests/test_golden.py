"""The committed rendered/ and schemas/ are golden files: they must equal what the
current code produces. Output must not depend on PYTHONHASHSEED or the working directory."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from generator.commands.schema import generated_files
from generator.pipeline import Rendered
from generator.write.read import diff_tree

REPO = Path(__file__).resolve().parent.parent


def test_committed_rendered_tree_is_current(example_render: Rendered) -> None:
    diff = diff_tree(REPO / "rendered", example_render.plan.files)
    assert diff.clean, f"rendered/ is stale: {diff}; run `make render` and commit"


def test_committed_schemas_and_reference_are_current() -> None:
    for name, text in generated_files().items():
        assert (REPO / name).read_text(encoding="utf-8") == text, f"run `make schema`: {name} is stale"


def test_reference_documents_every_model_field() -> None:
    from generator.spec.model import ModelSpec

    text = (REPO / "docs" / "reference.md").read_text(encoding="utf-8")
    for name, info in ModelSpec.model_fields.items():
        assert f"| `{name}` |" in text
        assert info.description and info.description.replace("|", "\\|") in text


def test_every_schema_field_has_a_description() -> None:
    from generator.spec.jsonschema import schema_for

    def walk(node: object, where: str) -> None:
        if isinstance(node, dict):
            for name, prop in (node.get("properties") or {}).items():
                assert "description" in prop, f"{where}.{name} has no description"
            for key, value in node.items():
                walk(value, f"{where}.{key}")
        elif isinstance(node, list):
            for index, value in enumerate(node):
                walk(value, f"{where}[{index}]")

    for name in ("models.schema.json", "environment.schema.json"):
        walk(schema_for(name), name)


def _tree_digest(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


@pytest.mark.parametrize("seeds", [("0", "4242")])
def test_render_is_byte_stable_across_hash_seeds(example_fleet: Path, tmp_path: Path, seeds: tuple[str, str]) -> None:
    digests = []
    for seed in seeds:
        fleet = tmp_path / f"seed-{seed}"
        shutil.copytree(example_fleet, fleet)
        shutil.rmtree(fleet / "rendered")
        env = {**os.environ, "PYTHONHASHSEED": seed, "TZ": "Pacific/Chatham", "LC_ALL": "C"}
        result = subprocess.run(
            [sys.executable, "-m", "generator", "render"],
            cwd=fleet,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        digests.append(_tree_digest(fleet / "rendered"))
    assert digests[0] == digests[1]
    assert digests[0] == _tree_digest(REPO / "rendered")


def test_wheel_ships_templates_and_schemas_and_renders_from_anywhere(tmp_path: Path, example_fleet: Path) -> None:
    """A non-editable install works from any directory: templates/ and schemas/ are inside."""
    wheels = tmp_path / "wheels"
    # From a copy without build/: setuptools would ship a stale build/lib/ along with the wheel.
    source = tmp_path / "source"
    top = {"build", "rendered", "bench", "tests"}

    def skip(directory: str, names: list[str]) -> set[str]:
        here = {n for n in names if n.startswith(".") or n.endswith(".egg-info") or n == "__pycache__"}
        return here | (top & set(names) if Path(directory) == REPO else set())

    shutil.copytree(REPO, source, ignore=skip)
    pip_wheel = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(wheels)]
    build = subprocess.run(
        [*pip_wheel, str(source)],
        capture_output=True,
        check=False,
        text=True,
    )
    assert build.returncode == 0, build.stderr
    [wheel] = wheels.glob("modelfleet-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "generator/templates/k8s/deployment.yaml.j2" in names
    assert "generator/schemas/models.schema.json" in names
    packages = sorted(str(p.relative_to(REPO)) for p in (REPO / "generator").rglob("__init__.py"))
    assert [p for p in packages if p not in names] == [], "pyproject.toml's packages miss a subpackage"
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    shutil.rmtree(example_fleet / "rendered")
    env = {**os.environ, "PYTHONPATH": str(site), "PYTHONSAFEPATH": "1"}
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, generator.cli; print(generator.cli.__file__); sys.exit(generator.cli.main(['render']))",
        ],
        cwd=example_fleet,
        env=env,
        capture_output=True,
        check=False,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(str(site)), "the wheel's copy must be the one imported"
    assert _tree_digest(example_fleet / "rendered") == _tree_digest(REPO / "rendered")
