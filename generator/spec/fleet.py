"""models.yaml: the fleet-wide settings (image registry, GitOps, alerting, base and fetcher
images, platform metadata, allowed secret fingerprints) and the file that holds them with the
models and their defaults."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, ConfigDict, Field

from generator.spec.base import Spec, spec_error
from generator.spec.gitops import GitOps
from generator.spec.imagerefs import ImageRef, Repository
from generator.spec.layers import MODEL_DEFAULTS, ModelDefaults, ModelEntry
from generator.spec.names import DNSLabel, RunbookUrl
from generator.spec.platform import Platform
from generator.spec.runtimes import RUNTIMES


class Alerting(Spec):
    runbookBaseURL: RunbookUrl = Field(
        description="Base URL under which rendered/runbooks/<model>.md is published; alerts link to it."
    )


# The artifact fetchers' upstream images, pinned by tag (fleet.fetcherImages overrides them).
DEFAULT_FETCHER_IMAGES: dict[Literal["rclone", "oras"], str] = {
    "rclone": "docker.io/rclone/rclone:1.68.2",
    "oras": "ghcr.io/oras-project/oras:v1.2.0",
}
# Which fetcher an artifact scheme needs (image://, pvc:// and hf:// need none of these).
FETCHER_OF_SCHEME: dict[str, Literal["rclone", "oras"]] = {"s3": "rclone", "gs": "rclone", "oci": "oras"}

DEFAULT_BASE_IMAGES: dict[str, str] = {
    "python": "python:{version}-slim-bookworm",
    "mlserver": "docker.io/seldonio/mlserver:1.6.1-slim",
    "triton": "nvcr.io/nvidia/tritonserver:25.01-py3",
    "torchserve": "docker.io/pytorch/torchserve:0.12.0-cpu",
    "tfserving": "docker.io/tensorflow/serving:2.17.0",
    "vllm": "docker.io/vllm/vllm-openai:v0.8.5",
}


def _check_base_images(value: dict[str, str]) -> dict[str, str]:
    for key in value:
        if key not in RUNTIMES:
            raise spec_error(f"'{key}' is not a runtime", "use one of: " + ", ".join(RUNTIMES))
    python = value.get("python")
    if python is not None and "{version}" not in python:
        raise spec_error(
            "the python base image must contain '{version}'", "for example 'python:{version}-slim-bookworm'"
        )
    return value


class Fleet(Spec):
    name: DNSLabel = Field(description="Name of the fleet; used in labels and GitOps object names.")
    registry: Repository = Field(
        description="Image repository prefix; a model's image is <registry>/<model name> unless image.repository is set."
    )
    gitops: GitOps = Field(description="How a GitOps controller applies rendered/.")
    alerting: Alerting = Field(description="Where alerts point humans.")
    baseImages: Annotated[dict[str, ImageRef], AfterValidator(_check_base_images)] = Field(
        default_factory=dict,
        description="Base image per runtime for the Dockerfiles; 'python' contains '{version}'. Unset runtimes use the pinned built-in defaults.",
    )

    fetcherImages: dict[Literal["rclone", "oras"], ImageRef] = Field(
        default_factory=dict,
        description="Images of the init containers that fetch artifacts: rclone for s3:// and gs://, oras for oci://. Unset ones use the pinned upstream tags; an environment with policy.requireDigests needs them pinned by @sha256 digest (mirror them into fleet.registry).",
    )
    platform: Platform = Field(
        default_factory=Platform,
        description="Labels and annotations the cluster's shared services look for (cloud identity, Prometheus and Grafana selectors); an environment's platform is merged over it.",
    )
    allowSecrets: list[Annotated[str, Field(pattern=r"^[0-9a-f]{12}$")]] = Field(
        default_factory=list,
        description="Fingerprints of values the plaintext-secret check flagged but that are not secrets (the finding's hint prints the fingerprint).",
    )

    def base_image(self, runtime: str) -> str:
        return self.baseImages.get(runtime, DEFAULT_BASE_IMAGES[runtime])

    def fetcher_image(self, fetcher: Literal["rclone", "oras"]) -> str:
        return self.fetcherImages.get(fetcher, DEFAULT_FETCHER_IMAGES[fetcher])

    def fetcher_images(self) -> list[str]:
        """Every fetcher image a pod of this fleet may run."""
        return [self.fetcher_image(name) for name in sorted(DEFAULT_FETCHER_IMAGES)]


class FleetFile(Spec):
    """models.yaml: the fleet, its defaults and its models."""

    model_config = ConfigDict(extra="forbid", strict=True, title="modelfleet models.yaml")

    apiVersion: Literal["modelfleet/v1"] = Field(description="Spec version: modelfleet/v1.")
    kind: Literal["ModelFleet"] = Field(description="Always ModelFleet.")
    fleet: Fleet = Field(description="Fleet-wide settings.")
    defaults: ModelDefaults = Field(
        default_factory=MODEL_DEFAULTS, description="Applied to every model; a model overrides any key."
    )
    models: list[ModelEntry] = Field(min_length=1, description="The model services.")
