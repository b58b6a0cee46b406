"""What every summariser of ``modelfleet diff`` shares: the Summary it returns and small
helpers for reading and showing values."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from generator.output.overlay import KubeObject

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


def get(obj: Mapping[str, Any], *path: str) -> Any:
    current: Any = obj
    for key in path:
        if not isinstance(current, Mapping):
            return None
        current = current.get(key)
    return current


def show(value: Any) -> str:
    return NONE if value is None else str(value)


def change(label: str, old: Any, new: Any) -> str:
    return f"{label} {show(old)} {ARROW} {show(new)}"
