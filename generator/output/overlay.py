"""Stage 6, layout: split the resolved objects into a Kustomize base per model and an
overlay per environment that holds only the difference.

The overlay of an environment:
- lists the bases of the models enabled there;
- sets every model's image through ``images:`` (promotion is a one-line change);
- patches each object with an RFC 6902 JSON patch computed from base to environment;
- adds objects that only exist in the environment (for example a ConfigMap whose
  content-hashed name differs) and deletes their base counterparts.

``kubectl kustomize rendered/overlays/<env>`` then yields exactly the environment's
resolved objects; the test suite proves it for every environment.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

KubeObject = dict[str, Any]

CLUSTER_SCOPED = frozenset({"Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition"})

FILE_NAMES = {
    "ServiceAccount": "serviceaccount",
    "ConfigMap": "configmap",
    "Deployment": "deployment",
    "Rollout": "rollout",
    "Service": "service",
    "PodDisruptionBudget": "pdb",
    "NetworkPolicy": "networkpolicy",
    "HorizontalPodAutoscaler": "hpa",
    "ScaledObject": "scaledobject",
    "AnalysisTemplate": "analysistemplate",
    "ServiceMonitor": "servicemonitor",
    "PodMonitor": "podmonitor",
    "PrometheusRule": "prometheusrule",
}


def identity(obj: KubeObject) -> tuple[str, str, str]:
    group = str(obj["apiVersion"]).rpartition("/")[0]
    return (group, str(obj["kind"]), str(obj["metadata"]["name"]))


def file_stem(obj: KubeObject, siblings: Sequence[KubeObject], model: str = "") -> str:
    """The file name of an object within its model's directory. A Service that is not the
    model's own (a canary's, a preview) is named for its role wherever it stands."""
    kind = str(obj["kind"])
    stem = FILE_NAMES.get(kind, kind.lower())
    same_kind = [o for o in siblings if o["kind"] == kind]
    name = str(obj["metadata"]["name"])
    if kind == "Service" and model and name != model:
        return f"{stem}-{name.removeprefix(model + '-')}"
    if len(same_kind) <= 1:
        return stem
    first = str(same_kind[0]["metadata"]["name"])  # the model's own (stable, active) object
    if name == first:
        return stem
    return f"{stem}-{name.removeprefix((model or first) + '-')}"


# ---------------------------------------------------------------------------
# RFC 6902 diff


def _pointer(path: Sequence[str | int]) -> str:
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in path)


def json_patch(old: Any, new: Any, path: tuple[str | int, ...] = ()) -> list[dict[str, Any]]:
    """The operations that turn ``old`` into ``new``. Lists of different length are
    replaced whole, which keeps patches readable and exact."""
    if isinstance(old, dict) and isinstance(new, dict):
        ops: list[dict[str, Any]] = []
        for key in old:
            if key not in new:
                ops.append({"op": "remove", "path": _pointer((*path, key))})
        for key, value in new.items():
            if key not in old:
                ops.append({"op": "add", "path": _pointer((*path, key)), "value": value})
            else:
                ops.extend(json_patch(old[key], value, (*path, key)))
        return ops
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        out: list[dict[str, Any]] = []
        for index, (a, b) in enumerate(zip(old, new, strict=True)):
            out.extend(json_patch(a, b, (*path, index)))
        return out
    if old == new and type(old) is type(new):
        return []
    return [{"op": "replace", "path": _pointer(path), "value": new}]


# ---------------------------------------------------------------------------
# Base and overlays


@dataclass(frozen=True)
class ModelObjects:
    """The objects of one model, and the image reference its workload runs."""

    model: str
    image_name: str
    image_ref: str
    objects: tuple[KubeObject, ...]


@dataclass(frozen=True)
class Patch:
    model: str
    target: KubeObject
    operations: tuple[dict[str, Any], ...] = ()
    delete: bool = False


@dataclass(frozen=True)
class ImageOverride:
    name: str  # the repository in the base
    tag: str | None
    digest: str | None
    new_name: str | None = None  # the environment's repository, when it differs


@dataclass(frozen=True)
class Overlay:
    environment: str
    namespace: str
    namespace_object: KubeObject
    models: tuple[str, ...]
    images: tuple[ImageOverride, ...]
    patches: tuple[Patch, ...]
    extra: tuple[tuple[str, KubeObject], ...] = field(default=())
    keep_namespaces: bool = False  # some objects name a namespace of their own


def split_image(ref: str, name: str) -> ImageOverride:
    rest = ref[len(name) :]
    if rest.startswith("@"):
        return ImageOverride(name, None, rest[1:])
    return ImageOverride(name, rest.lstrip(":"), None)


def with_image(obj: KubeObject, image_name: str, old_ref: str, new_ref: str) -> KubeObject:
    """``obj`` with its containers that run ``old_ref`` running ``new_ref``.

    Only the dicts and lists on the way to a changed container are new; everything else
    (and ``obj`` itself, when no container changes) is shared with ``obj``.
    """
    if not old_ref.startswith(image_name):
        return obj
    pod = obj.get("spec", {}).get("template", {}).get("spec", {})
    changed: dict[str, list[Any]] = {}
    for key in ("initContainers", "containers"):
        containers = pod.get(key, []) or []
        if any(container.get("image") == old_ref for container in containers):
            changed[key] = [
                {**container, "image": new_ref} if container.get("image") == old_ref else container
                for container in containers
            ]
    if not changed:
        return obj
    spec, template = obj["spec"], obj["spec"]["template"]
    # Replacing existing keys keeps every mapping's key order.
    return {**obj, "spec": {**spec, "template": {**template, "spec": {**pod, **changed}}}}


def namespaced(obj: KubeObject, namespace: str) -> KubeObject:
    """The object as the cluster receives it from the overlay.

    The result has metadata of its own (a copy, with ``namespace`` after ``name``); the
    rest is shared with ``obj``.
    """
    if obj["kind"] in CLUSTER_SCOPED:
        return obj
    if "namespace" in obj["metadata"]:  # placed elsewhere on purpose (dashboards for Grafana)
        return obj
    metadata = {"name": copy.deepcopy(obj["metadata"]["name"]), "namespace": namespace}
    metadata.update({k: copy.deepcopy(v) for k, v in obj["metadata"].items() if k != "name"})
    return {**obj, "metadata": metadata}


def overlay(
    environment: str,
    namespace_object: KubeObject,
    base: Sequence[ModelObjects],
    env: Sequence[ModelObjects],
    *,
    keep_namespaces: bool = False,
) -> Overlay:
    """Compute the overlay that turns the bases into the environment's objects."""
    bases = {m.model: m for m in base}
    patches: list[Patch] = []
    extra: list[tuple[str, KubeObject]] = []
    images: list[ImageOverride] = []
    for model in env:
        base_model = bases[model.model]
        image = split_image(model.image_ref, model.image_name)
        if model.image_name != base_model.image_name:
            image = ImageOverride(base_model.image_name, image.tag, image.digest, model.image_name)
        images.append(image)
        base_by_id = {identity(o): o for o in base_model.objects}
        env_ids = set()
        for obj in model.objects:
            env_ids.add(identity(obj))
            as_base_image = with_image(obj, model.image_name, model.image_ref, base_model.image_ref)
            base_obj = base_by_id.get(identity(obj))
            if base_obj is None:
                extra.append((model.model, obj))
                continue
            operations = json_patch(base_obj, as_base_image)
            if operations:
                patches.append(Patch(model.model, base_obj, tuple(operations)))
        patches.extend(
            Patch(model.model, obj, delete=True) for obj in base_model.objects if identity(obj) not in env_ids
        )
    return Overlay(
        environment=environment,
        namespace=str(namespace_object["metadata"]["name"]),
        namespace_object=namespace_object,
        models=tuple(m.model for m in env),
        images=tuple(images),
        patches=tuple(patches),
        extra=tuple(extra),
        keep_namespaces=keep_namespaces,
    )
