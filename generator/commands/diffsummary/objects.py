"""Summaries of alert rules, ConfigMaps and namespaces."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from generator.commands.diffsummary.common import ARROW, Summary, change, get
from generator.output.overlay import KubeObject

# ---------------------------------------------------------------------------
# alerts


def _rules(obj: KubeObject) -> dict[str, dict[str, Any]]:
    rules: dict[str, dict[str, Any]] = {}
    for group in get(obj, "spec", "groups") or []:
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
    old_name, new_name = get(old, "metadata", "name"), get(new, "metadata", "name")
    if not parts and old_name == new_name:
        return Summary()
    renamed = f"{old_name} {ARROW} {new_name}" if old_name != new_name else str(new_name)
    line = f"config: {', '.join(parts) or 'content unchanged'} (ConfigMap {renamed})"
    return Summary((line,), (r"^/(data|binaryData)(/.*)?$", r"^/metadata/name$"))


def namespace_summary(old: KubeObject, new: KubeObject) -> Summary:
    before, after = get(old, "metadata", "namespace"), get(new, "metadata", "namespace")
    if before == after:
        return Summary()
    return Summary((change("namespace:", before, after),), (r"^/metadata/namespace$",))
