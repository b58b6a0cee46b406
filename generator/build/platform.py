"""What the cluster's shared services need on a model's objects: labels and annotations on
its ServiceAccount (cloud identity: EKS IRSA, GKE Workload Identity), pod template and
Services, the labels a Prometheus selects monitoring objects by, and where and how the
Grafana dashboard sidecar finds dashboards.

``fleet.platform`` in models.yaml is merged with an environment's ``platform`` key by key
(the environment wins). Values may hold ``{model}``, replaced by the model's name, so one
line gives each model its own cloud role.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from generator.read.resolve import ResolvedModel
from generator.spec.fleet import Fleet
from generator.spec.platform import Platform, PlatformMetadata

MODEL_PLACEHOLDER = "{model}"


@dataclass(frozen=True)
class Metadata:
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class PlatformSettings:
    """The merged platform settings of one model in one environment."""

    service_account: Metadata
    pods: Metadata
    services: Metadata
    monitoring: Metadata
    dashboards: Metadata
    dashboards_namespace: str | None


def _merge(parts: list[PlatformMetadata], model: str) -> Metadata:
    labels: dict[str, str] = {}
    annotations: dict[str, str] = {}
    for part in parts:
        labels.update(part.labels)
        annotations.update(part.annotations)
    return Metadata(
        {key: value.replace(MODEL_PLACEHOLDER, model) for key, value in labels.items()},
        {key: value.replace(MODEL_PLACEHOLDER, model) for key, value in annotations.items()},
    )


def merged_platform(fleet: Fleet, env_platform: Platform | None) -> list[Platform]:
    """The layers in order: the fleet's, then the environment's."""
    return [fleet.platform] + ([env_platform] if env_platform is not None else [])


def dashboards_namespace(fleet: Fleet, env_platform: Platform | None) -> str | None:
    namespace = None
    for layer in merged_platform(fleet, env_platform):
        if layer.dashboards.namespace is not None:
            namespace = layer.dashboards.namespace
    return namespace


def platform_settings(model: ResolvedModel) -> PlatformSettings:
    """The settings of ``model`` where it runs (the shared base: the fleet's alone, and its
    dashboards stay with the model, since a base has no namespace to name them after)."""
    env = model.environment
    env_platform = env.platform if env is not None else None
    layers = merged_platform(model.fleet, env_platform)
    name = model.name
    return PlatformSettings(
        service_account=_merge([layer.serviceAccount for layer in layers], name),
        pods=_merge([layer.pods for layer in layers], name),
        services=_merge([layer.services for layer in layers], name),
        monitoring=_merge([layer.monitoring for layer in layers], name),
        dashboards=_merge([layer.dashboards for layer in layers], name),
        dashboards_namespace=None if env is None else dashboards_namespace(model.fleet, env_platform),
    )
