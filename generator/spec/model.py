"""The versioned user-facing spec (``modelfleet/v1``) as pydantic models. No I/O.

``ModelSpec`` is one fully resolved model (defaults <- model <- environment). The files
themselves hold *layers*: ``defaults:`` and per-environment overrides set only some keys,
so they are validated against ``partial()`` copies of the same models, in which every field
is optional and cross-field rules wait for the merged result.
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Annotated, Any, Literal, Self, get_args, get_origin

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    create_model,
    model_validator,
)
from pydantic_core import PydanticCustomError

from generator.spec.base import MODEL_CONFIG, field_error, spec_error
from generator.spec.imagerefs import (
    ArtifactUri,
    DebianPackage,
    Digest,
    ImageRef,
    PythonVersion,
    Repository,
    Sha256,
    Tag,
)
from generator.spec.kubernetes import KubeVersion
from generator.spec.names import (
    DNSLabel,
    DNSSubdomain,
    EnvName,
    Hostname,
    HttpPath,
    LabelValue,
    ModelName,
    PlatformLabelValue,
    PromLabel,
    QualifiedKey,
    RunbookUrl,
    SecretKey,
    Url,
)
from generator.spec.paths import ConfigFile, RelDir
from generator.spec.quantities import Duration, IntOrPercent, Percent, Port, Quantity, quantity_value
from generator.spec.queries import AnalysisQuery, DemandQuery
from generator.spec.runtimes import RUNTIMES, Runtime
from generator.spec.updates import budget, can_progress, gpus_for_surge


class Spec(BaseModel):
    """Base of every spec model: unknown keys are errors, types are strict."""

    model_config = MODEL_CONFIG


# ---------------------------------------------------------------------------
# Fleet-wide settings


class GitOps(Spec):
    controller: Literal["argocd", "flux"] = Field(
        "argocd", description="GitOps controller that applies rendered/: argocd or flux."
    )
    repoURL: Url = Field(description="Git URL of the repository holding rendered/.")
    targetRevision: str = Field("main", min_length=1, description="Branch, tag or commit the controller follows.")


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


# ---------------------------------------------------------------------------
# One model


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


class ScalingTargets(Spec):
    cpuUtilization: int | None = Field(
        None, ge=1, le=1000, description="Target CPU utilisation in percent of requests."
    )
    memoryUtilization: int | None = Field(
        None, ge=1, le=1000, description="Target memory utilisation in percent of requests."
    )
    latencyP95Ms: int | None = Field(None, ge=1, description="Target p95 latency in milliseconds (custom metric).")
    requestsPerSecond: float | None = Field(
        None, gt=0, allow_inf_nan=False, description="Target requests per second per replica (custom metric)."
    )


class WakeUp(Spec):
    router: bool = Field(
        False,
        description="Wake on the requests the environment's router counts for the model (traffic.router: nginx, with expose set); that rate, measured in front of the model, then also drives scaling.targets.requestsPerSecond.",
    )
    query: DemandQuery | None = Field(
        None,
        description="PromQL that measures demand while the model has no pods, such as a queue length (an instant vector; its sum is used). Above 0 it wakes the model, and replicas follow value / perReplica.",
    )
    perReplica: float | None = Field(
        None, gt=0, allow_inf_nan=False, description="With query: how much of the query's value one replica takes on."
    )

    @model_validator(mode="after")
    def _one_signal(self) -> Self:
        if self.router == (self.query is not None):
            raise spec_error(
                "scaling.wakeUp needs exactly one signal: router: true or a query"
                + (" (both are set)" if self.router else ""),
                "write wakeUp: {router: true}, or wakeUp: {query: 'sum(my_queue_length)', perReplica: 10}",
            )
        if (self.query is not None) != (self.perReplica is not None):
            raise field_error(
                "scaling.wakeUp.query and perReplica go together: perReplica is how much of the query's value "
                "one replica takes on",
                "set both, for example query: 'sum(my_queue_length)', perReplica: 10",
                "perReplica" if self.query is not None else "query",
            )
        return self


class Scaling(Spec):
    minReplicas: int = Field(2, ge=0, le=1000, description="Fewest replicas.")
    maxReplicas: int = Field(10, ge=1, le=1000, description="Most replicas.")
    targets: ScalingTargets = Field(
        default_factory=lambda: ScalingTargets(cpuUtilization=70), description="Autoscaling targets."
    )
    engine: Literal["hpa", "keda"] = Field(
        "hpa", description="hpa (autoscaling/v2) or keda (ScaledObject; allows minReplicas: 0)."
    )
    wakeUp: WakeUp | None = Field(
        None,
        description="What wakes a model scaled to zero (minReplicas: 0): a signal that exists while it has no pods. Its own request metrics vanish with its pods.",
    )

    @model_validator(mode="after")
    def _bounds(self) -> Self:
        if self.minReplicas > self.maxReplicas:
            raise PydanticCustomError(
                "modelfleet",
                "{message}",
                {
                    "message": f"minReplicas {self.minReplicas} is more than maxReplicas {self.maxReplicas}",
                    "hint": "lower minReplicas or raise maxReplicas",
                    "field": "minReplicas",
                },
            )
        if self.engine == "keda" and not any(v is not None for v in self.targets.model_dump().values()):
            raise PydanticCustomError(
                "modelfleet",
                "{message}",
                {
                    "message": "scaling.engine keda needs at least one target to scale on",
                    "hint": "set scaling.targets.requestsPerSecond, latencyP95Ms, cpuUtilization or memoryUtilization",
                    "field": "targets",
                },
            )
        if self.wakeUp is not None and self.engine != "keda":
            raise PydanticCustomError(
                "modelfleet",
                "{message}",
                {
                    "message": "scaling.wakeUp wakes a model from zero replicas, which only KEDA does",
                    "hint": "set scaling.engine: keda, or remove wakeUp",
                    "field": "wakeUp",
                },
            )
        if self.minReplicas == 0 and self.engine == "hpa":
            raise PydanticCustomError(
                "modelfleet",
                "{message}",
                {
                    "message": "minReplicas 0 needs scale-to-zero, which a HorizontalPodAutoscaler cannot do",
                    "hint": "set scaling.engine: keda, or minReplicas: 1",
                    "field": "minReplicas",
                },
            )
        return self


class CanaryAnalysis(Spec):
    maxErrorRate: float = Field(
        0.01, gt=0, lt=1, allow_inf_nan=False, description="Highest error ratio the canary may show."
    )
    maxLatencyP95Ms: int = Field(500, ge=1, description="Highest p95 latency the canary may show, in milliseconds.")
    minRequests: int = Field(
        50, ge=0, description="Fewer requests than this in an interval is inconclusive, not a failure."
    )


def _check_steps(value: list[int]) -> list[int]:
    for index, step in enumerate(value):
        if not 1 <= step <= 99:
            raise spec_error(
                f"canary step {step} is outside 1..99", "100 is implied at the end; list the weights before it"
            )
        if index and step <= value[index - 1]:
            raise spec_error(
                f"canary steps must increase strictly: {value[index - 1]} is followed by {step}",
                "sort the weights, for example [10, 25, 50]",
            )
    return value


class Canary(Spec):
    steps: Annotated[list[int], AfterValidator(_check_steps)] = Field(
        default_factory=lambda: [10, 25, 50],
        min_length=1,
        description="Traffic weights in percent, strictly increasing, 1..99.",
    )
    pauseMinutes: int = Field(5, ge=0, le=1440, description="Pause after each step, in minutes.")
    analysis: CanaryAnalysis = Field(default_factory=CanaryAnalysis, description="Automated analysis thresholds.")


class BlueGreen(Spec):
    autoPromote: bool | None = Field(
        None, description="Promote the preview automatically after analysis; off in prod by default."
    )


class Rolling(Spec):
    maxSurge: IntOrPercent | None = Field(
        None, description="Extra pods during an update: a count or a percentage. Default 25%, or 0 for GPU models."
    )
    maxUnavailable: IntOrPercent | None = Field(
        None, description="Pods that may be missing during an update. Default 0, or 1 for GPU models."
    )


class Rollout(Spec):
    strategy: Literal["rolling", "canary", "blueGreen"] = Field("rolling", description="rolling, canary or blueGreen.")
    rolling: Rolling = Field(
        default_factory=Rolling, description="Surge and unavailability of updates (every strategy)."
    )
    canary: Canary = Field(default_factory=Canary, description="Canary settings (strategy: canary).")
    blueGreen: BlueGreen = Field(default_factory=BlueGreen, description="Blue-green settings (strategy: blueGreen).")


class LatencySlo(Spec):
    thresholdMs: int = Field(ge=1, description="A request is good when it completes within this many milliseconds.")
    percent: Percent = Field(description="Percent of requests that must be good.")


class Slo(Spec):
    availability: Percent = Field(99.5, description="Percent of non-5xx responses over windowDays.")
    windowDays: int = Field(30, ge=1, le=90, description="SLO window in days.")
    latency: LatencySlo | None = Field(None, description="Latency objective.")


class PodRestarts(Spec):
    max: int = Field(3, ge=1, description="Restarts tolerated within the window.")
    windowMinutes: int = Field(15, ge=1, le=1440, description="Window in minutes.")


class Alerts(Spec):
    podRestarts: PodRestarts = Field(default_factory=PodRestarts, description="Alert on container restarts.")


class Sli(Spec):
    requestRate: AnalysisQuery | None = Field(
        None,
        description="PromQL for requests per second, overriding the runtime's. Write $window for the range (required) and $selector for the model's namespace/service matchers.",
    )
    errorRatio: AnalysisQuery | None = Field(
        None,
        description="PromQL for the share of failed requests (0..1), overriding the runtime's; $window required, $selector optional.",
    )
    latencyBucket: str | None = Field(
        None,
        min_length=1,
        description="A histogram's _bucket series for latency, such as my_latency_seconds_bucket{handler=\"/predict\"}; the unit comes from the name's suffix (_seconds, _milliseconds, _microseconds).",
    )


class MetricAlert(Spec):
    expr: str = Field(min_length=1, description="PromQL alert expression.")
    for_: Duration = Field("10m", alias="for", description="How long the expression must hold before the alert fires.")
    severity: Literal["page", "ticket"] = Field("ticket", description="page or ticket.")


class ModelMetric(Spec):
    metric: str = Field(
        pattern=r"^[a-zA-Z_:][a-zA-Z0-9_:]*$", description="Prometheus metric the model exports about its outputs."
    )
    alert: MetricAlert | None = Field(None, description="Alert on this metric.")


class Monitoring(Spec):
    slo: Slo = Field(default_factory=Slo, description="Service level objectives.")
    alerts: Alerts = Field(default_factory=Alerts, description="Operational alerts.")
    sli: Sli = Field(default_factory=Sli, description="Override the runtime's SLI queries for custom apps.")
    modelMetrics: list[ModelMetric] = Field(
        default_factory=list, description="Model-specific output metrics and their alerts."
    )


class Expose(Spec):
    host: Hostname = Field(description="Host name clients use; the model's HTTPRoute or Ingress matches it.")
    path: HttpPath = Field("/", description="Path prefix sent to the model.")


class Logging(Spec):
    level: Literal["debug", "info", "warning", "error"] = Field(
        "info", description="Log level, passed as LOG_LEVEL (and the runtime's own variable where it has one)."
    )
    format: Literal["json", "text"] = Field("json", description="Log format, passed as LOG_FORMAT: json lines or text.")


# The second Service a strategy adds: <model>-canary, <model>-preview.
SERVICE_SUFFIXES = {"canary": "-canary", "blueGreen": "-preview"}


def service_names(name: str, strategy: str) -> list[str]:
    """The Services of a model under ``strategy``: the stable/active one first."""
    suffix = SERVICE_SUFFIXES.get(strategy)
    return [name] if suffix is None else [name, name + suffix]


class ModelSpec(Spec):
    """One model service, fully resolved."""

    name: ModelName = Field(description="DNS-1035 label (a letter first); names files, objects, Services and labels.")
    description: str = Field(
        "", max_length=1000, description="What the model does; shown in labels' annotations and runbooks."
    )
    owner: LabelValue = Field(description="Owning team; a label on every object and the alert routing key.")
    runtime: Runtime = Field(description="Serving runtime: python, mlserver, triton, torchserve, tfserving or vllm.")
    enabled: bool = Field(True, description="false removes the model from an environment.")
    image: Image = Field(description="Image tag or digest. Replaced as a whole by an override.")
    build: Build | None = Field(
        None,
        description="Dockerfile inputs (environment-independent). Without it the runtime's official serving image is the base.",
    )
    artifact: Artifact | None = Field(None, description="Model artifact reference. Replaced as a whole by an override.")
    port: Port | None = Field(None, description="Serving port; defaults to the runtime's usual port.")
    resources: Resources = Field(default_factory=Resources, description="Requests, limits and GPUs.")
    startup: Startup = Field(default_factory=Startup, description="Startup budget.")
    env: dict[EnvName, str] = Field(
        default_factory=dict, description="Plain environment variables; values are strings."
    )
    secrets: list[SecretEnv] = Field(
        default_factory=list, description="Secret references only; plaintext secrets are rejected."
    )
    config: Config = Field(default_factory=Config, description="Configuration files.")
    scaling: Scaling = Field(default_factory=Scaling, description="Autoscaling.")
    rollout: Rollout = Field(default_factory=Rollout, description="Rollout strategy.")
    expose: Expose | None = Field(
        None,
        description="Expose the model through the environment's traffic router (an HTTPRoute or Ingress); a canary of an exposed model shifts traffic there by weight.",
    )
    monitoring: Monitoring = Field(default_factory=Monitoring, description="SLOs, alerts and model metrics.")
    logging: Logging = Field(
        default_factory=Logging, description="Log level and format; set per environment in its defaults."
    )

    @model_validator(mode="after")
    def _cross_fields(self) -> Self:
        for name in LOGGING_VARIABLES:
            if name in self.env:
                raise field_error(
                    f"env.{name} is set by logging: write logging.level / logging.format instead",
                    "remove it from env; environments set logging in their defaults",
                    f"env.{name}",
                )
        names = [secret.env for secret in self.secrets]
        for index, name in enumerate(names):
            if name in names[:index]:
                raise PydanticCustomError(
                    "modelfleet",
                    "{message}",
                    {
                        "message": f"secret env '{name}' is listed twice",
                        "hint": "keep one",
                        "field": f"secrets.{index}.env",
                    },
                )
            if name in self.env:
                raise PydanticCustomError(
                    "modelfleet",
                    "{message}",
                    {
                        "message": f"'{name}' is both a plain env var and a secret",
                        "hint": f"remove env.{name}",
                        "field": f"secrets.{index}.env",
                    },
                )
        base_names = [PurePosixPath(f).name for f in self.config.files]
        for index, name in enumerate(base_names):
            if name in base_names[:index]:
                raise field_error(
                    f"two config files are both named '{name}': they would share one key in the ConfigMap",
                    "rename one of them",
                    f"config.files.{index}",
                )
        suffix = SERVICE_SUFFIXES.get(self.rollout.strategy, "")
        if len(self.name) + len(suffix) > 63:
            raise field_error(
                f"model name '{self.name}' is too long for strategy {self.rollout.strategy}: its Service "
                f"'{self.name}{suffix}' would pass the 63-character limit",
                f"shorten the name to {63 - len(suffix)} characters",
                "name",
            )
        self._check_scale_to_zero()
        self._check_update_feasible()
        return self

    def _check_scale_to_zero(self) -> None:
        scaling = self.scaling
        if scaling.minReplicas == 0 and scaling.wakeUp is None:
            raise field_error(
                "scale-to-zero needs a wake-up signal that exists while the model has no pods, and none is set "
                "(the model's own request metrics vanish with its pods)",
                "set scaling.wakeUp.router: true (with expose, behind traffic.router: nginx), or scaling.wakeUp.query "
                "with a queue length and perReplica, or minReplicas: 1",
                "scaling.minReplicas",
            )
        if scaling.wakeUp is not None and scaling.wakeUp.router and scaling.targets.requestsPerSecond is None:
            raise field_error(
                "scaling.wakeUp.router scales on the router's request rate, and scaling.targets.requestsPerSecond "
                "is not set",
                "set scaling.targets.requestsPerSecond (requests one replica serves per second)",
                "scaling.wakeUp.router",
            )

    def _check_update_feasible(self) -> None:
        gpu = self.resources.gpu
        rolling = self.rollout.rolling
        update = budget(gpu, rolling.maxSurge, rolling.maxUnavailable)
        replicas = max(self.scaling.minReplicas, 1)
        if not can_progress(update, replicas):
            raise field_error(
                f"maxSurge {update.max_surge} and maxUnavailable {update.max_unavailable} leave an update no room "
                f"to add or remove a pod at {replicas} replica(s): it would never progress",
                "allow a surge of 1 or an unavailable pod of 1",
                "rollout.rolling.maxSurge",
            )
        if not gpu:
            return
        spare = self.resources.spareGpus
        if self.rollout.strategy == "blueGreen":
            needed = gpu * self.scaling.maxReplicas
            if needed > spare:
                raise field_error(
                    f"blue-green runs a second full set of pods: up to {self.scaling.maxReplicas} x {gpu} = {needed} "
                    f"GPUs must be free, but resources.spareGpus is {spare}",
                    "use strategy: canary or rolling (they replace GPU pods one at a time), or declare resources.spareGpus",
                    "rollout.strategy",
                )
        needed = gpus_for_surge(update, self.scaling.maxReplicas, gpu)
        if needed > spare:
            raise field_error(
                f"a surge of {update.max_surge} needs {needed} free GPU{'' if needed == 1 else 's'} at {self.scaling.maxReplicas} replicas, "
                f"but resources.spareGpus is {spare}: on a full GPU pool the new pod never schedules",
                "set rollout.rolling.maxSurge: 0 (replace one pod at a time) or declare resources.spareGpus",
                "rollout.rolling.maxSurge",
            )


# Environment variables modelfleet sets from `logging`.
LOGGING_VARIABLES = ("LOG_LEVEL", "LOG_FORMAT")

# Fields of ModelSpec that an override replaces as a whole instead of merging key by key.
ATOMIC_FIELDS = frozenset({"image", "artifact"})


# ---------------------------------------------------------------------------
# Layers: the same models with every field optional.

_PARTIALS: dict[tuple[type[BaseModel], frozenset[str], frozenset[str]], type[BaseModel]] = {}


def _partial_annotation(annotation: Any) -> Any:
    origin = get_origin(annotation)
    if isinstance(annotation, type) and issubclass(annotation, Spec):
        return partial(annotation)
    if origin is Annotated:
        inner, *meta = get_args(annotation)
        return Annotated[(_partial_annotation(inner), *meta)]
    args = get_args(annotation)
    if args and type(None) in args:  # X | None
        rest = [a for a in args if a is not type(None)]
        if len(rest) == 1:
            return _partial_annotation(rest[0]) | None
    return annotation


def partial(
    model: type[BaseModel],
    *,
    exclude: frozenset[str] = frozenset(),
    required: frozenset[str] = frozenset(),
    name: str | None = None,
) -> type[BaseModel]:
    """A copy of ``model`` where every field is optional (lists stay whole, since
    overrides replace lists) and model-level rules are dropped until merge."""
    key = (model, exclude, required)
    if key in _PARTIALS:
        return _PARTIALS[key]
    fields: dict[str, Any] = {}
    for field_name, info in model.model_fields.items():
        if field_name in exclude:
            continue
        annotation = info.annotation
        if field_name not in ATOMIC_FIELDS:
            annotation = _partial_annotation(annotation)
        typed: Any = Annotated[(annotation, *info.metadata)] if info.metadata else annotation
        if field_name in required:
            fields[field_name] = (typed, Field(description=info.description, alias=info.alias))
        else:
            fields[field_name] = (typed | None, Field(None, description=info.description, alias=info.alias))
    created: type[BaseModel] = create_model(
        name or f"{model.__name__}Layer",
        __base__=Spec,
        __doc__=f"Any subset of {model.__name__}'s fields.",
        **fields,
    )
    _PARTIALS[key] = created
    return created


if TYPE_CHECKING:  # the layer classes are made at import time; to mypy they are models
    ModelEntry = BaseModel
    ModelDefaults = BaseModel
    ModelOverride = BaseModel

MODEL_ENTRY = partial(ModelSpec, required=frozenset({"name"}), name="ModelEntry")
MODEL_DEFAULTS = partial(
    ModelSpec,
    exclude=frozenset({"name", "description", "image", "artifact", "build", "enabled"}),
    name="ModelDefaults",
)
MODEL_OVERRIDE = partial(
    ModelSpec,
    exclude=frozenset({"name", "description", "owner", "runtime", "build"}),
    name="ModelOverride",
)

if not TYPE_CHECKING:
    ModelEntry, ModelDefaults, ModelOverride = MODEL_ENTRY, MODEL_DEFAULTS, MODEL_OVERRIDE


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


class GatewayRef(Spec):
    name: DNSSubdomain = Field(description="Name of the Gateway the models' HTTPRoutes attach to.")
    namespace: DNSLabel | None = Field(None, description="Its namespace; defaults to the environment's.")
    sectionName: DNSSubdomain | None = Field(None, description="The Gateway listener to attach to; all by default.")


class GatewayApiRouter(Spec):
    gateway: GatewayRef = Field(description="The Gateway in front of the models.")


class NginxRouter(Spec):
    ingressClassName: DNSSubdomain = Field("nginx", description="IngressClass of the ingress-nginx controller.")
    namespaceLabel: PromLabel = Field(
        "exported_namespace",
        description="The label that holds an Ingress's namespace on nginx_ingress_controller_requests as your Prometheus stores it: exported_namespace when the controller is scraped with honorLabels false (the charts' default), namespace with honorLabels true.",
    )


class Traffic(Spec):
    router: Literal["none", "gatewayAPI", "nginx"] = Field(
        "none",
        description="What routes client traffic to exposed models: none, gatewayAPI (HTTPRoutes; canaries through the Argo Rollouts Gateway API plugin) or nginx (Ingresses; canaries through Argo Rollouts' NGINX support).",
    )
    gatewayAPI: GatewayApiRouter | None = Field(None, description="Settings of router gatewayAPI.")
    nginx: NginxRouter = Field(default_factory=NginxRouter, description="Settings of router nginx.")

    @model_validator(mode="after")
    def _settings(self) -> Self:
        if self.router == "gatewayAPI" and self.gatewayAPI is None:
            raise field_error(
                "traffic.router gatewayAPI needs traffic.gatewayAPI.gateway",
                "name the Gateway: gatewayAPI: {gateway: {name: public, namespace: gateway-system}}",
                "gatewayAPI",
            )
        return self


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
    platform: Platform = Field(
        default_factory=Platform, description="Merged over fleet.platform, key by key, for this environment."
    )
    defaults: ModelDefaults = Field(
        default_factory=MODEL_DEFAULTS, description="Same shape as models.yaml defaults; applied after them."
    )
    models: dict[str, ModelOverride] = Field(
        default_factory=dict, description="Per-model overrides, same shape as a model."
    )
