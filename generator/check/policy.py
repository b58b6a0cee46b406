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

from generator.errors import Finding, Location, path_str

__all__ = ["image_allowlist", "policy_findings"]

Path = tuple[str | int, ...]
Check = Callable[[Any], str | None]  # the field's value (MISSING when absent) -> a problem, or None


class _Missing:
    def __repr__(self) -> str:
        return "unset"


MISSING: Any = _Missing()

CONTAINER_LISTS = ("initContainers", "containers", "ephemeralContainers")
ALLOWED_VOLUME_TYPES = frozenset(
    {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim", "projected", "secret"}
)
SAFE_SYSCTLS = frozenset(
    {
        "kernel.shm_rmid_forced",
        "net.ipv4.ip_local_port_range",
        "net.ipv4.ip_unprivileged_port_start",
        "net.ipv4.tcp_syncookies",
        "net.ipv4.ping_group_range",
        "net.ipv4.ip_local_reserved_ports",
        "net.ipv4.tcp_keepalive_time",
        "net.ipv4.tcp_fin_timeout",
        "net.ipv4.tcp_keepalive_intvl",
        "net.ipv4.tcp_keepalive_probes",
    }
)
SELINUX_TYPES = frozenset({"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"})
SECCOMP_TYPES = frozenset({"RuntimeDefault", "Localhost"})
APPARMOR_TYPES = frozenset({"RuntimeDefault", "Localhost"})
APPARMOR_ANNOTATION = "container.apparmor.security.beta.kubernetes.io/"
DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")
# The distribution reference grammar, enough to split and sanity-check a repository.
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_REFERENCE = re.compile(
    rf"^(?P<repo>(?:[A-Za-z0-9.-]+(?::[0-9]+)?/)?{_COMPONENT}(?:/{_COMPONENT})*)"
    r"(?::[\w][\w.-]{0,127})?(?:@sha256:[0-9a-f]{64})?$"
)
PSS = "Pod Security 'restricted'"


# ------------------------------------------------------------------------------ checks


def _get(node: Any, path: Path) -> Any:
    for part in path:
        if isinstance(part, int):
            node = node[part] if isinstance(node, list) and part < len(node) else MISSING
        else:
            node = node.get(part, MISSING) if isinstance(node, Mapping) else MISSING
    return node


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _map(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _not_true(field: str) -> Check:
    return lambda v: f"{field} must not be true ({PSS})" if v is True else None


def _not_root(v: Any) -> str | None:
    return f"runAsUser must not be 0 ({PSS})" if v == 0 and not isinstance(v, bool) else None


def _not_unconfined(field: str, allowed: frozenset[str]) -> Check:
    def check(v: Any) -> str | None:
        if v is MISSING or v in allowed:
            return None
        return f"{field} must be {' or '.join(sorted(allowed))}, not {v!r} ({PSS})"

    return check


def _selinux(v: Any) -> str | None:
    if not isinstance(v, Mapping):
        return None
    if v.get("type", "") not in SELINUX_TYPES:
        return f"seLinuxOptions.type {v.get('type')!r} is not a container type ({PSS})"
    if v.get("user") or v.get("role"):
        return f"seLinuxOptions must not set user or role ({PSS})"
    return None


def _sysctls(v: Any) -> str | None:
    names = [str(s.get("name")) for s in v if isinstance(s, Mapping)] if isinstance(v, list) else []
    unsafe = [n for n in names if n not in SAFE_SYSCTLS]
    return f"unsafe sysctl(s) {', '.join(unsafe)} ({PSS})" if unsafe else None


def _is_false(field: str) -> Check:
    return lambda v: None if v is False else f"{field} must be false, not {v!r} ({PSS})"


def _drops_all(v: Any) -> str | None:
    return None if isinstance(v, list) and "ALL" in v else f"capabilities.drop must contain ALL ({PSS})"


def _adds_only_bind(v: Any) -> str | None:
    extra = [c for c in v if c != "NET_BIND_SERVICE"] if isinstance(v, list) else []
    return (
        f"capabilities.add may only contain NET_BIND_SERVICE, not {', '.join(map(str, extra))} ({PSS})"
        if extra
        else None
    )


def _proc_mount(v: Any) -> str | None:
    return None if v in (MISSING, "Default") else f"procMount must be Default, not {v!r} ({PSS})"


def _run_as_non_root(v: Any) -> str | None:
    return f"runAsNonRoot must not be false ({PSS})" if v is False else None


def _seccomp_not_unconfined(v: Any) -> str | None:
    return f"seccompProfile.type must not be Unconfined ({PSS})" if v == "Unconfined" else None


def _host_port(v: Any) -> str | None:
    return f"hostPort must not be set ({PSS})" if v not in (MISSING, 0) else None


def _present(field: str) -> Check:
    return lambda v: f"{field} is missing" if v in (MISSING, None, "") else None


_SC = ("securityContext",)

# Fields that may appear in the pod's and in each container's securityContext.
_SHARED_RULES: tuple[tuple[Path, Check, str], ...] = (
    ((*_SC, "runAsUser"), _not_root, "run as a non-zero UID: the images' USER, e.g. 10001"),
    ((*_SC, "runAsNonRoot"), _run_as_non_root, "set runAsNonRoot: true"),
    ((*_SC, "seccompProfile", "type"), _seccomp_not_unconfined, "use seccompProfile.type: RuntimeDefault"),
    ((*_SC, "seLinuxOptions"), _selinux, "leave seLinuxOptions unset"),
    ((*_SC, "windowsOptions", "hostProcess"), _not_true("windowsOptions.hostProcess"), "remove hostProcess"),
    (
        (*_SC, "appArmorProfile", "type"),
        _not_unconfined("appArmorProfile.type", APPARMOR_TYPES),
        "use appArmorProfile.type: RuntimeDefault or leave it unset",
    ),
)

POD_RULES: tuple[tuple[Path, Check, str], ...] = (
    *_SHARED_RULES,
    (("hostNetwork",), _not_true("hostNetwork"), "remove hostNetwork; expose the port through a Service"),
    (("hostPID",), _not_true("hostPID"), "remove hostPID"),
    (("hostIPC",), _not_true("hostIPC"), "remove hostIPC"),
    ((*_SC, "sysctls"), _sysctls, "only the safe sysctls of the baseline profile are allowed"),
)

CONTAINER_RULES: tuple[tuple[Path, Check, str], ...] = (
    *_SHARED_RULES,
    ((*_SC, "privileged"), _not_true("privileged"), "remove privileged"),
    ((*_SC, "allowPrivilegeEscalation"), _is_false("allowPrivilegeEscalation"), "set allowPrivilegeEscalation: false"),
    ((*_SC, "capabilities", "drop"), _drops_all, "set capabilities.drop: [ALL]"),
    ((*_SC, "capabilities", "add"), _adds_only_bind, "add no capability but NET_BIND_SERVICE"),
    ((*_SC, "procMount"), _proc_mount, "leave procMount unset"),
)

RESOURCE_RULES: tuple[tuple[Path, Check, str], ...] = (
    (("resources", "requests", "cpu"), _present("resources.requests.cpu"), "request cpu so the scheduler can place it"),
    (("resources", "requests", "memory"), _present("resources.requests.memory"), "request memory"),
    (("resources", "limits", "memory"), _present("resources.limits.memory"), "limit memory so a leak is OOM-killed"),
)

PROBE_RULES: tuple[tuple[Path, Check, str], ...] = (
    (("readinessProbe",), _present("readinessProbe"), "add a readinessProbe so traffic waits for the model"),
    (("livenessProbe",), _present("livenessProbe"), "add a livenessProbe so a hung server is restarted"),
)

PORT_RULES: tuple[tuple[Path, Check, str], ...] = ((("hostPort",), _host_port, "remove hostPort; use a Service"),)

# Either the pod sets it for all containers, or every container does: (field, ok, requirement, hint).
INHERITED: tuple[tuple[Path, Callable[[Any], bool], str, str], ...] = (
    (
        (*_SC, "runAsNonRoot"),
        lambda v: v is True,
        "runAsNonRoot must be true",
        "set runAsNonRoot: true in the pod's securityContext",
    ),
    (
        (*_SC, "seccompProfile", "type"),
        lambda v: v in SECCOMP_TYPES,
        "seccompProfile.type must be RuntimeDefault or Localhost",
        "set seccompProfile.type: RuntimeDefault in the pod's securityContext",
    ),
)


# --------------------------------------------------------------------------- templates


@dataclass(frozen=True)
class PodTemplate:
    label: str  # Kind/name
    namespace: str | None
    prefix: Path  # path of the pod spec inside the object
    metadata: Mapping[str, Any]
    spec: Mapping[str, Any]


_TEMPLATE_PATHS: tuple[Path, ...] = (("spec", "template"), ("spec", "jobTemplate", "spec", "template"))


def pod_templates(objects: Sequence[Mapping[str, Any]]) -> Iterator[PodTemplate]:
    for obj in objects:
        meta = _map(obj.get("metadata"))
        label = f"{obj.get('kind', '?')}/{meta.get('name', '?')}"
        namespace = meta.get("namespace")
        namespace = namespace if isinstance(namespace, str) else None
        if obj.get("kind") == "Pod" and isinstance(obj.get("spec"), Mapping):
            yield PodTemplate(label, namespace, ("spec",), meta, obj["spec"])
            continue
        for base in _TEMPLATE_PATHS:
            spec = _get(obj, (*base, "spec"))
            if isinstance(spec, Mapping):
                yield PodTemplate(label, namespace, (*base, "spec"), _map(_get(obj, (*base, "metadata"))), spec)
                break


def _containers(spec: Mapping[str, Any]) -> Iterator[tuple[str, int, Mapping[str, Any]]]:
    for kind in CONTAINER_LISTS:
        for index, container in enumerate(_list(spec.get(kind))):
            if isinstance(container, Mapping):
                yield kind, index, container


# ------------------------------------------------------------------------------ policy


class _Collector:
    def __init__(self, env_name: str) -> None:
        self.location = Location(f"rendered/overlays/{env_name}")
        self.findings: list[Finding] = []

    def add(self, pod: PodTemplate, path: Path, message: str, hint: str) -> None:
        full = path_str((*pod.prefix, *path)) if path else path_str(pod.prefix)
        self.findings.append(Finding(message, self.location, f"{pod.label}: {full}", hint))

    def apply(
        self, pod: PodTemplate, node: Mapping[str, Any], where: Path, rules: Sequence[tuple[Path, Check, str]]
    ) -> None:
        for path, check, hint in rules:
            problem = check(_get(node, path))
            if problem:
                self.add(pod, (*where, *path), problem, hint)


def _check_pod(out: _Collector, pod: PodTemplate) -> None:
    out.apply(pod, pod.spec, (), POD_RULES)
    for index, item in enumerate(_list(pod.spec.get("volumes"))):
        volume = _map(item)
        kinds = sorted(str(k) for k in volume if k != "name")
        bad = [k for k in kinds if k not in ALLOWED_VOLUME_TYPES]
        if bad:
            out.add(
                pod,
                ("volumes", index, bad[0]),
                f"volume {volume.get('name')!r} is of type {bad[0]}, which {PSS} does not allow",
                "use one of: " + ", ".join(sorted(ALLOWED_VOLUME_TYPES)),
            )
    for key, value in sorted(_map(pod.metadata.get("annotations")).items()):
        if (
            key.startswith(APPARMOR_ANNOTATION)
            and value != "runtime/default"
            and not str(value).startswith("localhost/")
        ):
            message = f"AppArmor annotation {key}={value!r} is not runtime/default or localhost/* ({PSS})"
            out.add(pod, (), message, "remove the annotation or set it to runtime/default")
    for kind, index, container in _containers(pod.spec):
        where: Path = (kind, index)
        out.apply(pod, container, where, CONTAINER_RULES)
        out.apply(pod, container, where, RESOURCE_RULES)
        if kind == "containers":
            out.apply(pod, container, where, PROBE_RULES)
        for port_index, port in enumerate(_list(container.get("ports"))):
            out.apply(pod, port, (*where, "ports", port_index), PORT_RULES)
        for path, ok, requirement, hint in INHERITED:
            if not ok(_get(pod.spec, path)) and not ok(_get(container, path)):
                message = f"{requirement} in the pod's or this container's securityContext ({PSS})"
                out.add(pod, (*where, *path), message, hint)


def _check_images(
    out: _Collector, pod: PodTemplate, allowed_images: Callable[[str], bool], require_digests: bool
) -> None:
    for kind, index, container in _containers(pod.spec):
        image = container.get("image")
        path: Path = (kind, index, "image")
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


def _selects(selector: Any, labels: Mapping[str, Any]) -> bool:
    """Whether a LabelSelector selects ``labels`` (an empty selector selects everything)."""
    if not isinstance(selector, Mapping):
        return False
    if any(labels.get(k) != v for k, v in _map(selector.get("matchLabels")).items()):
        return False
    for item in _list(selector.get("matchExpressions")):
        expr = _map(item)
        key, op, values = str(expr.get("key")), str(expr.get("operator")), _list(expr.get("values"))
        present = key in labels
        ok = {
            "In": present and labels.get(key) in values,
            "NotIn": not present or labels.get(key) not in values,
            "Exists": present,
            "DoesNotExist": not present,
        }.get(op, False)
        if not ok:
            return False
    return True


def _isolates_ingress(policy: Mapping[str, Any]) -> bool:
    types = _get(policy, ("spec", "policyTypes"))
    return types is MISSING or not types or "Ingress" in _list(types)


def _hashable(value: Any) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


class IngressPolicies:
    """The NetworkPolicies that isolate ingress, indexed so that finding the ones that may
    select a pod does not scan every policy of the namespace (one per model: a scan per pod
    made the check quadratic in the number of models).

    A policy whose podSelector requires some label ``k: v`` (the first of its matchLabels)
    is filed under (namespace, k, v) and only considered for pods with that label; one
    requiring no label (or a None or unhashable value) is considered for every pod of its
    namespace. :func:`_selects` then decides exactly as before.
    """

    def __init__(self, policies: Sequence[Mapping[str, Any]]) -> None:
        self._by_label: dict[tuple[str | None, Any, Any], list[Any]] = {}
        self._others: dict[str | None, list[Any]] = {}
        for policy in policies:
            namespace = _get(policy, ("metadata", "namespace"))
            namespace = None if namespace is MISSING else namespace
            selector = _get(policy, ("spec", "podSelector"))
            # A pod's namespace is a string or None: a policy of any other never applies.
            if not (namespace is None or isinstance(namespace, str)) or not _isolates_ingress(policy):
                continue
            if not isinstance(selector, Mapping):
                continue  # selects nothing
            required = _map(selector.get("matchLabels"))
            first = next(iter(required.items()), None)
            # A None value also matches pods without the label (labels.get gives None).
            if first is not None and first[1] is not None and _hashable(first[1]):
                self._by_label.setdefault((namespace, *first), []).append(selector)
            else:
                self._others.setdefault(namespace, []).append(selector)

    def select(self, namespace: str | None, labels: Mapping[str, Any]) -> bool:
        """Whether some policy of ``namespace`` selects pods labelled ``labels`` for ingress."""
        if any(_selects(selector, labels) for selector in self._others.get(namespace, ())):
            return True
        for key, value in labels.items():
            if not _hashable(value):
                continue  # equals no hashable matchLabels value
            for selector in self._by_label.get((namespace, key, value), ()):
                if _selects(selector, labels):
                    return True
        return False


def _check_network_policy(out: _Collector, pod: PodTemplate, policies: IngressPolicies) -> None:
    if policies.select(pod.namespace, _map(pod.metadata.get("labels"))):
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
