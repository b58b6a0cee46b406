"""Plain-word summaries of how one rendered Kubernetes object changed, for ``modelfleet diff``.

``summarise(old, new)`` turns a pair of versions of the same object into the lines a reviewer
reads (image, replicas, scaling targets, resources, rollout steps, analysis and alert
thresholds, config files, env vars). Every summariser also names the JSON-patch paths it
explained; whatever no summariser explained is reported by a fallback line
``N other fields changed in <Kind>/<name>: <paths>``, so no change is ever silent.
Secret values never appear: env vars from secrets are shown as their reference.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from .layout import KubeObject, json_patch

ARROW = "→"
NONE = "none"
MAX_VALUE = 40  # longer env values are cut, with an ellipsis
MAX_PATHS = 5  # the fallback line lists this many paths, then counts the rest

WORKLOAD_KINDS = frozenset({"Deployment", "Rollout", "StatefulSet", "DaemonSet", "Job"})
POD_SPEC = "/spec/template/spec"
CONTAINER_LISTS = ("initContainers", "containers")
# References that follow a ConfigMap's content-hashed name: the ConfigMap's own lines explain them.
CONFIG_REFERENCES = (
    r"/annotations/modelfleet\.io~1config$",
    r"/volumes/\d+/configMap/name$",
    r"/(initContainers|containers)/\d+/envFrom/\d+/configMapRef/name$",
)


@dataclass(frozen=True)
class Summary:
    """What one summariser says about a pair of objects, and the patch paths it explained."""

    lines: tuple[str, ...] = ()
    covered: tuple[str, ...] = field(default=())  # regular expressions over JSON pointers


Summariser = Callable[[KubeObject, KubeObject], Summary]


def _get(obj: Mapping[str, Any], *path: str) -> Any:
    current: Any = obj
    for key in path:
        if not isinstance(current, Mapping):
            return None
        current = current.get(key)
    return current


def _show(value: Any) -> str:
    return NONE if value is None else str(value)


def _change(label: str, old: Any, new: Any) -> str:
    return f"{label} {_show(old)} {ARROW} {_show(new)}"


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
    spec = _get(obj, "spec", "template", "spec")
    return (POD_SPEC, spec) if obj.get("kind") in WORKLOAD_KINDS and isinstance(spec, dict) else None


def containers(obj: KubeObject) -> dict[str, dict[str, Any]]:
    found = pod_spec(obj)
    if found is None:
        return {}
    spec = found[1]
    return {str(c.get("name")): c for key in CONTAINER_LISTS for c in spec.get(key) or [] if isinstance(c, dict)}


def main_container(obj: KubeObject) -> str:
    named = _get(obj, "spec", "template", "metadata", "annotations", "kubectl.kubernetes.io/default-container")
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
            if _show(before) != _show(after):
                changes.append(_change(f"{name} {word}", before, after))
    return changes


def resources_summary(old: KubeObject, new: KubeObject) -> Summary:
    lines: list[str] = []
    for label, old_container, new_container in _container_pairs(old, new):
        changes = _resource_changes(old_container.get("resources") or {}, new_container.get("resources") or {})
        if changes:
            lines.append(f"resources{label}: {', '.join(changes)}")
    return Summary(tuple(lines), (_container_pattern(r"resources(/.*)?$"),) if lines else ())


# ---------------------------------------------------------------------------
# scaling


REPLICA_FIELDS = {
    "HorizontalPodAutoscaler": ("minReplicas", "maxReplicas"),
    "ScaledObject": ("minReplicaCount", "maxReplicaCount"),
}


def _bound(word: str, old: Any, new: Any) -> str:
    return f"{word} {_show(new)}" if old == new else _change(word, old, new)


def replicas_summary(old: KubeObject, new: KubeObject) -> Summary:
    kind = str(new.get("kind"))
    if kind in REPLICA_FIELDS:
        low, high = REPLICA_FIELDS[kind]
        old_spec, new_spec = old.get("spec") or {}, new.get("spec") or {}
        if (old_spec.get(low), old_spec.get(high)) == (new_spec.get(low), new_spec.get(high)):
            return Summary()
        line = "replicas: " + ", ".join(
            _bound(word, old_spec.get(key), new_spec.get(key)) for word, key in (("min", low), ("max", high))
        )
        return Summary((line,), (rf"^/spec/({low}|{high})$",))
    before, after = _get(old, "spec", "replicas"), _get(new, "spec", "replicas")
    if kind in WORKLOAD_KINDS and before != after:
        return Summary((_change("replicas:", before, after),), (r"^/spec/replicas$",))
    return Summary()


def _metric_name(name: str, model: str) -> str:
    prefix = "modelfleet_" + model.replace("-", "_") + "_"
    return name.removeprefix(prefix)


def _target_value(target: Mapping[str, Any]) -> str:
    if "averageUtilization" in target:
        return f"{target['averageUtilization']}%"
    return _show(target.get("averageValue", target.get("value")))


def hpa_targets(obj: KubeObject) -> dict[str, str]:
    model = str(_get(obj, "metadata", "labels", "app.kubernetes.io/name") or "")
    targets: dict[str, str] = {}
    for metric in _get(obj, "spec", "metrics") or []:
        kind = str(metric.get("type", ""))
        body = metric.get(kind[:1].lower() + kind[1:]) or {}
        name = body.get("name") or _get(body, "metric", "name") or kind
        targets[_metric_name(str(name), model)] = _target_value(body.get("target") or {})
    return targets


def keda_targets(obj: KubeObject) -> dict[str, str]:
    targets: dict[str, str] = {}
    for trigger in _get(obj, "spec", "triggers") or []:
        metadata = trigger.get("metadata") or {}
        value = _show(metadata.get("threshold", metadata.get("value")))
        if trigger.get("metricType") == "Utilization":
            value += "%"
        targets[str(trigger.get("name") or trigger.get("type"))] = value
    return targets


TARGETS: dict[str, tuple[Callable[[KubeObject], dict[str, str]], str, str]] = {
    # kind: (targets, list pointer, pattern of the threshold fields within one entry)
    "HorizontalPodAutoscaler": (hpa_targets, "/spec/metrics", r"/\d+/[^/]+/target(/.*)?$"),
    "ScaledObject": (keda_targets, "/spec/triggers", r"/\d+/metadata/(threshold|value)$"),
}


def targets_summary(old: KubeObject, new: KubeObject) -> Summary:
    entry = TARGETS.get(str(new.get("kind")))
    if entry is None:
        return Summary()
    read, pointer, field_pattern = entry
    before, after = read(old), read(new)
    names = list(before) + [name for name in after if name not in before]
    lines = [
        _change(f"scaling target {name}", before.get(name), after.get(name))
        for name in names
        if before.get(name) != after.get(name)
    ]
    if not lines:
        return Summary()
    covered = [re.escape(pointer) + field_pattern]
    if list(before) != list(after):
        covered.append(rf"^{re.escape(pointer)}$")
    return Summary(tuple(lines), tuple(covered))


# ---------------------------------------------------------------------------
# progressive delivery


def _strategy_name(obj: KubeObject) -> str:
    strategy = _get(obj, "spec", "strategy") or {}
    if obj.get("kind") == "Deployment":
        return str(strategy.get("type", "RollingUpdate"))
    return next(iter(strategy), NONE)


def _steps(obj: KubeObject) -> tuple[str, str]:
    weights, pauses = [], []
    for step in _get(obj, "spec", "strategy", "canary", "steps") or []:
        if "setWeight" in step:
            weights.append(f"{step['setWeight']}%")
        if "pause" in step:
            pauses.append(str((step["pause"] or {}).get("duration", "until promoted")))
    return ", ".join(weights) or NONE, ", ".join(pauses) or NONE


def strategy_summary(old: KubeObject, new: KubeObject) -> Summary:
    if new.get("kind") not in {"Rollout", "Deployment"}:
        return Summary()
    old_name, new_name = _strategy_name(old), _strategy_name(new)
    if old_name != new_name:
        return Summary((_change("rollout strategy:", old_name, new_name),), (r"^/spec/strategy(/.*)?$",))
    lines: list[str] = []
    covered: list[str] = []
    (old_weights, old_pauses), (new_weights, new_pauses) = _steps(old), _steps(new)
    if old_weights != new_weights:
        lines.append(_change("rollout steps:", old_weights, new_weights))
    if old_pauses != new_pauses and (old_weights == new_weights or set(old_pauses) != set(new_pauses)):
        lines.append(_change("rollout pauses:", old_pauses, new_pauses))
    if lines:
        covered.append(r"^/spec/strategy/canary/steps(/.*)?$")
    flag = ("spec", "strategy", "blueGreen", "autoPromotionEnabled")
    before, after = _get(old, *flag), _get(new, *flag)
    if before != after:
        lines.append(_change("rollout auto-promotion:", _on_off(before), _on_off(after)))
        covered.append(r"^/spec/strategy/blueGreen/autoPromotionEnabled$")
    return Summary(tuple(lines), tuple(covered))


def _on_off(value: Any) -> str:
    return "off" if value is False else "on"  # Argo Rollouts promotes automatically unless told not to


_OPERATORS = {"<=": "≤", ">=": "≥"}
_CONDITION = re.compile(r"result\[0\]\s*(<=|>=|<|>|==)\s*([^\s&|)]+)")


def _threshold(condition: Any) -> str | None:
    matches = _CONDITION.findall(str(condition or ""))
    if not matches:
        return None
    operator, value = matches[-1]
    return f"{_OPERATORS.get(operator, operator)} {value}"


def analysis_summary(old: KubeObject, new: KubeObject) -> Summary:
    if new.get("kind") not in {"AnalysisTemplate", "ClusterAnalysisTemplate"}:
        return Summary()
    before = {m.get("name"): _threshold(m.get("successCondition")) for m in _get(old, "spec", "metrics") or []}
    after = {m.get("name"): _threshold(m.get("successCondition")) for m in _get(new, "spec", "metrics") or []}
    lines = [
        _change(f"analysis {name}", before.get(name), after.get(name))
        for name in [*before, *(n for n in after if n not in before)]
        if before.get(name) != after.get(name)
    ]
    covered = (r"^/spec/metrics/\d+/(successCondition|failureCondition)$",)
    return Summary(tuple(lines), covered if lines else ())


# ---------------------------------------------------------------------------
# alerts


def _rules(obj: KubeObject) -> dict[str, dict[str, Any]]:
    rules: dict[str, dict[str, Any]] = {}
    for group in _get(obj, "spec", "groups") or []:
        for rule in group.get("rules") or []:
            name = rule.get("alert") or f"record {rule.get('record')}"
            rules[str(name)] = rule
    return rules


def _threshold_changed(old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    return any(old.get(key) != new.get(key) for key in ("expr", "for", "keep_firing_for"))


def alerts_summary(old: KubeObject, new: KubeObject) -> Summary:
    if new.get("kind") != "PrometheusRule":
        return Summary()
    before, after = _rules(old), _rules(new)
    common = [name for name in after if name in before and before[name] != after[name]]
    groups = (
        ("alerts added", [name for name in after if name not in before]),
        ("alerts removed", [name for name in before if name not in after]),
        ("alert thresholds changed", [n for n in common if _threshold_changed(before[n], after[n])]),
        ("alert labels or annotations changed", [n for n in common if not _threshold_changed(before[n], after[n])]),
    )
    lines = tuple(f"{label}: {', '.join(names)}" for label, names in groups if names)
    return Summary(lines, (r"^/spec/groups(/.*)?$",) if lines else ())


# ---------------------------------------------------------------------------
# config files and the namespace


def config_summary(old: KubeObject, new: KubeObject) -> Summary:
    """Which files of a ConfigMap changed; a content-hashed ConfigMap also changes its name."""
    if new.get("kind") != "ConfigMap":
        return Summary()
    before = {**(old.get("data") or {}), **(old.get("binaryData") or {})}
    after = {**(new.get("data") or {}), **(new.get("binaryData") or {})}
    parts = [f"{name} removed" for name in before if name not in after]
    parts += [f"{name} added" for name in after if name not in before]
    parts += [f"{name} changed" for name in after if name in before and before[name] != after[name]]
    old_name, new_name = _get(old, "metadata", "name"), _get(new, "metadata", "name")
    if not parts and old_name == new_name:
        return Summary()
    renamed = f"{old_name} {ARROW} {new_name}" if old_name != new_name else str(new_name)
    line = f"config: {', '.join(parts) or 'content unchanged'} (ConfigMap {renamed})"
    return Summary((line,), (r"^/(data|binaryData)(/.*)?$", r"^/metadata/name$"))


def namespace_summary(old: KubeObject, new: KubeObject) -> Summary:
    before, after = _get(old, "metadata", "namespace"), _get(new, "metadata", "namespace")
    if before == after:
        return Summary()
    return Summary((_change("namespace:", before, after),), (r"^/metadata/namespace$",))


SUMMARISERS: tuple[Summariser, ...] = (
    namespace_summary,
    container_set_summary,
    image_summary,
    replicas_summary,
    targets_summary,
    resources_summary,
    strategy_summary,
    analysis_summary,
    alerts_summary,
    config_summary,
    env_summary,
)


# ---------------------------------------------------------------------------
# the whole object


def object_label(obj: KubeObject) -> str:
    return f"{obj.get('kind')}/{_get(obj, 'metadata', 'name')}"


def _fallback(paths: list[str], obj: KubeObject, other: bool) -> str:
    count = len(paths)
    noun = "field" if count == 1 else "fields"
    shown = ", ".join(paths[:MAX_PATHS])
    if count > MAX_PATHS:
        shown += f" and {count - MAX_PATHS} more"
    return f"{count} {'other ' if other else ''}{noun} changed in {object_label(obj)}: {shown}"


def summarise(old: KubeObject, new: KubeObject) -> list[str]:
    """The lines describing how ``old`` became ``new``; empty when they are equal."""
    operations = json_patch(old, new)
    if not operations:
        return []
    lines: list[str] = []
    covered = [re.compile(pattern) for pattern in CONFIG_REFERENCES]
    for summariser in SUMMARISERS:
        summary = summariser(old, new)
        lines.extend(summary.lines)
        covered.extend(re.compile(pattern) for pattern in summary.covered)
    rest = [str(op["path"]) for op in operations if not any(p.search(str(op["path"])) for p in covered)]
    if rest:
        lines.append(_fallback(rest, new, other=bool(lines)))
    return lines


def describe(obj: KubeObject) -> list[str]:
    """What a reviewer wants to know about a new object: its image and replica bounds."""
    lines: list[str] = []
    main = main_container(obj)
    image = containers(obj).get(main, {}).get("image")
    if image:
        lines.append(describe_image(str(image)))
    kind = str(obj.get("kind"))
    if kind in REPLICA_FIELDS:
        low, high = REPLICA_FIELDS[kind]
        spec = obj.get("spec") or {}
        lines.append(f"replicas: min {_show(spec.get(low))}, max {_show(spec.get(high))}")
    return lines
