"""What runs in a model's pods: the image and how it is built, the model artifact, resources
and GPUs, the startup budget, secret references, config files and logging."""

from __future__ import annotations

from typing import Annotated, Literal, Self

from pydantic import Field, model_validator
from pydantic_core import PydanticCustomError

from generator.spec.base import Spec, spec_error
from generator.spec.imagerefs import ArtifactUri, DebianPackage, Digest, PythonVersion, Repository, Sha256, Tag
from generator.spec.names import DNSSubdomain, EnvName, SecretKey
from generator.spec.paths import ConfigFile, RelDir
from generator.spec.quantities import Quantity, quantity_value


class Image(Spec):
    repository: Repository | None = Field(
        None, description="Image repository; defaults to <fleet.registry>/<model name>."
    )
    tag: Tag | None = Field(
        None, description="Image tag, for example '2.3.1'. Exactly one of tag or digest; never 'latest'."
    )
    digest: Digest | None = Field(None, description="Image digest 'sha256:<64 hex>'. Exactly one of tag or digest.")

    @model_validator(mode="after")
    def _tag_xor_digest(self) -> Self:
        if (self.tag is None) == (self.digest is None):
            raise spec_error(
                "image needs exactly one of 'tag' or 'digest'" + (" (both are set)" if self.tag is not None else ""),
                'write tag: "1.2.3" or digest: sha256:...',
            )
        return self


class Build(Spec):
    context: RelDir = Field(description="Directory with the service's source, relative to the fleet root.")
    pythonVersion: PythonVersion = Field(
        "3.11", description='Python minor version of the slim base image, quoted: "3.11".'
    )
    requirements: str = Field("requirements.txt", min_length=1, description="Requirements file inside the context.")
    systemPackages: list[DebianPackage] = Field(
        default_factory=list, description="Debian packages installed into the runtime image."
    )
    command: list[Annotated[str, Field(min_length=1)]] = Field(
        min_length=1, description="Container command, exec form."
    )


class Artifact(Spec):
    uri: ArtifactUri = Field(
        description="Where the model artifact lives: s3://, gs://, pvc://, oci://, hf://, or image:// when baked into the image."
    )
    sha256: Sha256 | None = Field(
        None, description="Checksum of the artifact; required where the environment demands pinned artifacts."
    )


class ResourceRequests(Spec):
    cpu: Quantity = Field("500m", description="CPU request.")
    memory: Quantity = Field("1Gi", description="Memory request.")


class ResourceLimits(Spec):
    cpu: Quantity | None = Field(None, description="CPU limit; unset by default to avoid throttling.")
    memory: Quantity = Field("2Gi", description="Memory limit.")


class Resources(Spec):
    requests: ResourceRequests = Field(default_factory=ResourceRequests, description="Resource requests.")
    limits: ResourceLimits = Field(default_factory=ResourceLimits, description="Resource limits.")
    gpu: int = Field(0, ge=0, le=16, description="nvidia.com/gpu count; more than 0 adds GPU scheduling.")
    spareGpus: int = Field(
        0,
        ge=0,
        le=1024,
        description="GPUs the node pool keeps free for this model's rollouts. 0 (the default) means a full pool: pods are replaced one at a time, never surged.",
    )

    @model_validator(mode="after")
    def _request_within_limit(self) -> Self:
        pairs = [("memory", self.requests.memory, self.limits.memory), ("cpu", self.requests.cpu, self.limits.cpu)]
        for name, request, limit in pairs:
            if limit is not None and quantity_value(request) > quantity_value(limit):
                raise PydanticCustomError(
                    "modelfleet",
                    "{message}",
                    {
                        "message": f"the {name} request {request} is more than its limit {limit}",
                        "hint": f"lower resources.requests.{name} or raise resources.limits.{name}",
                        "field": f"requests.{name}",
                    },
                )
        return self


class Startup(Spec):
    maxSeconds: int = Field(
        300, ge=10, le=7200, description="Budget of the startupProbe for slow model loads, in seconds."
    )


class SecretKeyRef(Spec):
    name: DNSSubdomain = Field(description="Name of the Kubernetes Secret.")
    key: SecretKey = Field(description="Key inside the Secret.")


class SecretEnv(Spec):
    env: EnvName = Field(description="Environment variable that receives the secret.")
    secretRef: SecretKeyRef = Field(description="Reference to the Secret key; the value never appears in the spec.")


class Config(Spec):
    files: list[ConfigFile] = Field(
        default_factory=list, description="Files mounted read-only into the container from a content-hashed ConfigMap."
    )


class Logging(Spec):
    level: Literal["debug", "info", "warning", "error"] = Field(
        "info", description="Log level, passed as LOG_LEVEL (and the runtime's own variable where it has one)."
    )
    format: Literal["json", "text"] = Field("json", description="Log format, passed as LOG_FORMAT: json lines or text.")


# Environment variables modelfleet sets from `logging`.
LOGGING_VARIABLES = ("LOG_LEVEL", "LOG_FORMAT")
