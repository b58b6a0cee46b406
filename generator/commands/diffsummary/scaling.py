"""Summaries of replica bounds and autoscaling targets (HPA, KEDA)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from generator.commands.diffsummary.common import WORKLOAD_KINDS, Summary, change, get, show
from generator.output.overlay import KubeObject

# ---------------------------------------------------------------------------
# scaling


REPLICA_FIELDS = {
    "HorizontalPodAutoscaler": ("minReplicas", "maxReplicas"),
    "ScaledObject": ("minReplicaCount", "maxReplicaCount"),
}


def _bound(word: str, old: Any, new: Any) -> str:
    return f"{word} {show(new)}" if old == new else change(word, old, new)


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
    before, after = get(old, "spec", "replicas"), get(new, "spec", "replicas")
    if kind in WORKLOAD_KINDS and before != after:
        return Summary((change("replicas:", before, after),), (r"^/spec/replicas$",))
    return Summary()


def _metric_name(name: str, model: str) -> str:
    prefix = "modelfleet_" + model.replace("-", "_") + "_"
    return name.removeprefix(prefix)


def _target_value(target: Mapping[str, Any]) -> str:
    if "averageUtilization" in target:
        return f"{target['averageUtilization']}%"
    return show(target.get("averageValue", target.get("value")))


def hpa_targets(obj: KubeObject) -> dict[str, str]:
    model = str(get(obj, "metadata", "labels", "app.kubernetes.io/name") or "")
    targets: dict[str, str] = {}
    for metric in get(obj, "spec", "metrics") or []:
        kind = str(metric.get("type", ""))
        body = metric.get(kind[:1].lower() + kind[1:]) or {}
        name = body.get("name") or get(body, "metric", "name") or kind
        targets[_metric_name(str(name), model)] = _target_value(body.get("target") or {})
    return targets


def keda_targets(obj: KubeObject) -> dict[str, str]:
    targets: dict[str, str] = {}
    for trigger in get(obj, "spec", "triggers") or []:
        metadata = trigger.get("metadata") or {}
        value = show(metadata.get("threshold", metadata.get("value")))
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
        change(f"scaling target {name}", before.get(name), after.get(name))
        for name in names
        if before.get(name) != after.get(name)
    ]
    if not lines:
        return Summary()
    covered = [re.escape(pointer) + field_pattern]
    if list(before) != list(after):
        covered.append(rf"^{re.escape(pointer)}$")
    return Summary(tuple(lines), tuple(covered))
