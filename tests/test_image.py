"""Tests for generator.build.image: Dockerfiles, .dockerignore files and docker-bake.hcl."""

from __future__ import annotations

import json
import posixpath
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from generator.build.image import (
    build_bake,
    build_image,
    hcl_string,
    image_repository,
    oci_labels,
)
from generator.errors import ModelfleetError
from generator.read.load import load_fleet
from generator.read.parse import parse
from generator.read.resolve import ResolvedModel, resolve
from generator.spec import runtimes
from generator.spec.fleet import DEFAULT_BASE_IMAGES

DIGEST = "sha256:" + "ab" * 32
INSTRUCTIONS = frozenset(
    {"ADD", "ARG", "CMD", "COPY", "ENTRYPOINT", "ENV", "EXPOSE", "FROM", "HEALTHCHECK", "LABEL"}
    | {"MAINTAINER", "ONBUILD", "RUN", "SHELL", "STOPSIGNAL", "USER", "VOLUME", "WORKDIR"}
)
HOSTILE = 'costs $5 ${HOME} $${x} %{ if x } "quoted" {{ name }}\nRUN rm -rf /\n\\\nCMD ["sh"] \\'


# ---------------------------------------------------------------------------
# A small fleet on disk, run through load -> parse -> resolve


def python_model(name: str = "fraud-detector", **extra: Any) -> dict[str, Any]:
    build = {
        "context": f"services/{name}",
        "pythonVersion": "3.11",
        "command": ["uvicorn", "app:app", "--host", "0.0.0.0", "--port", "8080"],
    }
    build.update(extra.pop("build", {}))
    return {
        "name": name,
        "description": "Real-time card fraud scoring",
        "owner": "team-risk",
        "runtime": "python",
        "image": {"tag": "2.3.1"},
        "build": build,
        **extra,
    }


def runtime_model(name: str = "llm", runtime: str = "vllm", **extra: Any) -> dict[str, Any]:
    return {"name": name, "owner": "team-nlp", "runtime": runtime, "image": {"tag": "1.0.0"}, **extra}


def resolve_models(
    root: Path, models: list[dict[str, Any]], fleet: Mapping[str, Any] | None = None
) -> dict[str, ResolvedModel]:
    """Write models.yaml (as JSON, which is YAML) and environments/dev.yaml; resolve."""
    root.mkdir(parents=True, exist_ok=True)
    for model in models:
        if "build" in model:
            service = root / model["build"]["context"]
            service.mkdir(parents=True, exist_ok=True)
            (service / "requirements.txt").write_text("fastapi==0.115.0\n")
    document = {
        "apiVersion": "modelfleet/v1",
        "kind": "ModelFleet",
        "fleet": {
            "name": "acme-ml",
            "registry": "registry.acme.example/ml",
            "gitops": {
                "controller": "argocd",
                "repoURL": "https://git.acme.example/ml/deployments.git",
                "targetRevision": "main",
            },
            "alerting": {"runbookBaseURL": "https://runbooks.acme.example/ml"},
            **(fleet or {}),
        },
        "models": models,
    }
    (root / "models.yaml").write_text(json.dumps(document, indent=2) + "\n")
    (root / "environments").mkdir(exist_ok=True)
    (root / "environments" / "dev.yaml").write_text(
        "apiVersion: modelfleet/v1\nkind: Environment\nname: dev\nnamespace: ml-dev\n"
        'cluster: {name: dev-1, server: "https://dev-1.k8s.acme.example"}\n'
        'kubernetesVersion: "1.31"\n'
    )
    resolution = resolve(parse(load_fleet(root)))
    return {model.name: model for model in resolution.base}


def one(root: Path, model: dict[str, Any], fleet: Mapping[str, Any] | None = None) -> ResolvedModel:
    return next(iter(resolve_models(root, [model], fleet).values()))


# ---------------------------------------------------------------------------
# Reading Dockerfiles the way Docker does


def instructions(dockerfile: str) -> list[tuple[str, str]]:
    """(KEYWORD, arguments) of each instruction, continuation lines joined; any other
    non-comment text is a failure."""
    assert "\r" not in dockerfile
    logical: list[str] = []
    current = ""
    for line in dockerfile.split("\n"):
        if not current and (line.startswith("#") or not line.strip()):
            continue
        if line.endswith("\\"):
            current += line[:-1]
            continue
        logical.append(current + line)
        current = ""
    assert current == "", "the file ends inside a continuation"
    found: list[tuple[str, str]] = []
    for line in logical:
        keyword, _, rest = line.partition(" ")
        assert keyword.upper() in INSTRUCTIONS and not line[0].isspace(), line
        found.append((keyword.upper(), rest.strip()))
    return found


def keywords(dockerfile: str) -> list[str]:
    return [keyword for keyword, _ in instructions(dockerfile)]


def args(dockerfile: str, keyword: str) -> list[str]:
    return [rest for found, rest in instructions(dockerfile) if found == keyword]


def _dockerfile_quoted(text: str, start: int) -> tuple[str, int]:
    """Decode a double-quoted Dockerfile word from text[start] == '"' (BuildKit's shell
    lexer: a backslash escapes '"', '$' and itself; an unescaped '$' would expand)."""
    out: list[str] = []
    index = start + 1
    while text[index] != '"':
        char = text[index]
        assert char != "$", f"unescaped $ at {index}: {text}"
        if char == "\\" and text[index + 1] in '"$\\':
            index += 1
            char = text[index]
        out.append(char)
        index += 1
    return "".join(out), index + 1


def labels_of(dockerfile: str) -> dict[str, str]:
    labels: dict[str, str] = {}
    for rest in args(dockerfile, "LABEL"):
        index = 0
        while index < len(rest):
            key, _, _ = rest[index:].partition("=")
            value, index = _dockerfile_quoted(rest, index + len(key) + 1)
            labels[key.strip()] = value
            while index < len(rest) and rest[index] == " ":
                index += 1
    return labels


# ---------------------------------------------------------------------------
# Python images


def test_python_image_is_multi_stage_with_pinned_base(tmp_path: Path) -> None:
    model = one(tmp_path, python_model(build={"pythonVersion": "3.12"}))
    dockerfile = build_image(model).dockerfile
    assert dockerfile.startswith(
        "# syntax=docker/dockerfile:1\n"
        "# Generated by modelfleet from models.yaml (model fraud-detector); do not edit.\n"
    )
    assert args(dockerfile, "FROM") == [
        "python:3.12-slim-bookworm AS build",
        "python:3.12-slim-bookworm",
    ]
    assert "latest" not in dockerfile
    assert "COPY --from=build /opt/venv /opt/venv" in dockerfile
    runs = args(dockerfile, "RUN")
    assert runs[0] == "python -m venv /opt/venv"
    assert runs[1] == "/opt/venv/bin/pip install --no-cache-dir -r /tmp/requirements.txt"


def test_python_image_copies_requirements_before_source(tmp_path: Path) -> None:
    model = one(tmp_path, python_model(build={"requirements": "deps/prod.txt"}))
    copies = args(build_image(model).dockerfile, "COPY")
    assert copies[0] == "deps/prod.txt /tmp/requirements.txt"
    assert copies[-1] == "--chown=10001:10001 . /app"


def test_python_image_runs_as_numeric_non_root_user(tmp_path: Path) -> None:
    dockerfile = build_image(one(tmp_path, python_model())).dockerfile
    uid = runtimes.facts("python").user_id
    assert args(dockerfile, "USER") == [f"{uid}:{uid}"]
    assert f"useradd --uid {uid} --gid {uid} " in dockerfile
    assert "--shell /usr/sbin/nologin" in dockerfile
    assert keywords(dockerfile)[-3:] == ["USER", "EXPOSE", "CMD"]
    assert args(dockerfile, "WORKDIR") == ["/app"]
    assert args(dockerfile, "ENV") == ["PATH=/opt/venv/bin:$PATH PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1"]


def test_python_image_command_is_exec_form_and_port_exposed(tmp_path: Path) -> None:
    command = ["gunicorn", "app:app", "--bind", "0.0.0.0:9000", "--log-level", 'it\'s "info"']
    model = one(tmp_path, python_model(port=9000, build={"command": command}))
    dockerfile = build_image(model).dockerfile
    assert [json.loads(cmd) for cmd in args(dockerfile, "CMD")] == [command]
    assert args(dockerfile, "EXPOSE") == ["9000"]


def test_labels(tmp_path: Path) -> None:
    model = one(tmp_path, python_model())
    assert labels_of(build_image(model).dockerfile) == {
        "org.opencontainers.image.title": "fraud-detector",
        "org.opencontainers.image.description": "Real-time card fraud scoring",
        "org.opencontainers.image.version": "2.3.1",
        "org.opencontainers.image.source": "https://git.acme.example/ml/deployments.git",
        "io.modelfleet.owner": "team-risk",
        "io.modelfleet.runtime": "python",
    }


def test_digest_is_the_version_label(tmp_path: Path) -> None:
    model = one(tmp_path, python_model(image={"digest": DIGEST}))
    assert labels_of(build_image(model).dockerfile)["org.opencontainers.image.version"] == DIGEST


def test_apt_only_with_system_packages(tmp_path: Path) -> None:
    models = resolve_models(
        tmp_path,
        [
            python_model("with-apt", build={"systemPackages": ["libgomp1", "libpq5=15.8-0+deb12u1~x"]}),
            python_model("without-apt"),
        ],
    )
    with_apt = build_image(models["with-apt"]).dockerfile
    apt = [run for run in args(with_apt, "RUN") if "apt-get" in run]
    assert len(apt) == 1
    assert apt[0].split() == [
        "apt-get", "update", "&&", "apt-get", "install", "-y", "--no-install-recommends",
        '"libgomp1"', '"libpq5=15.8-0+deb12u1~x"', "&&", "rm", "-rf", "/var/lib/apt/lists/*",
    ]  # fmt: skip
    assert "apt-get" not in build_image(models["without-apt"]).dockerfile


def test_env_and_secrets_are_not_baked(tmp_path: Path) -> None:
    model = python_model(
        env={"MODEL_MODE": "debug-level-value"},
        secrets=[{"env": "FEATURE_STORE_TOKEN", "secretRef": {"name": "feature-store", "key": "token"}}],
    )
    dockerfile = build_image(one(tmp_path, model)).dockerfile
    for text in ("MODEL_MODE", "debug-level-value", "FEATURE_STORE_TOKEN", "feature-store"):
        assert text not in dockerfile
    assert "ARG" not in keywords(dockerfile)
    assert len(args(dockerfile, "ENV")) == 1


def test_artifact_is_not_copied_unless_image_scheme(tmp_path: Path) -> None:
    model = python_model(artifact={"uri": "s3://acme-models/fraud/2.3.1/"})
    dockerfile = build_image(one(tmp_path, model)).dockerfile
    assert not any("/models" in copy for copy in args(dockerfile, "COPY"))


def test_python_image_bakes_image_artifact(tmp_path: Path) -> None:
    model = one(tmp_path, python_model(artifact={"uri": "image://./model/v1/"}))
    files = build_image(model)
    copies = args(files.dockerfile, "COPY")
    assert "--chown=10001:10001 model/v1 /models/" in copies
    assert copies[-1] == "--chown=10001:10001 --exclude=model/v1 . /app"
    assert "!model/v1\n" in files.dockerignore


# ---------------------------------------------------------------------------
# Runtime images


@pytest.mark.parametrize("runtime", ["mlserver", "triton", "torchserve", "tfserving", "vllm"])
def test_runtime_image_uses_official_image_and_default_command(tmp_path: Path, runtime: str) -> None:
    model = one(tmp_path, runtime_model("served", runtime))
    dockerfile = build_image(model).dockerfile
    facts = runtimes.facts(runtime)
    assert args(dockerfile, "FROM") == [DEFAULT_BASE_IMAGES[runtime]]
    assert "Single stage:" in dockerfile
    assert args(dockerfile, "USER") == [str(facts.user_id)]
    assert args(dockerfile, "EXPOSE")[0].split()[0] == str(facts.port)
    entrypoint = json.loads(args(dockerfile, "ENTRYPOINT")[0])
    assert entrypoint == runtimes.default_command(runtime, "served", facts.port)
    assert "CMD" not in keywords(dockerfile)
    assert "COPY" not in keywords(dockerfile)
    assert labels_of(dockerfile)["io.modelfleet.runtime"] == runtime


def test_runtime_image_honours_fleet_base_image_and_port(tmp_path: Path) -> None:
    base = "mirror.acme.example/triton:24.08-py3@" + DIGEST
    model = one(tmp_path, runtime_model("t", "triton", port=9000), {"baseImages": {"triton": base}})
    dockerfile = build_image(model).dockerfile
    assert args(dockerfile, "FROM") == [base]
    assert args(dockerfile, "EXPOSE") == ["9000 8002"]
    assert "--http-port=9000" in json.loads(args(dockerfile, "ENTRYPOINT")[0])


def test_runtime_image_bakes_image_artifact(tmp_path: Path) -> None:
    model = one(tmp_path, runtime_model("t", "triton", artifact={"uri": "image://models/t"}))
    files = build_image(model)
    assert args(files.dockerfile, "COPY") == ["--chown=1000:1000 models/t /models/"]
    assert files.dockerignore.split("\n")[4:6] == ["*", "!models/t"]


def test_python_runtime_without_build_is_an_error(tmp_path: Path) -> None:
    model = one(tmp_path, runtime_model("bare-python", "python"))
    with pytest.raises(ModelfleetError) as caught:
        build_image(model)
    (finding,) = caught.value.findings
    assert finding.message == (
        "bare-python: runtime python has no official serving image, and this model has no build section"
    )
    assert str(finding.location).startswith("models.yaml:")


@pytest.mark.parametrize(
    ("model", "field"),
    [
        (python_model(artifact={"uri": "image://../secrets"}), "artifact path"),
        (runtime_model(artifact={"uri": "image:///etc/passwd"}), "artifact path"),
        (python_model(artifact={"uri": "image://model$HOME"}), "artifact path"),
        (python_model(build={"requirements": "../requirements.txt"}), "requirements file"),
        (python_model(build={"requirements": "req s.txt"}), "requirements file"),
        (python_model(build={"requirements": "--from=x"}), "requirements file"),
    ],
)
def test_paths_outside_the_context_are_errors(tmp_path: Path, model: dict[str, Any], field: str) -> None:
    with pytest.raises(ModelfleetError) as caught:
        build_image(one(tmp_path, model))
    (finding,) = caught.value.findings
    assert f"{field} '" in finding.message
    assert "is not a plain relative path inside the build context" in finding.message


def test_unknown_base_image_placeholder_is_an_error(tmp_path: Path) -> None:
    fleet = {"baseImages": {"python": "python:{version}-{variant}"}}
    with pytest.raises(ModelfleetError) as caught:
        build_image(one(tmp_path, python_model(), fleet))
    (finding,) = caught.value.findings
    assert finding.path == "fleet.baseImages.python"
    assert "python:3.11-{variant}" in finding.message


# ---------------------------------------------------------------------------
# Injection: values never add instructions


def test_hostile_description_adds_no_instruction(tmp_path: Path) -> None:
    models = resolve_models(
        tmp_path,
        [
            python_model("plain"),
            python_model("hostile", description=HOSTILE, build={"command": ["python", HOSTILE]}),
            runtime_model("plain-rt", description="x"),
            runtime_model("hostile-rt", description=HOSTILE),
        ],
    )
    plain, hostile = build_image(models["plain"]), build_image(models["hostile"])
    assert keywords(hostile.dockerfile) == keywords(plain.dockerfile)
    plain_rt, hostile_rt = build_image(models["plain-rt"]), build_image(models["hostile-rt"])
    assert keywords(hostile_rt.dockerfile) == keywords(plain_rt.dockerfile)
    # The label carries the description exactly, on one line, with nothing expanded.
    expected = " ".join(HOSTILE.split())
    assert labels_of(hostile.dockerfile)["org.opencontainers.image.description"] == expected
    assert labels_of(hostile_rt.dockerfile)["org.opencontainers.image.description"] == expected
    assert oci_labels(models["hostile"])["org.opencontainers.image.description"] == expected
    # The command is not normalized: exec form carries it exactly, newlines and all.
    assert json.loads(args(hostile.dockerfile, "CMD")[0]) == ["python", HOSTILE]


# ---------------------------------------------------------------------------
# .dockerignore


def test_dockerignore_keeps_secrets_and_junk_out(tmp_path: Path) -> None:
    models = resolve_models(tmp_path, [python_model("app"), runtime_model("rt")])
    python_lines = build_image(models["app"]).dockerignore.split("\n")
    for pattern in (".git", "**/__pycache__", ".venv", "tests", "**/.env", "**/*.pem", "**/*.key"):
        assert pattern in python_lines
    runtime_lines = build_image(models["rt"]).dockerignore.split("\n")
    assert "*" in runtime_lines
    assert "**/*.key" in runtime_lines
    assert build_image(models["app"]).dockerignore.startswith("# Generated by modelfleet")


# ---------------------------------------------------------------------------
# docker-bake.hcl


def _hcl_unquote(literal: str) -> str:
    """Decode an HCL string literal; an unescaped ${ or %{ would be a template."""
    assert literal[0] == literal[-1] == '"'
    body = literal[1:-1]
    out: list[str] = []
    index = 0
    simple = {"n": "\n", "r": "\r", "t": "\t", '"': '"', "\\": "\\"}
    while index < len(body):
        char = body[index]
        if char == "\\":
            code = body[index + 1]
            if code in simple:
                out.append(simple[code])
                index += 2
            else:
                width = {"u": 4, "U": 8}[code]
                out.append(chr(int(body[index + 2 : index + 2 + width], 16)))
                index += 2 + width
        elif body.startswith(("$${", "%%{"), index):
            out.append(char + "{")
            index += 3
        else:
            assert not body.startswith(("${", "%{"), index), body
            out.append(char)
            index += 1
    return "".join(out)


_STRING = r'"(?:[^"\\]|\\.)*"'


def parse_bake(text: str) -> dict[str, dict[str, Any]]:
    """A minimal reader for the bake file this module writes."""
    targets: dict[str, dict[str, Any]] = {}
    for match in re.finditer(rf"^target ({_STRING}) \{{\n(.*?)^\}}$", text, re.M | re.S):
        body = match.group(2)
        attrs: dict[str, Any] = {}
        for key in ("context", "dockerfile"):
            found = re.search(rf"^  {key} += ({_STRING})$", body, re.M)
            assert found is not None
            attrs[key] = _hcl_unquote(found.group(1))
        for key in ("tags", "platforms"):
            found = re.search(rf"^  {key} += \[(.*)\]$", body, re.M)
            assert found is not None
            attrs[key] = [_hcl_unquote(s) for s in re.findall(_STRING, found.group(1))]
        labels = re.findall(rf"^    ({_STRING}) = ({_STRING})$", body, re.M)
        attrs["labels"] = {_hcl_unquote(k): _hcl_unquote(v) for k, v in labels}
        attrs["body"] = body
        targets[_hcl_unquote(match.group(1))] = attrs
    return targets


def bake_fleet(root: Path) -> dict[str, ResolvedModel]:
    return resolve_models(
        root,
        [
            runtime_model("zeta-llm", artifact={"uri": "hf://org/model"}),
            python_model("fraud-detector", description=HOSTILE),
            python_model("churn-model", image={"digest": DIGEST, "repository": "registry.acme.example/ml/legacy"}),
            runtime_model("baked", "triton", artifact={"uri": "image://models/baked"}),
        ],
    )


def test_bake_file_structure(tmp_path: Path) -> None:
    models = bake_fleet(tmp_path)
    text = build_bake(list(models.values()))
    assert "docker buildx bake -f rendered/images/docker-bake.hcl" in text.split("\n\n")[0]
    group = re.search(r'^group "default" \{\n  targets = \[(.*)\]\n\}$', text, re.M)
    assert group is not None
    names = [_hcl_unquote(s) for s in re.findall(_STRING, group.group(1))]
    assert names == ["baked", "churn-model", "fraud-detector", "zeta-llm"]
    targets = parse_bake(text)
    assert list(targets) == names
    contexts = {name: target["context"] for name, target in targets.items()}
    assert contexts == {
        "baked": ".",
        "churn-model": "services/churn-model",
        "fraud-detector": "services/fraud-detector",
        "zeta-llm": "rendered/images/zeta-llm",
    }
    assert targets["fraud-detector"]["dockerfile"] == "../../rendered/images/fraud-detector/Dockerfile"
    assert targets["zeta-llm"]["dockerfile"] == "Dockerfile"
    for name, target in targets.items():
        joined = posixpath.normpath(posixpath.join(target["context"], target["dockerfile"]))
        assert joined == f"rendered/images/{name}/Dockerfile"
        assert target["platforms"] == ["linux/amd64"]
        assert target["labels"] == oci_labels(models[name])


def test_bake_tags(tmp_path: Path) -> None:
    models = bake_fleet(tmp_path)
    targets = parse_bake(build_bake(list(models.values())))
    assert targets["fraud-detector"]["tags"] == ["registry.acme.example/ml/fraud-detector:2.3.1"]
    assert image_repository(models["churn-model"]) == "registry.acme.example/ml/legacy"
    assert targets["churn-model"]["tags"] == []
    assert "# pinned by digest: there is no tag to push;" in targets["churn-model"]["body"]


def test_bake_escapes_interpolation(tmp_path: Path) -> None:
    text = build_bake(list(bake_fleet(tmp_path).values()))
    description = parse_bake(text)["fraud-detector"]["labels"]["org.opencontainers.image.description"]
    assert description == " ".join(HOSTILE.split())
    assert "$${HOME}" in text
    assert "$$${x}" in text
    assert "%%{ if x }" in text


def test_bake_images_dir(tmp_path: Path) -> None:
    models = bake_fleet(tmp_path)
    text = build_bake(list(models.values()), images_dir="out/img/")
    assert "docker buildx bake -f out/img/docker-bake.hcl" in text
    targets = parse_bake(text)
    assert targets["fraud-detector"]["dockerfile"] == "../../out/img/fraud-detector/Dockerfile"
    assert targets["zeta-llm"]["context"] == "out/img/zeta-llm"
    with pytest.raises(ValueError, match="images_dir"):
        build_bake(list(models.values()), images_dir="../elsewhere")


@pytest.mark.parametrize(
    ("value", "literal"),
    [
        ("plain", '"plain"'),
        ('a "quote" and \\', r'"a \"quote\" and \\"'),
        ("${var} %{ if } $x %d", '"$${var} %%{ if } $x %d"'),
        ("line\nbreak\ttab\b\x7f", r'"line\nbreak\ttab\u0008\u007f"'),
        ("caf\u00e9 \u2028", '"caf\u00e9 \\u2028"'),
    ],
)
def test_hcl_string(value: str, literal: str) -> None:
    assert hcl_string(value) == literal
    assert _hcl_unquote(literal) == value


# ---------------------------------------------------------------------------
# Determinism


def test_same_input_same_output(tmp_path: Path) -> None:
    first = bake_fleet(tmp_path / "a")
    second = bake_fleet(tmp_path / "b")
    assert [build_image(m) for m in first.values()] == [build_image(m) for m in second.values()]
    assert build_bake(list(first.values())) == build_bake(list(reversed(list(second.values()))))
