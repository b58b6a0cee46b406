"""Secure-by-default policy over the objects an environment receives (part of the check stage).

Every pod template (Pod, Deployment, StatefulSet, DaemonSet, ReplicaSet, Job, Argo Rollout:
anything with ``spec.template.spec``, and CronJob's ``spec.jobTemplate.spec.template.spec``)
must meet the Kubernetes Pod Security Standard "restricted" (which includes "baseline"), as
written in https://kubernetes.io/docs/concepts/security/pod-security-standards/ (v1.31):

baseline   hostProcess, hostNetwork/hostPID/hostIPC, privileged, capabilities, hostPath
           (through the restricted volume list), hostPort, AppArmor, SELinux, procMount,
           seccomp not Unconfined, safe sysctls only;
restricted volume types, allowPrivilegeEscalation false, runAsNonRoot true, runAsUser not
           0, seccompProfile RuntimeDefault or Localhost, capabilities drop ALL and add at
           most NET_BIND_SERVICE.

On top of that, modelfleet's own rules: every container (init containers too) requests cpu
and memory and limits memory; every regular container has a readiness and a liveness
probe; every image passes ``allowed_images`` and, with ``require_digests``, is pinned by
``@sha256:`` digest; every workload is selected, for ingress, by a NetworkPolicy of its
namespace.

Each finding is located at ``rendered/overlays/<env>`` with ``path``
``"Kind/name: spec.template.spec.containers[0].securityContext.runAsUser"``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from generator.check.netpolicy import IngressPolicies
from generator.check.objectfields import as_list, as_map, field_at
from generator.check.podrules import (
    ALLOWED_VOLUME_TYPES,
    APPARMOR_ANNOTATION,
    CONTAINER_RULES,
    INHERITED,
    POD_RULES,
    PORT_RULES,
    PROBE_RULES,
    PSS,
    RESOURCE_RULES,
    Check,
)
from generator.errors import Finding, Location, path_str
from generator.read.load import FieldPath

__all__ = ["image_allowlist", "policy_findings"]

CONTAINER_LISTS = ("initContainers", "containers", "ephemeralContainers")
DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")
# The distribution reference grammar, enough to split and sanity-check a repository.
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_REFERENCE = re.compile(
    rf"^(?P<repo>(?:[A-Za-z0-9.-]+(?::[0-9]+)?/)?{_COMPONENT}(?:/{_COMPONENT})*)"
    r"(?::[\w][\w.-]{0,127})?(?:@sha256:[0-9a-f]{64})?$"
)


# --------------------------------------------------------------------------- templates


@dataclass(frozen=True)
class PodTemplate:
    label: str  # Kind/name
    namespace: str | None
    prefix: FieldPath  # path of the pod spec inside the object
    metadata: Mapping[str, Any]
    spec: Mapping[str, Any]


_TEMPLATE_PATHS: tuple[FieldPath, ...] = (("spec", "template"), ("spec", "jobTemplate", "spec", "template"))


def pod_templates(objects: Sequence[Mapping[str, Any]]) -> Iterator[PodTemplate]:
    for obj in objects:
        meta = as_map(obj.get("metadata"))
        label = f"{obj.get('kind', '?')}/{meta.get('name', '?')}"
        namespace = meta.get("namespace")
        namespace = namespace if isinstance(namespace, str) else None
        if obj.get("kind") == "Pod" and isinstance(obj.get("spec"), Mapping):
            yield PodTemplate(label, namespace, ("spec",), meta, obj["spec"])
            continue
        for base in _TEMPLATE_PATHS:
            spec = field_at(obj, (*base, "spec"))
            if isinstance(spec, Mapping):
                yield PodTemplate(label, namespace, (*base, "spec"), as_map(field_at(obj, (*base, "metadata"))), spec)
                break


def _containers(spec: Mapping[str, Any]) -> Iterator[tuple[str, int, Mapping[str, Any]]]:
    for kind in CONTAINER_LISTS:
        for index, container in enumerate(as_list(spec.get(kind))):
            if isinstance(container, Mapping):
                yield kind, index, container


# ------------------------------------------------------------------------------ policy


class _Collector:
    def __init__(self, env_name: str) -> None:
        self.location = Location(f"rendered/overlays/{env_name}")
        self.findings: list[Finding] = []

    def add(self, pod: PodTemplate, path: FieldPath, message: str, hint: str) -> None:
        full = path_str((*pod.prefix, *path)) if path else path_str(pod.prefix)
        self.findings.append(Finding(message, self.location, f"{pod.label}: {full}", hint))

    def apply(
        self, pod: PodTemplate, node: Mapping[str, Any], where: FieldPath, rules: Sequence[tuple[FieldPath, Check, str]]
    ) -> None:
        for path, check, hint in rules:
            problem = check(field_at(node, path))
            if problem:
                self.add(pod, (*where, *path), problem, hint)


def _check_pod(out: _Collector, pod: PodTemplate) -> None:
    out.apply(pod, pod.spec, (), POD_RULES)
    for index, item in enumerate(as_list(pod.spec.get("volumes"))):
        volume = as_map(item)
        kinds = sorted(str(k) for k in volume if k != "name")
        bad = [k for k in kinds if k not in ALLOWED_VOLUME_TYPES]
        if bad:
            out.add(
                pod,
                ("volumes", index, bad[0]),
                f"volume {volume.get('name')!r} is of type {bad[0]}, which {PSS} does not allow",
                "use one of: " + ", ".join(sorted(ALLOWED_VOLUME_TYPES)),
            )
    for key, value in sorted(as_map(pod.metadata.get("annotations")).items()):
        if (
            key.startswith(APPARMOR_ANNOTATION)
            and value != "runtime/default"
            and not str(value).startswith("localhost/")
        ):
            message = f"AppArmor annotation {key}={value!r} is not runtime/default or localhost/* ({PSS})"
            out.add(pod, (), message, "remove the annotation or set it to runtime/default")
    for kind, index, container in _containers(pod.spec):
        where: FieldPath = (kind, index)
        out.apply(pod, container, where, CONTAINER_RULES)
        out.apply(pod, container, where, RESOURCE_RULES)
        if kind == "containers":
            out.apply(pod, container, where, PROBE_RULES)
        for port_index, port in enumerate(as_list(container.get("ports"))):
            out.apply(pod, port, (*where, "ports", port_index), PORT_RULES)
        for path, ok, requirement, hint in INHERITED:
            if not ok(field_at(pod.spec, path)) and not ok(field_at(container, path)):
                message = f"{requirement} in the pod's or this container's securityContext ({PSS})"
                out.add(pod, (*where, *path), message, hint)


def _check_images(
    out: _Collector, pod: PodTemplate, allowed_images: Callable[[str], bool], require_digests: bool
) -> None:
    for kind, index, container in _containers(pod.spec):
        image = container.get("image")
        path: FieldPath = (kind, index, "image")
        if not isinstance(image, str) or not image:
            out.add(pod, path, "the container has no image", "every container needs an image from the fleet registry")
            continue
        if not allowed_images(image):
            out.add(
                pod,
                path,
                f"image {image!r} is neither from the fleet registry nor a pinned official image",
                "set image.repository under fleet.registry, or use the runtime's default image",
            )
        if require_digests and not DIGEST.search(image):
            out.add(
                pod,
                path,
                f"image {image!r} is not pinned by digest, and this environment's policy requires digests",
                "policy.requireDigests is on: set image.digest for a model's image; "
                "an image modelfleet adds itself (a fetcher) must be pinned in modelfleet",
            )


def _check_network_policy(out: _Collector, pod: PodTemplate, policies: IngressPolicies) -> None:
    if policies.select(pod.namespace, as_map(pod.metadata.get("labels"))):
        return
    out.add(
        pod,
        (),
        "no NetworkPolicy of the namespace selects this workload's pods for ingress",
        "add a NetworkPolicy whose spec.podSelector matches the pod template's labels",
    )


def policy_findings(
    env_name: str,
    objects: Sequence[Mapping[str, Any]],
    allowed_images: Callable[[str], bool],
    *,
    require_digests: bool = False,
) -> list[Finding]:
    """Every way the environment's objects fall short of the secure defaults, as findings."""
    out = _Collector(env_name)
    policies = IngressPolicies(
        [o for o in objects if o.get("kind") == "NetworkPolicy" and o.get("apiVersion") == "networking.k8s.io/v1"]
    )
    for pod in pod_templates(objects):
        _check_pod(out, pod)
        _check_images(out, pod, allowed_images, require_digests)
        _check_network_policy(out, pod, policies)
    return out.findings


# -------------------------------------------------------------------------------- images


def image_allowlist(registry: str, pinned: Sequence[str] = ()) -> Callable[[str], bool]:
    """An ``allowed_images`` for :func:`policy_findings`: a well-formed reference whose
    repository lies under ``registry`` (at a path boundary), or one of the ``pinned``
    references exactly, or one of them with a digest added (``pinned@sha256:...``)."""
    prefix = registry.rstrip("/") + "/"
    exact = frozenset(pinned)

    def allowed(image: str) -> bool:
        match = _REFERENCE.fullmatch(image)
        if match is None:
            return False
        if match.group("repo").startswith(prefix):
            return True
        return image in exact or DIGEST.sub("", image) in exact

    return allowed
