"""The cluster's shared services find the objects.

Sources: kube-prometheus-stack templates/prometheus/prometheus.yaml (with the chart's
defaults its Prometheus selects ServiceMonitors, PodMonitors and PrometheusRules by one
label selector, ``release: <release>``); grafana helm chart templates/_pod.tpl and
kiwigrid/k8s-sidecar (the dashboard sidecar watches ConfigMaps by the label
``grafana_dashboard``). A monitoring object without the labels its siblings carry is
invisible to the Prometheus that selects them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from generator.check.controllers.common import Objects, name_of
from generator.check.objectfields import as_map
from generator.errors import Finding

MONITORING_KINDS = ("PodMonitor", "ServiceMonitor", "PrometheusRule")
DASHBOARD_LABEL = "grafana_dashboard"
OWN_PREFIXES = ("app.kubernetes.io/", "modelfleet.io/")


def _selector_labels(obj: Mapping[str, Any]) -> set[tuple[str, str]]:
    """The labels a Prometheus may select by: all but those modelfleet puts on every object."""
    labels = as_map(as_map(obj.get("metadata")).get("labels"))
    return {(str(k), str(v)) for k, v in labels.items() if not str(k).startswith(OWN_PREFIXES)}


def platform_findings(objects: Objects) -> list[Finding]:
    found: list[Finding] = []
    monitors = list(objects.of_kind(*MONITORING_KINDS))
    every = set().union(*(_selector_labels(m) for m in monitors)) if monitors else set()
    for obj in monitors:
        missing = sorted(f"{k}={v}" for k, v in every - _selector_labels(obj))
        if missing:
            found.append(
                objects.finding(
                    obj,
                    "metadata.labels",
                    f"lacks {', '.join(missing)}, which other monitoring objects of the environment carry: "
                    "a Prometheus that selects them by label would not see it",
                    "set the labels through platform.monitoring.labels",
                )
            )
    for config in objects.of_kind("ConfigMap"):
        if name_of(config).endswith("-dashboard"):
            own = as_map(as_map(config.get("metadata")).get("labels"))
            if DASHBOARD_LABEL not in own:
                found.append(
                    objects.finding(
                        config,
                        "metadata.labels",
                        f"a dashboard without the {DASHBOARD_LABEL} label is invisible to the Grafana sidecar",
                        f"label it {DASHBOARD_LABEL}: \"1\"",
                    )
                )
    return found


__all__ = ["platform_findings"]
