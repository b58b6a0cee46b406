"""Summaries of a workload's pod template: images, containers, env vars and resources."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from generator.commands.diffsummary.common import (
    ARROW,
    CONTAINER_LISTS,
    MAX_VALUE,
    NONE,
    POD_SPEC,
    WORKLOAD_KINDS,
    Summary,
    change,
    get,
    show,
)
from generator.output.overlay import KubeObject

# ---------------------------------------------------------------------------
# images


def short_digest(digest: str) -> str:
    algorithm, _, value = digest.partition(":")
    return f"{algorithm}:{value[:12]}…" if len(value) > 12 else digest


def split_image(ref: str) -> tuple[str, str]:
    """``(repository, version)``: the version is the tag, the shortened digest, or both."""
    name, _, digest = ref.partition("@")
    slash, colon = name.rfind("/"), name.rfind(":")
    repository, tag = (name[:colon], name[colon + 1 :]) if colon > slash else (name, "")
    if digest:
        short = short_digest(digest)
        return repository, f"{tag}@{short}" if tag else short
    return repository, tag or "latest"


def image_change(old_ref: str, new_ref: str) -> str:
    old_repo, old_version = split_image(old_ref)
    new_repo, new_version = split_image(new_ref)
    if old_repo == new_repo:
        return f"image: {new_repo} {old_version} {ARROW} {new_version}"
    return f"image: {old_repo} {old_version} {ARROW} {new_repo} {new_version}"


def describe_image(ref: str) -> str:
    repository, version = split_image(ref)
    return f"image: {repository} {version}"


# ---------------------------------------------------------------------------
# containers


def pod_spec(obj: KubeObject) -> tuple[str, dict[str, Any]] | None:
    """The JSON pointer of a workload's pod spec, and the pod spec (modelfleet renders no bare Pods or CronJobs)."""
    spec = get(obj, "spec", "template", "spec")
    return (POD_SPEC, spec) if obj.get("kind") in WORKLOAD_KINDS and isinstance(spec, dict) else None


def containers(obj: KubeObject) -> dict[str, dict[str, Any]]:
    found = pod_spec(obj)
    if found is None:
        return {}
    spec = found[1]
    return {str(c.get("name")): c for key in CONTAINER_LISTS for c in spec.get(key) or [] if isinstance(c, dict)}


def main_container(obj: KubeObject) -> str:
    named = get(obj, "spec", "template", "metadata", "annotations", "kubectl.kubernetes.io/default-container")
    if named:
        return str(named)
    found = pod_spec(obj)
    regular = (found[1].get("containers") or []) if found else []
    return str(regular[0].get("name")) if regular else ""


def _container_pairs(old: KubeObject, new: KubeObject) -> Iterator[tuple[str, dict[str, Any], dict[str, Any]]]:
    """``(label, old, new)`` for every container in both; label is empty for the main one."""
    old_containers, new_containers = containers(old), containers(new)
    main = main_container(new)
    for name, container in new_containers.items():
        if name in old_containers:
            yield ("" if name == main else f" ({name})"), old_containers[name], container


def _container_pattern(tail: str) -> str:
    return rf"^{POD_SPEC}/(initContainers|containers)/\d+/{tail}"


def container_set_summary(old: KubeObject, new: KubeObject) -> Summary:
    lines: list[str] = []
    covered: list[str] = []
    old_spec, new_spec = pod_spec(old), pod_spec(new)
    if old_spec is None or new_spec is None:
        return Summary()
    for key, label in zip(CONTAINER_LISTS, ("init containers", "containers"), strict=True):
        old_names = [str(c.get("name")) for c in old_spec[1].get(key) or []]
        new_names = [str(c.get("name")) for c in new_spec[1].get(key) or []]
        if old_names != new_names:
            lines.append(f"{label}: {', '.join(old_names) or NONE} {ARROW} {', '.join(new_names) or NONE}")
            covered.append(rf"^{POD_SPEC}/{key}$")
    return Summary(tuple(lines), tuple(covered))


def image_summary(old: KubeObject, new: KubeObject) -> Summary:
    lines: list[str] = []
    for _, old_container, new_container in _container_pairs(old, new):
        old_ref, new_ref = old_container.get("image"), new_container.get("image")
        if old_ref != new_ref:
            line = image_change(str(old_ref), str(new_ref))
            if line not in lines:
                lines.append(line)
    if not lines:
        return Summary()
    return Summary(tuple(lines), (_container_pattern("image$"), r"/labels/app\.kubernetes\.io~1version$"))


def _env_value(item: Mapping[str, Any]) -> str:
    if "value" in item:
        text = str(item["value"])
        if not text:
            return '""'
        return text if len(text) <= MAX_VALUE else text[: MAX_VALUE - 1] + "…"
    source = item.get("valueFrom") or {}
    for key, label in (("secretKeyRef", "secret"), ("configMapKeyRef", "configmap")):
        if key in source:
            return f"from {label} {source[key].get('name')}/{source[key].get('key')}"
    if "fieldRef" in source:
        return f"from field {source['fieldRef'].get('fieldPath')}"
    if "resourceFieldRef" in source:
        return f"from resource {source['resourceFieldRef'].get('resource')}"
    return '""'


def _env_lines(label: str, old: list[dict[str, Any]], new: list[dict[str, Any]]) -> list[str]:
    old_env = {str(e.get("name")): _env_value(e) for e in old}
    new_env = {str(e.get("name")): _env_value(e) for e in new}
    lines = [f"env{label} {name} removed" for name in old_env if name not in new_env]
    for name, value in new_env.items():
        if name not in old_env:
            lines.append(f"env{label} {name} added: {value}")
        elif old_env[name] != value:
            lines.append(f"env{label} {name}: {old_env[name]} {ARROW} {value}")
    return lines


def env_summary(old: KubeObject, new: KubeObject) -> Summary:
    lines: list[str] = []
    for label, old_container, new_container in _container_pairs(old, new):
        lines += _env_lines(label, old_container.get("env") or [], new_container.get("env") or [])
    return Summary(tuple(lines), (_container_pattern(r"env(/.*)?$"),) if lines else ())


def _resource_names(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    order = {"cpu": 0, "memory": 1}
    return sorted(set(old) | set(new), key=lambda name: (order.get(name, 2), name))


def _resource_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    changes: list[str] = []
    for section, word in (("requests", "request"), ("limits", "limit")):
        old_section, new_section = old.get(section) or {}, new.get(section) or {}
        for name in _resource_names(old_section, new_section):
            before, after = old_section.get(name), new_section.get(name)
            if show(before) != show(after):
                changes.append(change(f"{name} {word}", before, after))
    return changes


def resources_summary(old: KubeObject, new: KubeObject) -> Summary:
    lines: list[str] = []
    for label, old_container, new_container in _container_pairs(old, new):
        changes = _resource_changes(old_container.get("resources") or {}, new_container.get("resources") or {})
        if changes:
            lines.append(f"resources{label}: {', '.join(changes)}")
    return Summary(tuple(lines), (_container_pattern(r"resources(/.*)?$"),) if lines else ())
