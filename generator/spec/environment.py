"""environments/<name>.yaml: where and how the fleet runs in one environment (cluster,
Kubernetes version, policy, Prometheus, traffic router, platform metadata) and the model
defaults and overrides it applies."""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field

from generator.spec.base import Spec
from generator.spec.gitops import EnvironmentGitOps
from generator.spec.kubernetes import KubeVersion
from generator.spec.layers import MODEL_DEFAULTS, ModelDefaults, ModelOverride
from generator.spec.names import DNSLabel, Url
from generator.spec.platform import Platform
from generator.spec.traffic import Traffic


class Cluster(Spec):
    name: DNSLabel = Field(description="Cluster name.")
    server: Url = Field(description="API server URL, as the GitOps controller knows the cluster.")


class Policy(Spec):
    requireDigests: bool = Field(False, description="Every image must be pinned by digest.")
    requirePinnedArtifacts: bool = Field(False, description="Every external artifact must carry a sha256.")
    requireBaseImageDigests: bool = Field(
        False,
        description="Every Dockerfile base image (fleet.baseImages, or the built-in default) must be pinned by @sha256 digest. Images are shared, so one environment demanding it applies to all.",
    )
    autoPromote: bool | None = Field(
        None,
        description="Default of rollout.blueGreen.autoPromote here. Unset: off in an environment named prod or prod-*, on elsewhere.",
    )
    autoSync: bool | None = Field(
        None,
        description="Let the GitOps controller apply merged changes by itself (Argo CD automated sync with prune and self-heal; a Flux Kustomization that is not suspended). Unset: off in prod or prod-*, on elsewhere.",
    )


class Prometheus(Spec):
    url: Url = Field(
        "http://prometheus-operated.monitoring.svc:9090",
        description="Prometheus that canary analysis and KEDA query, as seen from inside the cluster.",
    )


class EnvironmentFile(Spec):
    """environments/<name>.yaml: where and how the fleet runs in one environment."""

    model_config = ConfigDict(extra="forbid", strict=True, title="modelfleet environment")

    apiVersion: Literal["modelfleet/v1"] = Field(description="Spec version: modelfleet/v1.")
    kind: Literal["Environment"] = Field(description="Always Environment.")
    name: DNSLabel = Field(description="Environment name; matches the file name.")
    namespace: DNSLabel = Field(description="Kubernetes namespace the fleet runs in.")
    cluster: Cluster = Field(description="Target cluster.")
    kubernetesVersion: KubeVersion = Field(description='Kubernetes minor version to validate against, quoted: "1.31".')
    policy: Policy = Field(default_factory=Policy, description="Rules this environment enforces.")
    prometheus: Prometheus = Field(default_factory=Prometheus, description="The Prometheus of this cluster.")
    traffic: Traffic = Field(default_factory=Traffic, description="How client traffic reaches exposed models.")
    gitops: EnvironmentGitOps = Field(
        default_factory=EnvironmentGitOps,
        description="The Argo CD project, controller namespace and sharding of this environment's GitOps objects, "
        "over fleet.gitops.",
    )
    platform: Platform = Field(
        default_factory=Platform, description="Merged over fleet.platform, key by key, for this environment."
    )
    defaults: ModelDefaults = Field(
        default_factory=MODEL_DEFAULTS, description="Same shape as models.yaml defaults; applied after them."
    )
    models: dict[str, ModelOverride] = Field(
        default_factory=dict, description="Per-model overrides, same shape as a model."
    )
