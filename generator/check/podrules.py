"""The rules a pod template must meet, as data: ``(field path, check, hint)`` for the pod,
each container and each container port, and the settings the pod or every container must
make. They are the Pod Security Standard "restricted" (see ``policy``) and modelfleet's own
resource and probe rules; ``policy`` applies them."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from generator.check.objectfields import MISSING
from generator.read.load import FieldPath

Check = Callable[[Any], str | None]  # the field's value (MISSING when absent) -> a problem, or None

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
PSS = "Pod Security 'restricted'"


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
_SHARED_RULES: tuple[tuple[FieldPath, Check, str], ...] = (
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

POD_RULES: tuple[tuple[FieldPath, Check, str], ...] = (
    *_SHARED_RULES,
    (("hostNetwork",), _not_true("hostNetwork"), "remove hostNetwork; expose the port through a Service"),
    (("hostPID",), _not_true("hostPID"), "remove hostPID"),
    (("hostIPC",), _not_true("hostIPC"), "remove hostIPC"),
    ((*_SC, "sysctls"), _sysctls, "only the safe sysctls of the baseline profile are allowed"),
)

CONTAINER_RULES: tuple[tuple[FieldPath, Check, str], ...] = (
    *_SHARED_RULES,
    ((*_SC, "privileged"), _not_true("privileged"), "remove privileged"),
    ((*_SC, "allowPrivilegeEscalation"), _is_false("allowPrivilegeEscalation"), "set allowPrivilegeEscalation: false"),
    ((*_SC, "capabilities", "drop"), _drops_all, "set capabilities.drop: [ALL]"),
    ((*_SC, "capabilities", "add"), _adds_only_bind, "add no capability but NET_BIND_SERVICE"),
    ((*_SC, "procMount"), _proc_mount, "leave procMount unset"),
)

RESOURCE_RULES: tuple[tuple[FieldPath, Check, str], ...] = (
    (("resources", "requests", "cpu"), _present("resources.requests.cpu"), "request cpu so the scheduler can place it"),
    (("resources", "requests", "memory"), _present("resources.requests.memory"), "request memory"),
    (("resources", "limits", "memory"), _present("resources.limits.memory"), "limit memory so a leak is OOM-killed"),
)

PROBE_RULES: tuple[tuple[FieldPath, Check, str], ...] = (
    (("readinessProbe",), _present("readinessProbe"), "add a readinessProbe so traffic waits for the model"),
    (("livenessProbe",), _present("livenessProbe"), "add a livenessProbe so a hung server is restarted"),
)

PORT_RULES: tuple[tuple[FieldPath, Check, str], ...] = ((("hostPort",), _host_port, "remove hostPort; use a Service"),)

# Either the pod sets it for all containers, or every container does: (field, ok, requirement, hint).
INHERITED: tuple[tuple[FieldPath, Callable[[Any], bool], str, str], ...] = (
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
