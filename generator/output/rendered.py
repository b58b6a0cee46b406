"""What a render hands on and back: the ``Sink`` its files go to, the ``UnitProgress`` it
tells, and the ``Rendered`` result (with each environment's ``EnvironmentOutput`` when no
sink took the files)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from generator.build.overview import Overview
from generator.build.workload import KubeObject
from generator.output.overlay import ModelObjects
from generator.output.plan import Plan
from generator.read.resolve import Resolution
from generator.write.planned import Kept


class Sink(Protocol):
    """Where a streaming render hands its files (the writer, or ``render --check``'s digests)."""

    def __call__(self, path: str, content: bytes | Kept) -> str:
        """Take a planned file (``Kept``: the bytes of that digest); return its ``content_digest``."""

    def holds(self, files: Mapping[str, str]) -> bool:
        """True when every file (path -> digest) can be handed on as ``Kept``."""


class UnitProgress(Protocol):
    """Told after each unit (a model in an environment) of a render: the CLI shows it on a
    terminal. The pipeline itself never prints."""

    def on_unit(self, env: str, model: str, done: int, total: int) -> None:
        """``done`` of ``total`` units are rendered, the last one ``model`` in ``env``."""


@dataclass(frozen=True)
class EnvironmentOutput:
    """What one environment receives (kept only by a render without a sink)."""

    name: str
    version: str
    objects: tuple[KubeObject, ...]  # what the cluster receives, namespaced
    adapter_values: dict[str, Any]  # prometheus-adapter rules serving the HPAs' custom metrics
    gitops: tuple[KubeObject, ...]  # the controller's objects that apply this overlay
    compose: dict[str, Any]  # a Docker Compose project running this environment's models locally


@dataclass(frozen=True)
class Rendered:
    resolution: Resolution
    base: tuple[ModelObjects, ...]  # without a sink only
    environments: tuple[EnvironmentOutput, ...]  # without a sink only
    plan: Plan  # every file, without a sink; with one, the files went there
    referenced: frozenset[str]  # every file and directory the spec points at
    object_count: int  # how many objects the environments receive (the CLI's summary)
    delta_record: dict[str, Any] | None = None  # what the delta path needs next time (with an enabled cache)
    overview: Overview | None = None  # the fleet at a glance (rendered/README.md, `modelfleet overview`)
