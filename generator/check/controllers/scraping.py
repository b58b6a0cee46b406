"""One scrape per pod, with the labels the queries read.

Sources (prometheus-operator pkg/prometheus/promcfg.go, v0.93):
- generateServiceMonitorConfig: a ServiceMonitor scrapes the endpoints of every Service it
  selects, and labels them ``service=<Service name>``. Two selected Services in front of the
  same pods (a canary's stable and canary Services, a blue-green's active and preview
  Services whenever no rollout runs) scrape each pod twice, and every sum counts it twice.
- generatePodMonitorConfig: a PodMonitor scrapes each selected pod once and adds
  ``namespace``, ``pod``, ``container``, the ``podTargetLabels`` (sanitised: '-' becomes '_')
  and, after them, the endpoint's own relabelings; it adds no ``service`` label.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from generator.build.sli import POD_HASH_SERIES_LABEL
from generator.build.workload import POD_HASH_LABEL
from generator.check.controllers.common import Obj, Objects, equal_matchers, name_of, parse, selectors
from generator.check.objectfields import as_list, as_map
from generator.errors import Finding

WORKLOADS = ("Deployment", "Rollout", "StatefulSet")


def _labels(value: Any) -> dict[str, str]:
    return {str(k): str(v) for k, v in as_map(value).items()}


def _selects(selector: Mapping[str, str], labels: Mapping[str, str]) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def _pod_labels(workload: Obj) -> dict[str, str]:
    return _labels(as_map(as_map(as_map(workload.get("spec")).get("template")).get("metadata")).get("labels"))


class _BySelector:
    """Objects with a label selector, found by the labels they select (each is filed under every
    label of its selector, so finding those that select a set of labels reads only candidates)."""

    def __init__(self) -> None:
        self._filed: dict[tuple[str, str], list[tuple[dict[str, str], Obj]]] = {}

    def add(self, selector: dict[str, str], obj: Obj) -> None:
        for item in selector.items():
            self._filed.setdefault(item, []).append((selector, obj))

    def selecting(self, labels: Mapping[str, str]) -> list[Obj]:
        found: dict[int, Obj] = {}
        for item in labels.items():
            for selector, obj in self._filed.get(item, []):
                if _selects(selector, labels):
                    found[id(obj)] = obj
        return list(found.values())


def scrape_findings(objects: Objects) -> list[Finding]:
    pod_monitors, services, service_monitors = _BySelector(), _BySelector(), _BySelector()
    for monitor in objects.of_kind("PodMonitor"):
        pod_monitors.add(_labels(as_map(as_map(monitor.get("spec")).get("selector")).get("matchLabels")), monitor)
    for service in objects.of_kind("Service"):
        services.add(_labels(as_map(service.get("spec")).get("selector")), service)
    for monitor in objects.of_kind("ServiceMonitor"):
        selector = _labels(as_map(as_map(monitor.get("spec")).get("selector")).get("matchLabels"))
        service_monitors.add(selector, monitor)
    by_hash = _analysed_by_hash(objects)
    found: list[Finding] = []
    for workload in objects.of_kind(*WORKLOADS):
        pods = _pod_labels(workload)
        paths: list[tuple[Obj, str]] = [(m, _relabelled_service(m)) for m in pod_monitors.selecting(pods)]
        for service in services.selecting(pods):
            service_labels = _labels(as_map(service.get("metadata")).get("labels"))
            paths += [(monitor, name_of(service)) for monitor in service_monitors.selecting(service_labels)]
        if len(paths) != 1:
            how = ", ".join(f"{m['kind']}/{name_of(m)} as service={s}" for m, s in paths) or "nothing"
            found.append(
                objects.finding(
                    workload,
                    "spec.template.metadata.labels",
                    f"its pods are scraped {len(paths)} times ({how}): every sum over them is off",
                    "scrape the pods through one PodMonitor",
                )
            )
            continue
        found += _labels_for_queries(objects, workload, *paths[0], name_of(workload) in by_hash)
    return found


def _relabelled_service(monitor: Obj) -> str:
    service = ""
    for endpoint in as_list(as_map(monitor.get("spec")).get("podMetricsEndpoints")):
        for entry in as_list(as_map(endpoint).get("relabelings")):
            relabel = as_map(entry)
            static = relabel.get("action", "replace") == "replace" and not relabel.get("sourceLabels")
            if relabel.get("targetLabel") == "service" and static:
                service = str(relabel.get("replacement", ""))
    return service


def _labels_for_queries(objects: Objects, workload: Obj, monitor: Obj, service: str, by_hash: bool) -> list[Finding]:
    """The queries about this workload's pods select labels the scrape gives them."""
    name = name_of(workload)
    found: list[Finding] = []
    if service != name:
        found.append(
            objects.finding(
                monitor,
                "spec",
                f"series of {name}'s pods are labelled service={service or '(none)'}, but its queries select "
                f'service="{name}"',
                f"relabel the scrape: targetLabel service, replacement {name}",
            )
        )
    kept = [str(label) for label in as_list(as_map(monitor.get("spec")).get("podTargetLabels"))]
    if by_hash and POD_HASH_LABEL not in kept:
        found.append(
            objects.finding(
                monitor,
                "spec.podTargetLabels",
                f"the analysis of {name} selects pods by rollouts_pod_template_hash, which the scrape does not keep",
                f"list {POD_HASH_LABEL} in podTargetLabels",
            )
        )
    return found


def _analysed_by_hash(objects: Objects) -> set[str]:
    """The models whose analysis selects pods by rollouts_pod_template_hash."""
    models: set[str] = set()
    for template in objects.of_kind("AnalysisTemplate"):
        for metric in as_list(as_map(template.get("spec")).get("metrics")):
            query = parse(str(as_map(as_map(as_map(metric).get("provider")).get("prometheus")).get("query", "")))
            for selector in selectors(query) if query is not None else []:
                matchers = equal_matchers(selector)
                if POD_HASH_SERIES_LABEL in matchers and "service" in matchers:
                    models.add(matchers["service"])
    return models


__all__ = ["scrape_findings"]
