"""Local run: a Docker Compose project per environment (``rendered/compose/<env>.yaml``).

It runs the environment's enabled models on one machine with what the cluster would run:

* the same image reference as the overlay. A model pinned by tag also gets ``build:`` (the
  rendered Dockerfile and its build context), so ``docker compose -f rendered/compose/<env>.yaml
  up --build`` from the repository root builds it under that tag. A model pinned by digest is
  pulled, never built: a local build cannot produce the pinned digest.
* the Deployment's environment variables (``spec.env``, ``LOG_LEVEL``/``LOG_FORMAT``, the
  runtime's own log variable, ``MODEL_DIR``, ``CONFIG_DIR``), taken from the Deployment's own
  container context so the two cannot drift;
* secrets as references only: each model with ``secrets`` reads an optional env file of its own,
  ``.env.<env>.<model>`` at the repository root, which the user fills with the keys listed in the
  file's header and in ``x-modelfleet`` (never values); a model sees only its own secrets;
* ``config.files`` bind-mounted read-only from their source paths into ``/etc/modelfleet/config``
  (where the Deployment mounts its ConfigMap), and the runtime's server configuration (TF Serving,
  TorchServe) as inline Compose ``configs`` at ``/etc/modelfleet/runtime``;
* an artifact other than ``image://`` is read from ``.models/<env>/<model>/``, mounted read-only at
  ``/models``: the user fills it with what the pod sees at ``/models`` (nothing is fetched from a
  cloud store locally). Per environment, because environments pin different artifacts;
* the serving port published on 127.0.0.1 only, host ports 8001, 8002, ... in model name order;
* a health check on the runtime's readiness path (see ``HEALTHCHECK``), the container hardening
  of the pod (read-only root file system with a tmpfs at ``/tmp``, the image's numeric uid and
  gid, every capability dropped, no privilege escalation), the memory (and CPU) limit, ``/dev/shm``
  as in the pod, and the GPUs as device reservations.

Every string the spec supplies is data: the document is a dict serialised by
``generator.output.yamlout`` (never YAML text built by hand), and ``$`` is doubled so that Compose's
variable interpolation gives back the exact text. ``validate_compose`` checks a document against
the Compose Specification schema vendored in ``schemas/compose/`` (see its PROVENANCE.md).
"""

from __future__ import annotations

import functools
import json
import math
import posixpath
from collections.abc import Mapping, Sequence
from decimal import Decimal
from importlib.resources import files
from pathlib import Path
from typing import Any, Final, NamedTuple

import jsonschema_rs
from jsonschema import Draft7Validator

from generator.build.identity import common_labels, image_reference
from generator.build.image import PLATFORMS, build_context
from generator.build.numbertext import plain
from generator.build.workload import CONFIG_DIR, read_config_files, workload_context
from generator.fastschema import fast_accepts
from generator.read.resolve import ResolvedEnvironment, ResolvedModel
from generator.spec.quantities import quantity_value
from generator.spec.runtimes import MODEL_DIR, RUNTIME_CONFIG_DIR, RUNTIME_CONFIG_FILES, facts

__all__ = [
    "COMPOSE_DIR",
    "FIRST_HOST_PORT",
    "HEALTHCHECK",
    "compose_file",
    "compose_header",
    "compose_path",
    "cpus",
    "env_file_path",
    "memory_size",
    "models_dir_path",
    "validate_compose",
]

COMPOSE_DIR: Final = "rendered/compose"
IMAGES_DIR: Final = "rendered/images"
FIRST_HOST_PORT: Final = 8001
MIN_COMPOSE_VERSION: Final = "2.24"  # env_file `required` (2.24.0), configs `content` (2.23.1)
# The pod's /tmp is an emptyDir (sizeLimit 1Gi) that allows exec (compilers such as torch's
# inductor load what they build there); Docker mounts a tmpfs noexec unless told otherwise.
TMP_OPTIONS: Final = "size=1g,exec"
SHM_SIZE: Final = "2gb"  # the pod's /dev/shm for triton and vllm: a 2Gi memory emptyDir
SHM_RUNTIMES: Final = frozenset({"triton", "vllm"})
STOP_GRACE: Final = "30s"  # the pod's terminationGracePeriodSeconds

# How each runtime's official image (generator.spec.fleet.DEFAULT_BASE_IMAGES) can run a health
# check: the program used, or None with the reason there is none. Slim images have no curl,
# so the check is Python's urllib wherever the image has a python3.
HEALTHCHECK: Final[Mapping[str, tuple[str | None, str]]] = {
    "python": ("python3", "python:<version>-slim-bookworm has python3 (no curl or wget)"),
    "mlserver": ("python3", "seldonio/mlserver runs on conda's python3 (/opt/conda/bin, on PATH)"),
    "triton": ("python3", "tritonserver -py3 images install python3 for the Python backend"),
    "torchserve": ("python3", "pytorch/torchserve has python3 in /home/venv/bin (on PATH) and no curl"),
    "vllm": ("python3", "vllm/vllm-openai serves with python3 (the default command is python3 -m vllm...)"),
    "tfserving": (
        None,
        "tensorflow/serving is Ubuntu with tensorflow_model_server and ca-certificates only: no python3, "
        "curl or wget to run a check with; none is set (watch `docker compose logs`)",
    ),
}

_SCHEMA_PACKAGE: Final = "generator.schemas"
_SCHEMA_DIR: Final = "compose"
_SCHEMA_FILE: Final = "compose-spec.json"


# ---------------------------------------------------------------------------
# Paths


def compose_path(env: str, compose_dir: str = COMPOSE_DIR) -> str:
    """The compose file of ``env``, relative to the repository root."""
    return f"{compose_dir}/{env}.yaml"


def env_file_path(env: str, model: str) -> str:
    """The local env file holding ``model``'s secrets in ``env``, relative to the repository root.

    ``.env.*`` so that the Dockerfiles' ignore files (``**/.env.*``) keep it out of every build context."""
    return f".env.{env}.{model}"


def models_dir_path(env: str, model: str) -> str:
    """The local directory mounted at /models for ``model`` in ``env``, relative to the repository root."""
    return f".models/{env}/{model}"


def _from_compose(path: str, compose_dir: str) -> str:
    """``path`` (relative to the repository root) relative to the compose file's directory,
    which is where Compose resolves relative paths."""
    return posixpath.relpath(posixpath.normpath(path), compose_dir)


# ---------------------------------------------------------------------------
# Values


def memory_size(limit: str) -> str:
    """A Kubernetes memory quantity as a Compose byte size, exact: 4Gi -> "4g", 500M -> "500000000".

    Compose reads k/m/g as powers of 1024 (go-units RAMInBytes); a fraction of a byte rounds up."""
    size = math.ceil(quantity_value(limit))
    for suffix, factor in (("g", 2**30), ("m", 2**20), ("k", 2**10)):
        if size % factor == 0:
            return f"{size // factor}{suffix}"
    return str(size)


def cpus(limit: str) -> str:
    """A Kubernetes CPU quantity as Compose ``cpus``: 500m -> "0.5", 2 -> "2"."""
    return plain(Decimal(quantity_value(limit)))


def _literal(value: Any) -> Any:
    """``value`` with every ``$`` in its strings doubled: Compose interpolates ``$VAR`` and
    ``${VAR}`` in every string of the file and turns ``$$`` back into ``$``."""
    if isinstance(value, str):
        return value.replace("$", "$$")
    if isinstance(value, dict):
        return {key: _literal(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_literal(item) for item in value]
    return value


def _healthcheck(model: ResolvedModel, port: int, path: str) -> dict[str, Any] | None:
    program, _ = HEALTHCHECK[model.spec.runtime]
    if program is None:
        return None
    url = f"http://127.0.0.1:{port}{path}"
    # repr(): the URL is a Python string literal whatever it contains. urlopen raises, so the
    # check fails, on a connection error or any status other than 2xx/3xx.
    script = f"import urllib.request; urllib.request.urlopen({url!r}, timeout=2)"
    return {
        "test": ["CMD", program, "-c", script],
        "interval": "10s",
        "timeout": "3s",
        "retries": 3,
        "start_period": f"{model.spec.startup.maxSeconds}s",
    }


def _environment(container_env: Sequence[Mapping[str, Any]]) -> tuple[dict[str, str], list[dict[str, str]]]:
    """The Deployment's env split into plain values and secret references (env, Secret, key)."""
    values: dict[str, str] = {}
    secrets: list[dict[str, str]] = []
    for entry in container_env:
        name = str(entry["name"])
        if "value" in entry:
            values[name] = str(entry["value"])
        else:
            ref = entry["valueFrom"]["secretKeyRef"]
            secrets.append({"env": name, "secret": str(ref["name"]), "key": str(ref["key"])})
    return values, secrets


def _build(model: ResolvedModel, compose_dir: str, images_dir: str) -> dict[str, str]:
    context = build_context(model, images_dir)
    return {
        "context": _from_compose(context, compose_dir),
        # relative to the context, as in docker-bake.hcl
        "dockerfile": posixpath.relpath(f"{images_dir}/{model.spec.name}/Dockerfile", context),
    }


def _bind(source: str, target: str) -> dict[str, Any]:
    return {
        "type": "bind",
        "source": source,
        "target": target,
        "read_only": True,
        "bind": {"create_host_path": False},  # a missing source is an error, not an empty directory
    }


def _resources(model: ResolvedModel) -> dict[str, Any]:
    res = model.spec.resources
    limits: dict[str, Any] = {"memory": memory_size(res.limits.memory)}
    if res.limits.cpu is not None:
        limits["cpus"] = cpus(res.limits.cpu)
    resources: dict[str, Any] = {"limits": limits}
    if res.gpu:
        resources["reservations"] = {"devices": [{"driver": "nvidia", "count": res.gpu, "capabilities": ["gpu"]}]}
    return resources


def runtime_config_name(model: str, file_name: str) -> str:
    return f"{model}-runtime-{file_name}"


# ---------------------------------------------------------------------------
# The document


class ComposeEntry(NamedTuple):
    """One model's share of an environment's compose file."""

    model: str
    service: dict[str, Any]
    notes: dict[str, Any]
    configs: dict[str, Any]


def _service(
    model: ResolvedModel, root: Path, *, env_name: str, host_port: int, compose_dir: str, images_dir: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """One model's service and its ``x-modelfleet`` notes."""
    spec = model.spec
    context = workload_context(model, root)
    port = int(context["ports"][0]["containerPort"])
    values, secrets = _environment(context["env"])
    uid = facts(spec.runtime).user_id
    image = image_reference(model)
    notes: dict[str, Any] = {"url": f"http://127.0.0.1:{host_port}", "image": image}

    service: dict[str, Any] = {"image": image}
    if spec.image.digest is None:
        service["build"] = _build(model, compose_dir, images_dir)
        notes["build"] = "built locally under the image's tag by `up --build`"
    else:
        notes["build"] = "pinned by digest: pulled from the registry, never built (a build cannot match the digest)"
    service["platform"] = PLATFORMS[0]
    service["user"] = f"{uid}:{uid}"
    service["read_only"] = True
    service["tmpfs"] = [f"/tmp:{TMP_OPTIONS}"]
    if spec.runtime in SHM_RUNTIMES:
        service["shm_size"] = SHM_SIZE
    service["cap_drop"] = ["ALL"]
    service["security_opt"] = ["no-new-privileges:true"]
    if values:
        service["environment"] = values
    if secrets:
        env_file = env_file_path(env_name, spec.name)
        service["env_file"] = [{"path": _from_compose(env_file, compose_dir), "required": False}]
        notes["secrets"] = {
            "envFile": env_file,
            "keys": {item["env"]: f"Kubernetes Secret {item['secret']}, key {item['key']}" for item in secrets},
        }

    volumes = [
        _bind(_from_compose(file.source, compose_dir), f"{CONFIG_DIR}/{file.key}")
        for file in read_config_files(model, root)
    ]
    artifact = spec.artifact
    if artifact is not None and not artifact.uri.startswith("image://"):
        local = models_dir_path(env_name, spec.name)
        volumes.append(_bind(_from_compose(local, compose_dir), MODEL_DIR))
        notes["artifact"] = {"uri": artifact.uri, "localDir": local}
    if volumes:
        service["volumes"] = volumes
    runtime_files = RUNTIME_CONFIG_FILES.get(spec.runtime, {})
    if runtime_files:
        service["configs"] = [
            {"source": runtime_config_name(spec.name, name), "target": f"{RUNTIME_CONFIG_DIR}/{name}"}
            for name in sorted(runtime_files)
        ]

    service["ports"] = [f"127.0.0.1:{host_port}:{port}"]
    readiness = str(context["readiness_probe"]["httpGet"]["path"])
    check = _healthcheck(model, port, readiness)
    if check is not None:
        service["healthcheck"] = check
        notes["healthcheck"] = f"GET {readiness} with {HEALTHCHECK[spec.runtime][0]}: {HEALTHCHECK[spec.runtime][1]}"
    else:
        notes["healthcheck"] = f"none: {HEALTHCHECK[spec.runtime][1]}"
    service["stop_grace_period"] = STOP_GRACE
    service["deploy"] = {"resources": _resources(model)}
    service["labels"] = {**common_labels(model), "modelfleet.io/environment": env_name}
    return service, notes


def compose_file(
    env: ResolvedEnvironment,
    root: Path,
    *,
    fleet: str | None = None,
    compose_dir: str = COMPOSE_DIR,
    images_dir: str = IMAGES_DIR,
) -> dict[str, Any]:
    """The Compose project that runs ``env``'s models locally; see the module docstring.

    ``fleet`` names the project (``<fleet>-<env>``); by default the models' fleet.
    ``compose_dir`` is where the file is written and ``images_dir`` where the Dockerfiles are,
    both relative to the repository root: relative paths in the file start from ``compose_dir``.
    """
    name = env.spec.name
    fleet_name = fleet or (env.models[0].fleet.name if env.models else "modelfleet")
    ordered = sorted(env.models, key=lambda m: m.name)
    entries = [
        compose_entry(model, root, env_name=name, index=index, compose_dir=compose_dir, images_dir=images_dir)
        for index, model in enumerate(ordered)
    ]
    return compose_document(name, fleet_name, entries, compose_dir=compose_dir)


def compose_entry(
    model: ResolvedModel,
    root: Path,
    *,
    env_name: str,
    index: int,
    compose_dir: str = COMPOSE_DIR,
    images_dir: str = IMAGES_DIR,
) -> ComposeEntry:
    """Everything model number ``index`` (in name order) of its environment puts into the
    compose file: its service, its notes and its runtime configs."""
    service, notes = _service(
        model,
        root,
        env_name=env_name,
        host_port=FIRST_HOST_PORT + index,
        compose_dir=compose_dir,
        images_dir=images_dir,
    )
    configs = {
        runtime_config_name(model.name, file_name): {"content": content}
        for file_name, content in sorted(RUNTIME_CONFIG_FILES.get(model.spec.runtime, {}).items())
    }
    return ComposeEntry(model.name, service, notes, configs)


def compose_document(
    env_name: str, fleet_name: str, entries: Sequence[ComposeEntry], *, compose_dir: str = COMPOSE_DIR
) -> dict[str, Any]:
    """The compose file of an environment from its models' entries (in name order)."""
    services: dict[str, Any] = {}
    notes: dict[str, Any] = {}
    configs: dict[str, Any] = {}
    for entry in entries:
        services[entry.model] = entry.service
        notes[entry.model] = entry.notes
        configs.update(entry.configs)
    document: dict[str, Any] = {"name": f"{fleet_name}-{env_name}", "services": services}
    if configs:
        document["configs"] = configs
    document["x-modelfleet"] = {
        "environment": env_name,
        "run": f"docker compose -f {compose_path(env_name, compose_dir)} up --build",
        "requires": f"Docker Compose {MIN_COMPOSE_VERSION} or later",
        "models": notes,
    }
    literal: dict[str, Any] = _literal(document)
    return literal


def _unescape(value: Any) -> str:
    return str(value).replace("$$", "$")


def compose_header(document: Mapping[str, Any]) -> str:
    """Human notes for the top of the compose file (a YAML comment): how to run it, which env
    file keys and model directories each model expects. Names of keys only, never values."""
    meta = document.get("x-modelfleet") or {}
    lines = [
        f"Local run of environment {_unescape(meta.get('environment', ''))}, from the repository root:",
        f"  {_unescape(meta.get('run', ''))}",
        f"Needs {_unescape(meta.get('requires', ''))}. Ports are published on 127.0.0.1 only.",
    ]
    for model, notes in (meta.get("models") or {}).items():
        lines.append(f"{model}: {_unescape(notes.get('url', ''))}")
        secrets = notes.get("secrets")
        if secrets:
            lines.append(f"  secrets: write KEY=value lines to {_unescape(secrets['envFile'])} (optional file) for:")
            lines.extend(f"    {key} ({_unescape(source)})" for key, source in secrets["keys"].items())
        artifact = notes.get("artifact")
        if artifact:
            lines.append(
                f"  model: put the contents of {_unescape(artifact['uri'])} (what the pod sees at /models)"
                f" into {_unescape(artifact['localDir'])}/"
            )
        if "healthcheck" in notes and str(notes["healthcheck"]).startswith("none"):
            lines.append("  no health check: the image has no tool to run one")
        if "build" in notes and str(notes["build"]).startswith("pinned by digest"):
            lines.append("  pinned by digest: pulled from the registry (docker login may be needed), not built")
    return "\n".join(lines)


# ---------------------------------------------------------------------------
# Schema


@functools.cache
def _schema() -> dict[str, Any]:
    resource = files(_SCHEMA_PACKAGE) / _SCHEMA_DIR / _SCHEMA_FILE
    schema: dict[str, Any] = json.loads(resource.read_text(encoding="utf-8"))
    return schema


@functools.cache
def _fast_validator() -> jsonschema_rs.Validator:
    return jsonschema_rs.Draft7Validator(_schema(), validate_formats=False)


@functools.cache
def _validator() -> Draft7Validator:
    schema = _schema()
    # Upstream's "$schema" (https, no '#') is not one validator_for knows: say Draft 7 outright.
    Draft7Validator.check_schema(schema)
    return Draft7Validator(schema)


def validate_compose(document: Mapping[str, Any]) -> list[str]:
    """Every way ``document`` breaks the Compose Specification schema, as ``path: message`` lines,
    sorted. jsonschema-rs decides validity; jsonschema explains a document it does not accept."""
    if fast_accepts(_fast_validator(), document):
        return []
    problems: list[str] = []
    for error in _validator().iter_errors(document):
        where = "/".join(str(part) for part in error.absolute_path) or "(top level)"
        problems.append(f"{where}: {error.message}")
    return sorted(problems)
