"""The scrape job the Prometheus Operator generates for a PodMonitor, for pods that are not in a cluster.

``scrape_configs(podmonitor, pods)`` returns the operator's ``scrape_configs`` entries for one
PodMonitor (one job per ``podMetricsEndpoints`` item), with one difference: where the operator
emits ``kubernetes_sd_configs: [{role: pod, namespaces: ...}]``, this emits ``static_configs``
whose targets carry the very ``__meta_kubernetes_*`` labels Prometheus's pod discovery would
give the given pods. Prometheus itself then applies the relabeling, so the series get the labels
they get in a cluster: the relabel rules below are the operator's, in the operator's order.

Sources (read, not vendored):

- prometheus-operator/prometheus-operator at 6adcebc5076c34f4f55f8f5f7b1e528929373ac7
  (v0.93.0+24; ``pkg/prometheus/promcfg.go`` is identical to v0.93.0), function
  ``(*ConfigGenerator).generatePodMonitorConfig``; the expected output for one case is its golden
  file ``pkg/prometheus/testdata/PodTargetLabelsFromPodMonitor.golden`` (see tests/test_live.py).
- prometheus/prometheus ``discovery/kubernetes/pod.go`` (``podLabels``, ``buildPod``): the meta
  labels of role ``pod``: one target per container port, containers then init containers, a
  port-less container becomes one target at the pod IP; pod labels are sanitized
  (``strutil.SanitizeLabelName``) into ``__meta_kubernetes_pod_label_<name>`` plus
  ``__meta_kubernetes_pod_labelpresent_<name>: "true"``.

Everything the operator would emit that this does not reproduce is refused (``Unsupported``), so a
PodMonitor field added later cannot be silently ignored.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

OPERATOR_COMMIT = "6adcebc5076c34f4f55f8f5f7b1e528929373ac7"

Relabel = dict[str, Any]


class Unsupported(ValueError):
    """A PodMonitor field whose operator output this module does not reproduce."""


# promcfg.go:74-78:
#   var invalidLabelCharRE = regexp.MustCompile(`[^a-zA-Z0-9_]`)
#   func sanitizeLabelName(name string) string { return invalidLabelCharRE.ReplaceAllString(name, "_") }
# Prometheus's strutil.SanitizeLabelName (used by pod discovery) replaces the same characters.
_INVALID_LABEL_CHAR = re.compile(r"[^a-zA-Z0-9_]")


def sanitize_label_name(name: str) -> str:
    return _INVALID_LABEL_CHAR.sub("_", name)


@dataclass(frozen=True)
class ContainerPort:
    name: str
    number: int  # the port the process listens on, on this machine (kubernetes_sd: containerPort)
    protocol: str = "TCP"


@dataclass(frozen=True)
class Container:
    name: str
    ports: tuple[ContainerPort, ...] = ()
    image: str = ""
    init: bool = False


@dataclass(frozen=True)
class Pod:
    """What pod discovery reads from a Pod object: metadata, containers and status."""

    name: str
    namespace: str
    labels: Mapping[str, str]
    containers: tuple[Container, ...]
    phase: str = "Running"
    ip: str = "127.0.0.1"  # status.podIP: every fake pod lives on loopback, told apart by port
    ready: bool = True
    annotations: Mapping[str, str] = field(default_factory=dict)
    controller_kind: str = ""
    controller_name: str = ""


def discovered_targets(pod: Pod) -> list[tuple[str, dict[str, str]]]:
    """(address, labels) of each target kubernetes_sd role ``pod`` gives for ``pod``.

    pod.go ``buildPod``: ``tg.Labels = podLabels(pod)`` plus ``__meta_kubernetes_namespace``; then
    ``containers := append(pod.Spec.Containers, pod.Spec.InitContainers...)`` and per container
    either one port-less target (``__address__`` = pod IP) or one target per container port with
    ``__address__ = net.JoinHostPort(pod.Status.PodIP, containerPort)``.
    """
    if not pod.ip:  # "PodIP can be empty when a pod is starting or has been evicted": no targets
        return []
    group: dict[str, str] = {
        "__meta_kubernetes_namespace": pod.namespace,
        "__meta_kubernetes_pod_name": pod.name,
        "__meta_kubernetes_pod_ip": pod.ip,
        "__meta_kubernetes_pod_ready": "true" if pod.ready else "false",
        "__meta_kubernetes_pod_phase": pod.phase,
        "__meta_kubernetes_pod_node_name": "live-test",
        "__meta_kubernetes_pod_host_ip": pod.ip,
        "__meta_kubernetes_pod_uid": f"uid-{pod.namespace}-{pod.name}",
    }
    for key, value in pod.labels.items():
        group["__meta_kubernetes_pod_label_" + sanitize_label_name(key)] = value
        group["__meta_kubernetes_pod_labelpresent_" + sanitize_label_name(key)] = "true"
    for key, value in pod.annotations.items():
        group["__meta_kubernetes_pod_annotation_" + sanitize_label_name(key)] = value
        group["__meta_kubernetes_pod_annotationpresent_" + sanitize_label_name(key)] = "true"
    if pod.controller_kind:
        group["__meta_kubernetes_pod_controller_kind"] = pod.controller_kind
    if pod.controller_name:
        group["__meta_kubernetes_pod_controller_name"] = pod.controller_name
    ordered = [c for c in pod.containers if not c.init] + [c for c in pod.containers if c.init]
    targets: list[tuple[str, dict[str, str]]] = []
    for container in ordered:
        common = {
            "__meta_kubernetes_pod_container_name": container.name,
            "__meta_kubernetes_pod_container_id": "",
            "__meta_kubernetes_pod_container_image": container.image,
            "__meta_kubernetes_pod_container_init": "true" if container.init else "false",
        }
        if not container.ports:
            targets.append((pod.ip, {**group, **common}))
            continue
        for port in container.ports:
            labels = {
                **group,
                **common,
                "__meta_kubernetes_pod_container_port_number": str(port.number),
                "__meta_kubernetes_pod_container_port_name": port.name,
                "__meta_kubernetes_pod_container_port_protocol": port.protocol,
            }
            targets.append((f"{pod.ip}:{port.number}", labels))
    return targets


def selected_namespaces(podmonitor: Mapping[str, Any]) -> list[str] | None:
    """The namespaces the job discovers pods in; None: all.

    promcfg.go ``getNamespacesFromNamespaceSelector`` (called by ``generateK8SSDConfig``, which
    writes them to ``kubernetes_sd_configs[0].namespaces.names``): ``nsel.Any`` -> all namespaces;
    no ``matchNames`` -> the PodMonitor's own namespace; else ``matchNames``.
    """
    selector = podmonitor["spec"].get("namespaceSelector") or {}
    unknown = set(selector) - {"any", "matchNames"}
    if unknown:
        raise Unsupported(f"namespaceSelector fields {sorted(unknown)}")
    if selector.get("any"):
        return None
    names = selector.get("matchNames") or []
    return list(names) if names else [podmonitor["metadata"]["namespace"]]


_SPEC_FIELDS = {
    "selector",
    "namespaceSelector",
    "podTargetLabels",
    "podMetricsEndpoints",
    "jobLabel",
    "selectorMechanism",
}
_ENDPOINT_FIELDS = {
    "port",
    "portNumber",
    "targetPort",
    "path",
    "scheme",
    "params",
    "interval",
    "scrapeTimeout",
    "honorLabels",
    "honorTimestamps",
    "relabelings",
    "metricRelabelings",
    "filterRunning",
}
# generateRelabelConfig (promcfg.go): CRD camelCase -> Prometheus snake_case, in this key order,
# `action` lower-cased; keys left empty are not written.
_RELABEL_FIELDS = (
    ("sourceLabels", "source_labels"),
    ("separator", "separator"),
    ("targetLabel", "target_label"),
    ("regex", "regex"),
    ("modulus", "modulus"),
    ("replacement", "replacement"),
    ("action", "action"),
)


def generate_relabel_config(rules: Sequence[Mapping[str, Any]]) -> list[Relabel]:
    """promcfg.go ``generateRelabelConfig``: a PodMonitor's relabelings as Prometheus writes them."""
    known = {camel for camel, _ in _RELABEL_FIELDS}
    out: list[Relabel] = []
    for rule in rules:
        unknown = set(rule) - known
        if unknown:
            raise Unsupported(f"relabeling fields {sorted(unknown)}")
        item: Relabel = {}
        for camel, snake in _RELABEL_FIELDS:
            value = rule.get(camel)
            if value is None or value in ("", [], 0):  # `if len(c.SourceLabels) > 0`, `if c.Regex != ""` ...
                continue
            item[snake] = value.lower() if camel == "action" else value
        out.append(item)
    return out


def relabel_configs(podmonitor: Mapping[str, Any], endpoint: Mapping[str, Any], shard: int = 0) -> list[Relabel]:
    """The ``relabel_configs`` of one endpoint's job, in the order generatePodMonitorConfig emits them."""
    meta, spec = podmonitor["metadata"], podmonitor["spec"]
    namespace, name = meta["namespace"], meta["name"]
    rules: list[Relabel] = [
        # 1. initRelabelings(): "Relabel prometheus job name into a meta label".
        {"source_labels": ["job"], "target_label": "__tmp_prometheus_job_name"},
    ]
    # 2. The running filter, `if ep.FilterRunning == nil || *ep.FilterRunning {
    #    relabelings = append(relabelings, generateRunningFilter()) }`
    if endpoint.get("filterRunning", True):
        rules.append(
            {"action": "drop", "source_labels": ["__meta_kubernetes_pod_phase"], "regex": "(Failed|Succeeded)"}
        )
    # 3. Selector rules, only with the default selectorMechanism RelabelRule
    #    (`ptr.Deref(m.Spec.SelectorMechanism, SelectorMechanismRelabel) == SelectorMechanismRelabel`):
    #    matchLabels in sorted key order (`sortutil.SortedKeys`), then matchExpressions in order.
    if spec.get("selectorMechanism", "RelabelRule") != "RelabelRule":
        raise Unsupported("selectorMechanism RoleSelector (a kubernetes_sd selector, not relabeling)")
    selector = spec.get("selector") or {}
    for key in sorted(selector.get("matchLabels") or {}):
        label = sanitize_label_name(key)
        rules.append(
            {
                "action": "keep",
                "source_labels": [
                    "__meta_kubernetes_pod_label_" + label,
                    "__meta_kubernetes_pod_labelpresent_" + label,
                ],
                "regex": f"({selector['matchLabels'][key]});true",
            }
        )
    for expression in selector.get("matchExpressions") or []:
        label, operator = sanitize_label_name(expression["key"]), expression["operator"]
        values = "|".join(expression.get("values") or [])
        both = ["__meta_kubernetes_pod_label_" + label, "__meta_kubernetes_pod_labelpresent_" + label]
        present = ["__meta_kubernetes_pod_labelpresent_" + label]
        if operator == "In":
            rules.append({"action": "keep", "source_labels": both, "regex": f"({values});true"})
        elif operator == "NotIn":
            rules.append({"action": "drop", "source_labels": both, "regex": f"({values});true"})
        elif operator == "Exists":
            rules.append({"action": "keep", "source_labels": present, "regex": "true"})
        elif operator == "DoesNotExist":
            rules.append({"action": "drop", "source_labels": present, "regex": "true"})
        else:
            raise Unsupported(f"matchExpressions operator {operator!r}")
    # 4. "Filter targets based on correct port for the endpoint": port (a container port NAME,
    #    used as a regex), else portNumber, else the deprecated targetPort.
    port, port_number, target_port = endpoint.get("port"), endpoint.get("portNumber"), endpoint.get("targetPort")
    if port:
        rules.append({"action": "keep", "source_labels": ["__meta_kubernetes_pod_container_port_name"], "regex": port})
    elif port_number:
        rules.append(
            {"action": "keep", "source_labels": ["__meta_kubernetes_pod_container_port_number"], "regex": port_number}
        )
    elif target_port not in (None, "", 0):
        source = "port_name" if isinstance(target_port, str) else "port_number"
        rules.append(
            {"action": "keep", "source_labels": [f"__meta_kubernetes_pod_container_{source}"], "regex": target_port}
        )
    # 5. "Relabel namespace and pod and service labels into proper labels": namespace, container, pod.
    rules += [
        {"source_labels": ["__meta_kubernetes_namespace"], "target_label": "namespace"},
        {"source_labels": ["__meta_kubernetes_pod_container_name"], "target_label": "container"},
        {"source_labels": ["__meta_kubernetes_pod_name"], "target_label": "pod"},
    ]
    # 6. "Relabel targetLabels from Pod onto target": `append(m.Spec.PodTargetLabels, cpf.PodTargetLabels...)`
    #    (the Prometheus CR's podTargetLabels: none here), each sanitized, set only when non-empty.
    for pod_label in spec.get("podTargetLabels") or []:
        rules.append(
            {
                "source_labels": ["__meta_kubernetes_pod_label_" + sanitize_label_name(pod_label)],
                "target_label": sanitize_label_name(pod_label),
                "regex": "(.+)",
                "replacement": "${1}",
            }
        )
    # 7. job = "<namespace>/<podmonitor name>" (`fmt.Sprintf("%s/%s", m.GetNamespace(), m.GetName())`),
    #    then the optional jobLabel override from a pod label.
    rules.append({"target_label": "job", "replacement": f"{namespace}/{name}"})
    if spec.get("jobLabel"):
        rules.append(
            {
                "source_labels": ["__meta_kubernetes_pod_label_" + sanitize_label_name(spec["jobLabel"])],
                "target_label": "job",
                "regex": "(.+)",
                "replacement": "${1}",
            }
        )
    # 8. endpoint = the port name (also for the deprecated string targetPort; none for portNumber).
    if port:
        rules.append({"target_label": "endpoint", "replacement": port})
    elif isinstance(target_port, str) and target_port:
        rules.append({"target_label": "endpoint", "replacement": target_port})
    # 9. Scrape-class relabelings: the Prometheus CR defines no scrape class here, so none.
    # 10. The user's relabelings, after every generated rule (`labeler.GetRelabelingConfigs(...,
    #     ep.RelabelConfigs)`; no enforcedNamespaceLabel on the Prometheus CR, so nothing is appended).
    rules += generate_relabel_config(endpoint.get("relabelings") or [])
    # 11. Sharding (`appendShardingRelabelingWithAddress`, not in DaemonSet mode). The operator writes
    #     `$(SHARD)`; the config reloader substitutes the pod's SHARD env var, 0 for one shard.
    rules += [
        {
            "source_labels": ["__address__", "__tmp_hash"],
            "target_label": "__tmp_hash",
            "regex": "(.+);",
            "replacement": "$1",
            "action": "replace",
        },
        {"source_labels": ["__tmp_hash"], "target_label": "__tmp_hash", "modulus": 1, "action": "hashmod"},
        {"source_labels": ["__tmp_hash", "__tmp_disable_sharding"], "regex": f"{shard};|.+;.+", "action": "keep"},
    ]
    return rules


def scrape_configs(
    podmonitor: Mapping[str, Any],
    pods: Sequence[Pod],
    *,
    scrape_interval: str | None = None,
    scrape_timeout: str | None = None,
) -> list[dict[str, Any]]:
    """One scrape job per ``podMetricsEndpoints`` item, as generatePodMonitorConfig writes it.

    ``scrape_interval``/``scrape_timeout`` replace the endpoint's ``interval``/``scrapeTimeout``
    when given (the live test shortens the generated 30s/10s to 1s so it fits in two minutes).
    """
    spec = podmonitor["spec"]
    unknown = set(spec) - _SPEC_FIELDS
    if unknown:
        raise Unsupported(f"PodMonitor spec fields {sorted(unknown)}")
    namespaces = selected_namespaces(podmonitor)
    # kubernetes_sd with `namespaces.names` only discovers pods of those namespaces; every pod
    # there is discovered, and the relabeling (run by Prometheus) decides which are scraped.
    static = [
        {"targets": [address], "labels": labels}
        for pod in pods
        if namespaces is None or pod.namespace in namespaces
        for address, labels in discovered_targets(pod)
    ]
    jobs: list[dict[str, Any]] = []
    meta = podmonitor["metadata"]
    for index, endpoint in enumerate(spec.get("podMetricsEndpoints") or []):
        unknown = set(endpoint) - _ENDPOINT_FIELDS
        if unknown:
            raise Unsupported(f"podMetricsEndpoints fields {sorted(unknown)}")
        # `Value: fmt.Sprintf("podMonitor/%s/%s/%d", m.Namespace, m.Name, i)`
        job: dict[str, Any] = {"job_name": f"podMonitor/{meta['namespace']}/{meta['name']}/{index}"}
        # AddHonorLabels: always written, the Go zero value false unless honorLabels is set.
        job["honor_labels"] = bool(endpoint.get("honorLabels", False))
        # AddHonorTimestamps: written only when the endpoint sets honorTimestamps.
        if "honorTimestamps" in endpoint:
            job["honor_timestamps"] = bool(endpoint["honorTimestamps"])
        job["static_configs"] = static  # in place of kubernetes_sd_configs (see the module docstring)
        interval = scrape_interval or endpoint.get("interval")
        timeout = scrape_timeout or endpoint.get("scrapeTimeout")
        if interval:
            job["scrape_interval"] = interval
        if timeout:
            job["scrape_timeout"] = timeout
        if endpoint.get("path"):
            job["metrics_path"] = endpoint["path"]
        if endpoint.get("params") is not None:
            job["params"] = endpoint["params"]
        if endpoint.get("scheme"):
            job["scheme"] = str(endpoint["scheme"]).lower()
        job["relabel_configs"] = relabel_configs(podmonitor, endpoint)
        metric_relabelings = generate_relabel_config(endpoint.get("metricRelabelings") or [])
        if metric_relabelings:
            job["metric_relabel_configs"] = metric_relabelings
        jobs.append(job)
    return jobs
