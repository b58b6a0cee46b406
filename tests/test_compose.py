"""Local run (issue 6, point 7): rendered/compose/<env>.yaml runs an environment's models with
Docker Compose, with the cluster's images, env, secret references, config files, ports and
health checks, and passes the vendored Compose Specification schema."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import posixpath
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from generator.build import compose
from generator.build.compose import (
    HEALTHCHECK,
    compose_file,
    compose_header,
    cpus,
    memory_size,
    validate_compose,
)
from generator.build.workload import CONFIG_DIR
from generator.output.yamlout import dump, dump_documents
from generator.pipeline import Rendered
from generator.read.resolve import Resolution, ResolvedEnvironment, ResolvedModel
from generator.spec.runtimes import MODEL_DIR, RUNTIME_CONFIG_DIR, RUNTIME_CONFIG_FILES
from generator.validation import validate

REPO = Path(__file__).resolve().parent.parent
COMPOSE_DIR = REPO / "rendered" / "compose"
SCHEMA = REPO / "schemas" / "compose" / "compose-spec.json"
PROVENANCE = REPO / "schemas" / "compose" / "PROVENANCE.md"


@pytest.fixture(scope="module")
def resolution() -> Resolution:
    return validate(REPO)


@pytest.fixture(scope="module")
def documents(resolution: Resolution) -> dict[str, dict[str, Any]]:
    return {env.spec.name: compose_file(env, REPO) for env in resolution.environments}


def _envs(resolution: Resolution) -> Iterator[tuple[ResolvedEnvironment, dict[str, Any]]]:
    for env in resolution.environments:
        yield env, compose_file(env, REPO)


def _replace_model(environment: ResolvedEnvironment, name: str, /, **spec_update: Any) -> ResolvedEnvironment:
    """``environment`` with one model's spec changed (without validation: hostile values on purpose)."""
    models = tuple(
        dataclasses.replace(m, spec=m.spec.model_copy(update=spec_update)) if m.name == name else m
        for m in environment.models
    )
    return dataclasses.replace(environment, models=models)


def _model(env: ResolvedEnvironment, name: str) -> ResolvedModel:
    return next(m for m in env.models if m.name == name)


# --------------------------------------------------------------------------- the schema


def test_every_environment_is_valid_against_the_compose_schema(documents: dict[str, dict[str, Any]]) -> None:
    assert sorted(documents) == ["dev", "prod", "staging"]
    for env, document in documents.items():
        assert validate_compose(document) == [], env
        # and after the project's YAML writer, as Compose reads it
        assert validate_compose(yaml.safe_load(dump(document))) == [], env


def test_schema_violations_are_reported_with_their_paths() -> None:
    problems = validate_compose(
        {"services": {"m": {"image": 1, "mem_limt": "1g", "ports": ["127.0.0.1:1:2", "127.0.0.1:1:2"]}}, "bogus": 1}
    )
    assert "(top level): 'bogus' does not match any of the regexes: '^x-'" in problems
    assert "services/m: 'mem_limt' does not match any of the regexes: '^x-'" in problems
    assert any(p.startswith("services/m/image: 1 is not of type 'string'") for p in problems)
    assert any(p.startswith("services/m/ports: ") and "non-unique" in p for p in problems)
    assert problems == sorted(problems)


def test_the_validator_is_built_once() -> None:
    assert compose._validator() is compose._validator()


def test_project_names_the_fleet_and_environment(documents: dict[str, dict[str, Any]]) -> None:
    for env, document in documents.items():
        assert document["name"] == f"acme-ml-{env}"
        assert document["x-modelfleet"]["run"] == f"docker compose -f rendered/compose/{env}.yaml up --build"


# ---------------------------------------------------------------------------- models


def test_enabled_models_are_services_and_disabled_ones_are_absent(resolution: Resolution) -> None:
    for env, document in _envs(resolution):
        assert list(document["services"]) == [m.name for m in env.models], env.spec.name
    dev = compose_file(resolution.environment("dev") or pytest.fail("no dev"), REPO)
    assert "support-llm" not in dev["services"], "support-llm is disabled in dev"
    assert "support-llm" in compose_file(resolution.environment("prod") or pytest.fail("no prod"), REPO)["services"]


def test_images_are_the_ones_the_overlay_deploys(example_render: Rendered) -> None:
    rendered = example_render
    for output in rendered.environments:
        env = rendered.resolution.environment(output.name)
        assert env is not None
        document = compose_file(env, REPO)
        deployed = {
            obj["metadata"]["name"]: obj["spec"]["template"]["spec"]["containers"][0]["image"]
            for obj in output.objects
            if obj["kind"] in {"Deployment", "Rollout"}
        }
        assert deployed, output.name
        assert {name: service["image"] for name, service in document["services"].items()} == deployed


def test_tagged_images_build_from_the_rendered_dockerfiles(documents: dict[str, dict[str, Any]]) -> None:
    for env, document in documents.items():
        for name, service in document["services"].items():
            if "@sha256:" in service["image"]:
                assert "build" not in service, f"{env}/{name}: a digest cannot be rebuilt locally"
                continue
            context = (COMPOSE_DIR / service["build"]["context"]).resolve()
            assert context.is_dir(), f"{env}/{name}: {context}"
            dockerfile = (context / service["build"]["dockerfile"]).resolve()
            assert dockerfile == REPO / "rendered" / "images" / name / "Dockerfile"
            assert dockerfile.is_file()
    assert documents["dev"]["services"]["fraud-detector"]["build"] == {
        "context": "../../services/fraud-detector",
        "dockerfile": "../../rendered/images/fraud-detector/Dockerfile",
    }
    assert all("build" not in service for service in documents["prod"]["services"].values()), "prod pins digests"


def test_environment_matches_the_deployment(documents: dict[str, dict[str, Any]]) -> None:
    fraud = documents["dev"]["services"]["fraud-detector"]
    assert fraud["environment"] == {
        "SCORE_THRESHOLD": "0.82",
        "LOG_LEVEL": "debug",
        "LOG_FORMAT": "json",
        "MODEL_DIR": MODEL_DIR,
        "CONFIG_DIR": CONFIG_DIR,
    }
    llm = documents["prod"]["services"]["support-llm"]
    assert llm["environment"]["VLLM_LOGGING_LEVEL"] == "WARNING"
    assert documents["prod"]["services"]["churn-model"]["environment"]["MODEL_DIR"] == "/models/v7"


def test_secrets_are_env_file_references_never_values(resolution: Resolution) -> None:
    for env, document in _envs(resolution):
        for model in env.models:
            service = document["services"][model.name]
            notes = document["x-modelfleet"]["models"][model.name]
            names = [secret.env for secret in model.spec.secrets]
            assert not set(names) & set(service.get("environment", {})), "a secret must not be a plain value"
            if not names:
                assert "env_file" not in service and "secrets" not in notes
                continue
            expected = f".env.{env.spec.name}.{model.name}"
            assert service["env_file"] == [{"path": f"../../{expected}", "required": False}]
            assert notes["secrets"]["envFile"] == expected
            assert list(notes["secrets"]["keys"]) == names
            text = dump(document)
            for secret in model.spec.secrets:
                assert f"Kubernetes Secret {secret.secretRef.name}, key {secret.secretRef.key}" in text
    header = compose_header(compose_file(resolution.environment("dev") or pytest.fail("no dev"), REPO))
    assert "FEATURE_STORE_TOKEN (Kubernetes Secret feature-store, key token)" in header
    assert ".env.dev.fraud-detector" in header


def test_ports_are_published_on_localhost_only_without_clashes(documents: dict[str, dict[str, Any]]) -> None:
    for env, document in documents.items():
        host_ports: list[int] = []
        for name, service in document["services"].items():
            (port,) = service["ports"]
            host_ip, host, container = port.split(":")
            assert host_ip == "127.0.0.1", f"{env}/{name}"
            host_ports.append(int(host))
            assert document["x-modelfleet"]["models"][name]["url"] == f"http://127.0.0.1:{host}"
            assert int(container) > 0
        assert host_ports == list(range(8001, 8001 + len(host_ports))), "8001, 8002, ... in name order"
    assert documents["dev"]["services"]["fraud-detector"]["ports"] == ["127.0.0.1:8002:8080"]


def test_config_files_are_mounted_read_only_where_the_deployment_mounts_them(resolution: Resolution) -> None:
    for env, document in _envs(resolution):
        for model in env.models:
            volumes = document["services"][model.name].get("volumes", [])
            assert all(v["type"] == "bind" and v["read_only"] is True for v in volumes)
            configs = [v for v in volumes if v["target"].startswith(CONFIG_DIR + "/")]
            assert [v["target"] for v in configs] == [
                f"{CONFIG_DIR}/{posixpath.basename(path)}" for path in model.spec.config.files
            ]
            for volume, path in zip(configs, model.spec.config.files, strict=True):
                assert (COMPOSE_DIR / volume["source"]).resolve() == (REPO / path).resolve()
                assert (REPO / path).is_file()


def test_external_artifacts_come_from_a_local_directory(resolution: Resolution) -> None:
    for env, document in _envs(resolution):
        for model in env.models:
            volumes = document["services"][model.name].get("volumes", [])
            mounts = [v for v in volumes if v["target"] == MODEL_DIR]
            artifact = model.spec.artifact
            if artifact is None or artifact.uri.startswith("image://"):
                assert mounts == []
                continue
            local = f".models/{env.spec.name}/{model.name}"
            assert mounts == [
                {
                    "type": "bind",
                    "source": f"../../{local}",
                    "target": MODEL_DIR,
                    "read_only": True,
                    "bind": {"create_host_path": False},
                }
            ]
            notes = document["x-modelfleet"]["models"][model.name]["artifact"]
            assert notes == {"uri": artifact.uri, "localDir": local}


def test_baked_artifacts_mount_nothing(resolution: Resolution) -> None:
    prod = resolution.environment("prod")
    assert prod is not None
    env = _replace_model(prod, "fraud-detector", artifact=None)
    service = compose_file(env, REPO)["services"]["fraud-detector"]
    assert [v["target"] for v in service["volumes"]] == [f"{CONFIG_DIR}/thresholds.yaml"]
    assert "MODEL_DIR" not in service["environment"]


def test_container_hardening_and_limits(resolution: Resolution) -> None:
    for env, document in _envs(resolution):
        for model in env.models:
            service = document["services"][model.name]
            assert service["read_only"] is True
            assert service["tmpfs"] == ["/tmp:size=1g,exec"]
            assert service["cap_drop"] == ["ALL"]
            assert service["security_opt"] == ["no-new-privileges:true"]
            uid, gid = service["user"].split(":")
            assert uid == gid and int(uid) > 0
            limits = service["deploy"]["resources"]["limits"]
            assert limits["memory"] == memory_size(model.spec.resources.limits.memory)
            devices = service["deploy"]["resources"].get("reservations", {}).get("devices")
            if model.spec.resources.gpu:
                assert devices == [{"driver": "nvidia", "count": model.spec.resources.gpu, "capabilities": ["gpu"]}]
                assert service["shm_size"] == "2gb"
            else:
                assert devices is None
    assert compose_file(resolution.environment("prod") or pytest.fail("no prod"), REPO)["services"]["support-llm"][
        "deploy"
    ]["resources"]["limits"] == {"memory": "32g"}


def test_cpu_limit_is_carried_when_set(resolution: Resolution) -> None:
    dev = resolution.environment("dev")
    assert dev is not None
    model = _model(dev, "sentiment")
    limits = model.spec.resources.limits.model_copy(update={"cpu": "1500m"})
    env = _replace_model(dev, "sentiment", resources=model.spec.resources.model_copy(update={"limits": limits}))
    document = compose_file(env, REPO)
    assert document["services"]["sentiment"]["deploy"]["resources"]["limits"] == {"memory": "2g", "cpus": "1.5"}
    assert validate_compose(document) == []


@pytest.mark.parametrize(
    ("quantity", "size"),
    [
        ("4Gi", "4g"),
        ("512Mi", "512m"),
        ("1.5Gi", "1536m"),
        ("64Ki", "64k"),
        ("500M", "500000000"),
        ("1G", "1000000000"),
    ],
)
def test_memory_sizes_are_exact(quantity: str, size: str) -> None:
    assert memory_size(quantity) == size


@pytest.mark.parametrize(("quantity", "value"), [("500m", "0.5"), ("2", "2"), ("1.25", "1.25"), ("100m", "0.1")])
def test_cpus(quantity: str, value: str) -> None:
    assert cpus(quantity) == value


# ---------------------------------------------------------------------- health checks


def test_health_checks_probe_the_readiness_path_with_python(documents: dict[str, dict[str, Any]]) -> None:
    check = documents["dev"]["services"]["fraud-detector"]["healthcheck"]
    assert check["test"] == [
        "CMD",
        "python3",
        "-c",
        "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/readyz', timeout=2)",
    ]
    assert check["start_period"] == "120s"
    triton = documents["dev"]["services"]["image-classifier"]["healthcheck"]
    assert "http://127.0.0.1:8000/v2/health/ready" in triton["test"][3]
    for document in documents.values():
        for service in document["services"].values():
            compile(service["healthcheck"]["test"][3], "<healthcheck>", "exec")


def test_every_runtime_has_a_documented_health_check_choice() -> None:
    from generator.spec.runtimes import RUNTIMES

    assert sorted(HEALTHCHECK) == sorted(RUNTIMES)
    assert all(reason for _, reason in HEALTHCHECK.values())


@pytest.mark.parametrize("runtime", ["tfserving", "torchserve"])
def test_runtime_server_configs_are_inline_configs(resolution: Resolution, runtime: str) -> None:
    staging = resolution.environment("staging")
    assert staging is not None
    env = _replace_model(staging, "image-classifier", runtime=runtime)
    document = compose_file(env, REPO)
    assert validate_compose(document) == []
    service = document["services"]["image-classifier"]
    files = RUNTIME_CONFIG_FILES[runtime]
    assert service["configs"] == [
        {"source": f"image-classifier-runtime-{name}", "target": f"{RUNTIME_CONFIG_DIR}/{name}"}
        for name in sorted(files)
    ]
    assert document["configs"] == {
        f"image-classifier-runtime-{name}": {"content": content} for name, content in sorted(files.items())
    }
    notes = document["x-modelfleet"]["models"]["image-classifier"]["healthcheck"]
    if runtime == "tfserving":
        assert "healthcheck" not in service, "the TF Serving image has no python3, curl or wget"
        assert notes.startswith("none: ")
        assert "no health check" in compose_header(document)
    else:
        assert service["healthcheck"]["test"][:2] == ["CMD", "python3"]
        assert "/ping" in service["healthcheck"]["test"][3]


# ------------------------------------------------------------------- hostile strings


def test_hostile_strings_stay_data(resolution: Resolution) -> None:
    dev = resolution.environment("dev")
    assert dev is not None
    hostile = {
        "INJECT": "x\nservices:\n  pwned:\n    image: evil\n    privileged: true",
        "INTERPOLATE": "${HOME} $PATH $$ ${X:-y}",
        "QUOTES": "\"' # not a comment: [ ] { } & * ! | > % @ `",
    }
    artifact = _model(dev, "sentiment").spec.artifact
    assert artifact is not None
    hostile_uri = artifact.model_copy(update={"uri": "oci://x\n---\nservices: {pwned: {image: evil}}\n# ${HOME}"})
    env = _replace_model(dev, "fraud-detector", env=hostile)
    env = _replace_model(env, "sentiment", artifact=hostile_uri)
    document = compose_file(env, REPO)
    assert validate_compose(document) == []
    text = dump_documents([document], compose_header(document))
    (loaded,) = list(yaml.safe_load_all(text))
    assert loaded == document
    assert list(loaded["services"]) == [m.name for m in env.models]
    values = loaded["services"]["fraud-detector"]["environment"]
    # Compose turns "$$" back into "$": the container receives exactly the spec's text
    assert {key: values[key].replace("$$", "$") for key in hostile} == hostile
    assert "$HOME" not in values["INTERPOLATE"].replace("$$", "")
    assert loaded["x-modelfleet"]["models"]["sentiment"]["artifact"]["uri"].startswith("oci://x\n---")


def test_output_is_deterministic(resolution: Resolution) -> None:
    for env in resolution.environments:
        first = compose_file(env, REPO)
        assert json.dumps(first) == json.dumps(compose_file(env, REPO))
        assert dump(first) == dump(compose_file(env, REPO))


# ------------------------------------------------------------ Docker Compose itself


def _compose_command() -> list[str] | None:
    """Docker Compose v2, standalone or as the docker CLI plugin, if this machine has it."""
    standalone = shutil.which("docker-compose")
    candidates = [[standalone]] if standalone else []
    docker = shutil.which("docker")
    if docker:
        candidates.append([docker, "compose"])
    for command in candidates:
        done = subprocess.run([*command, "version", "--short"], capture_output=True, text=True, check=False)
        if done.returncode == 0 and done.stdout.strip().lstrip("v").startswith("2."):
            return command
    return None


def test_docker_compose_accepts_every_file(resolution: Resolution, tmp_path: Path) -> None:
    """`docker compose config` (parsing, interpolation, units, paths) where Compose v2 is installed."""
    command = _compose_command()
    if command is None:
        pytest.skip("Docker Compose v2 is not installed")
    target = tmp_path / "rendered" / "compose"
    target.mkdir(parents=True)
    for env in resolution.environments:
        document = compose_file(env, REPO)
        path = target / f"{env.spec.name}.yaml"
        path.write_text(dump_documents([document], compose_header(document)), encoding="utf-8")
        done = subprocess.run(
            [*command, "-f", str(path), "config", "--format", "json"], capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, done.stderr
        parsed = json.loads(done.stdout)
        assert sorted(parsed["services"]) == sorted(document["services"])
        assert parsed["name"] == document["name"]


# ---------------------------------------------------------------- vendored schema


def _tool() -> ModuleType:
    if str(REPO / "tools") not in sys.path:  # the tool imports its sibling _pinned.py, as a script does
        sys.path.insert(0, str(REPO / "tools"))
    spec = importlib.util.spec_from_file_location("vendor_compose_schema", REPO / "tools" / "vendor_compose_schema.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("vendor_compose_schema", module)
    spec.loader.exec_module(module)
    return module


def test_vendored_schema_is_what_the_tool_writes_from_the_pinned_package() -> None:
    tool = _tool()
    pin = tool.DCLINT
    text = SCHEMA.read_text(encoding="utf-8")
    schema = json.loads(text)
    assert schema["title"] == "Compose Specification"
    assert schema["x-modelfleet-provenance"] == tool.provenance_fields(pin)
    assert f"npm {pin.name}@{pin.version}" in schema["$comment"]
    assert pin.upstream_commit in schema["$comment"]
    upstream = {k: v for k, v in schema.items() if k not in {"$comment", "x-modelfleet-provenance"}}
    assert tool.dump(tool.finish(pin, upstream)) == text, "run `make compose-schema`"
    tool.check(upstream)
    assert PROVENANCE.read_text(encoding="utf-8") == tool.provenance(pin)
    assert pin.sha256 in PROVENANCE.read_text(encoding="utf-8")
