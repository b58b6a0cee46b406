"""Labels and annotations the cluster's shared services look for (cloud identity, Prometheus
and Grafana selectors), set fleet-wide and merged per environment. Keys that modelfleet sets
itself, on which selectors and queries rely, are refused."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field

from generator.spec.base import Spec, spec_error
from generator.spec.names import DNSLabel, PlatformLabelValue, QualifiedKey

# Labels modelfleet sets itself, on which selectors and queries rely.
RESERVED_LABEL_PREFIXES = ("app.kubernetes.io/", "modelfleet.io/")
RESERVED_LABELS = frozenset({"rollouts-pod-template-hash"})


def _check_platform_labels(value: dict[str, str]) -> dict[str, str]:
    for key in value:
        if key.startswith(RESERVED_LABEL_PREFIXES) or key in RESERVED_LABELS:
            raise spec_error(
                f"label '{key}' is set by modelfleet (selectors and queries rely on it)",
                "choose a key of your own, such as example.com/team",
            )
    return value


def _check_platform_annotations(value: dict[str, str]) -> dict[str, str]:
    for key in value:
        if key.startswith("modelfleet.io/") or key == "kubectl.kubernetes.io/default-container":
            raise spec_error(f"annotation '{key}' is set by modelfleet", "choose a key of your own")
    return value


class PlatformMetadata(Spec):
    labels: Annotated[dict[QualifiedKey, PlatformLabelValue], AfterValidator(_check_platform_labels)] = Field(
        default_factory=dict, description="Labels; {model} in a value is the model's name."
    )
    annotations: Annotated[dict[QualifiedKey, str], AfterValidator(_check_platform_annotations)] = Field(
        default_factory=dict, description="Annotations; {model} in a value is the model's name."
    )


class DashboardsPlatform(PlatformMetadata):
    namespace: DNSLabel | None = Field(
        None,
        description="Namespace of the dashboard ConfigMaps, for a Grafana sidecar that searches only its own; by default the models' namespace.",
    )


class Platform(Spec):
    serviceAccount: PlatformMetadata = Field(
        default_factory=PlatformMetadata,
        description="On each model's ServiceAccount, such as eks.amazonaws.com/role-arn or iam.gke.io/gcp-service-account.",
    )
    pods: PlatformMetadata = Field(default_factory=PlatformMetadata, description="On each pod template.")
    services: PlatformMetadata = Field(default_factory=PlatformMetadata, description="On each Service.")
    monitoring: PlatformMetadata = Field(
        default_factory=PlatformMetadata,
        description="On PodMonitors and PrometheusRules, such as the release label kube-prometheus-stack selects them by.",
    )
    dashboards: DashboardsPlatform = Field(
        default_factory=DashboardsPlatform,
        description="On the Grafana dashboard ConfigMaps (grafana_dashboard: \"1\" is always set), and where they go.",
    )
