"""One model service, fully resolved (defaults <- model <- environment): its field groups
and the rules that span them (names that must not clash, scale-to-zero, updates that can
progress on the GPUs there are)."""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Self

from pydantic import Field, model_validator
from pydantic_core import PydanticCustomError

from generator.spec.base import Spec, field_error
from generator.spec.monitoring import Monitoring
from generator.spec.names import EnvName, LabelValue, ModelName
from generator.spec.quantities import Port
from generator.spec.rollout import SERVICE_SUFFIXES, Rollout
from generator.spec.runtimes import Runtime
from generator.spec.scaling import Scaling
from generator.spec.traffic import Expose
from generator.spec.updates import budget, can_progress, gpus_for_surge
from generator.spec.workload import (
    LOGGING_VARIABLES,
    Artifact,
    Build,
    Config,
    Image,
    Logging,
    Resources,
    SecretEnv,
    Startup,
)


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
