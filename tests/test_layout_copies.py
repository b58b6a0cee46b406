"""layout.with_image and layout.namespaced copy only what they change, with the same results
as deep-copying the whole object, and never touch their input."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from generator import pipeline
from generator.output.overlay import CLUSTER_SCOPED, namespaced, with_image


def deep_with_image(obj: dict[str, Any], image_name: str, old_ref: str, new_ref: str) -> dict[str, Any]:
    """The former implementation: a deep copy, then the change."""
    copied = copy.deepcopy(obj)
    pod = copied.get("spec", {}).get("template", {}).get("spec", {})
    for key in ("initContainers", "containers"):
        for container in pod.get(key, []) or []:
            if container.get("image") == old_ref and old_ref.startswith(image_name):
                container["image"] = new_ref
    return copied


def deep_namespaced(obj: dict[str, Any], namespace: str) -> dict[str, Any]:
    if obj["kind"] in CLUSTER_SCOPED:
        return obj
    copied = copy.deepcopy(obj)
    metadata = {"name": copied["metadata"]["name"], "namespace": namespace}
    metadata.update({k: v for k, v in copied["metadata"].items() if k != "name"})
    copied["metadata"] = metadata
    return copied


def exact(value: Any) -> str:
    """Values, types and key order."""
    return json.dumps(value)


@pytest.fixture
def objects(example_render: pipeline.Rendered) -> list[dict[str, Any]]:
    return [obj for model in example_render.base for obj in model.objects]


def test_with_image_equals_the_deep_copy_and_leaves_the_input(objects: list[dict[str, Any]]) -> None:
    changed = 0
    for obj in objects:
        pod = obj.get("spec", {}).get("template", {}).get("spec", {})
        images = [c["image"] for key in ("initContainers", "containers") for c in pod.get(key, []) or []]
        for old_ref in [*images, "registry.example/absent:1"]:
            for image_name in (old_ref.rsplit(":", 1)[0], "elsewhere.example/x"):
                before = exact(obj)
                result = with_image(obj, image_name, old_ref, "registry.example/new@sha256:" + "0" * 64)
                expected = deep_with_image(obj, image_name, old_ref, "registry.example/new@sha256:" + "0" * 64)
                assert exact(result) == exact(expected)
                assert exact(obj) == before
                changed += exact(result) != before
    assert changed >= 5


def test_namespaced_equals_the_deep_copy_with_metadata_of_its_own(objects: list[dict[str, Any]]) -> None:
    for obj in objects:
        before = exact(obj)
        result = namespaced(obj, "ml-test")
        assert exact(result) == exact(deep_namespaced(obj, "ml-test"))
        result["metadata"].setdefault("labels", {})["added"] = "x"
        result["metadata"]["name"] = "renamed"
        assert exact(obj) == before
