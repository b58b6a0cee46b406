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

from generator.commands.diffsummary.common import CONFIG_REFERENCES, MAX_PATHS, Summariser, get, show
from generator.commands.diffsummary.delivery import analysis_summary, strategy_summary
from generator.commands.diffsummary.objects import alerts_summary, config_summary, namespace_summary
from generator.commands.diffsummary.pods import (
    container_set_summary,
    containers,
    describe_image,
    env_summary,
    image_summary,
    main_container,
    resources_summary,
    short_digest,
    split_image,
)
from generator.commands.diffsummary.scaling import REPLICA_FIELDS, replicas_summary, targets_summary
from generator.output.overlay import KubeObject, json_patch

__all__ = ["describe", "short_digest", "split_image", "summarise"]

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
    return f"{obj.get('kind')}/{get(obj, 'metadata', 'name')}"


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
        lines.append(f"replicas: min {show(spec.get(low))}, max {show(spec.get(high))}")
    return lines
