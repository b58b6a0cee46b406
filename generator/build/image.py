"""Build stage, image family: one Dockerfile and .dockerignore per model, and docker-bake.hcl.

Models with ``build:`` get a two-stage Python image (``templates/docker/python.Dockerfile.j2``);
the others run their runtime's official serving image (``runtime.Dockerfile.j2``). Images are
environment-independent: build them from the base resolution and promote them by tag or digest.

Nothing environment-specific or secret is baked in: ``env`` and ``secrets`` are set by the
Deployment. The model artifact is copied in only when ``artifact.uri`` is ``image://<path>``;
``<path>`` is relative to the build context (``build.context``, or the fleet root for models
without ``build``) and lands in ``runtimes.MODEL_DIR``.

Docker applies an ignore file only from the root of the build context (``.dockerignore``) or
from beside the Dockerfile under the Dockerfile's name plus ``.dockerignore``
(``Dockerfile.dockerignore``). The build contexts here are the service directories, so the
ignore file must be written as ``Dockerfile.dockerignore`` next to the Dockerfile to apply.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from generator.build.templating import Bare, TemplateBug, quote, render_text
from generator.errors import ModelfleetError
from generator.read.load import FieldPath
from generator.read.resolve import ResolvedModel
from generator.spec import runtimes
from generator.spec.workload import Build

IMAGE_SCHEME = "image://"
PLATFORMS = ("linux/amd64",)
PYTHON_TEMPLATE = "docker/python.Dockerfile.j2"
RUNTIME_TEMPLATE = "docker/runtime.Dockerfile.j2"
PYTHON_IGNORE_TEMPLATE = "docker/python.dockerignore.j2"
RUNTIME_IGNORE_TEMPLATE = "docker/runtime.dockerignore.j2"

# Paths copied from a build context: no spaces, globs, quotes or '$', and not a flag.
_CONTEXT_PATH_RE = re.compile(r"^[A-Za-z0-9_.][A-Za-z0-9._/-]*$")
# Characters that are inert inside a double-quoted shell word.
_SHELL_SAFE_RE = re.compile(r"^[A-Za-z0-9.+:~=-]+$")
_IMAGES_DIR_RE = re.compile(r"^[A-Za-z0-9_.][A-Za-z0-9._/-]*$")
_HCL_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


@dataclass(frozen=True)
class ImageFiles:
    """The image files of one model. ``dockerignore`` belongs beside the Dockerfile as
    ``Dockerfile.dockerignore`` (see the module docstring)."""

    model: str
    dockerfile: str
    dockerignore: str


# ---------------------------------------------------------------------------
# Facts about a model's image


def image_repository(model: ResolvedModel) -> str:
    """``image.repository``, or ``<fleet.registry>/<model name>``."""
    return model.spec.image.repository or f"{model.fleet.registry}/{model.spec.name}"


def _version(model: ResolvedModel) -> str:
    image = model.spec.image
    return image.tag or image.digest or ""


def _one_line(text: str) -> str:
    """``text`` with every run of white space or control characters made one space."""
    printable = "".join(ch if ch.isprintable() else " " for ch in text)
    return " ".join(printable.split())


def oci_labels(model: ResolvedModel) -> dict[str, str]:
    """The image labels, the same in the Dockerfile and in docker-bake.hcl."""
    spec = model.spec
    return {
        "org.opencontainers.image.title": spec.name,
        "org.opencontainers.image.description": _one_line(spec.description),
        "org.opencontainers.image.version": _version(model),
        "org.opencontainers.image.source": model.fleet.gitops.repoURL,
        "io.modelfleet.owner": spec.owner,
        "io.modelfleet.runtime": spec.runtime,
    }


def _port(model: ResolvedModel) -> int:
    return model.spec.port or runtimes.facts(model.spec.runtime).port


def _exposed_ports(model: ResolvedModel) -> list[int]:
    metrics = runtimes.facts(model.spec.runtime).metrics_port
    port = _port(model)
    return [port] if metrics is None or metrics == port else [port, metrics]


def _invalid(model: ResolvedModel, path: FieldPath, message: str, hint: str) -> ModelfleetError:
    document, doc_path = model.locate(path)
    return ModelfleetError([document.finding(doc_path, f"{model.spec.name}: {message}", hint)])


def _context_path(model: ResolvedModel, path: FieldPath, value: str, what: str) -> str:
    """``value`` normalized, after checking it names something inside the build context."""
    normal = posixpath.normpath(value)
    outside = normal.startswith("/") or normal == ".." or normal.startswith("../")
    if outside or normal == "." or not _CONTEXT_PATH_RE.match(normal):
        raise _invalid(
            model,
            path,
            f"{what} '{value}' is not a plain relative path inside the build context",
            "use letters, digits, '.', '_', '-' and '/', without '..'",
        )
    return normal


def baked_artifact(model: ResolvedModel) -> str | None:
    """The context path of an ``image://`` artifact, or None when the model is not baked in."""
    artifact = model.spec.artifact
    if artifact is None or not artifact.uri.startswith(IMAGE_SCHEME):
        return None
    path = artifact.uri.removeprefix(IMAGE_SCHEME)
    return _context_path(model, ("artifact", "uri"), path, "artifact path")


def _base_image(model: ResolvedModel, runtime: str, version: str | None = None) -> str:
    reference = model.fleet.base_image(runtime)
    if version is not None:
        reference = reference.replace("{version}", version)
    if "{" in reference or "}" in reference:
        document = model.locate(())[0]
        raise ModelfleetError(
            [
                document.finding(
                    ("fleet", "baseImages", runtime),
                    f"base image '{reference}' has a placeholder modelfleet does not fill",
                    "only the python base image takes '{version}'; remove other braces",
                )
            ]
        )
    return reference


# ---------------------------------------------------------------------------
# Dockerfile text


def _dockerfile_word(value: str) -> Bare:
    """A double-quoted Dockerfile word holding ``value`` exactly: the environment's JSON
    quoting, with '$' escaped because LABEL expands variables."""
    return Bare(quote(value).replace("$", "\\$"))


def _label_items(model: ResolvedModel) -> list[tuple[str, Bare]]:
    return [(key, _dockerfile_word(value)) for key, value in oci_labels(model).items()]


def _packages(model: ResolvedModel, packages: Sequence[str]) -> list[str]:
    for package in packages:
        if not _SHELL_SAFE_RE.match(package):  # the spec's package pattern guarantees this
            raise TemplateBug(f"{model.spec.name}: package {package!r} is not shell-safe")
    return list(packages)


def _python_context(model: ResolvedModel, build: Build) -> dict[str, Any]:
    facts = runtimes.facts(model.spec.runtime)
    return {
        "name": model.spec.name,
        "base": _base_image(model, "python", build.pythonVersion),
        "labels": _label_items(model),
        "requirements": _context_path(model, ("build", "requirements"), build.requirements, "requirements file"),
        "packages": _packages(model, build.systemPackages),
        "uid": facts.user_id,
        "ports": _exposed_ports(model),
        "command": list(build.command),
        "artifact": baked_artifact(model),
        "model_dir": runtimes.MODEL_DIR,
    }


def _runtime_context(model: ResolvedModel) -> dict[str, Any]:
    spec = model.spec
    if spec.runtime == "python":
        raise _invalid(
            model,
            ("build",),
            "runtime python has no official serving image, and this model has no build section",
            "add build: {context: services/<name>, command: [...]}",
        )
    return {
        "name": spec.name,
        "runtime": spec.runtime,
        "base": _base_image(model, spec.runtime),
        "labels": _label_items(model),
        "uid": runtimes.facts(spec.runtime).user_id,
        "ports": _exposed_ports(model),
        "entrypoint": runtimes.default_command(spec.runtime, spec.name, _port(model)),
        "artifact": baked_artifact(model),
        "model_dir": runtimes.MODEL_DIR,
    }


def build_image(model: ResolvedModel) -> ImageFiles:
    """The Dockerfile and ignore file of one model (environment-independent resolution)."""
    if model.spec.build is not None:
        context = _python_context(model, model.spec.build)
        dockerfile = render_text(PYTHON_TEMPLATE, context)
        dockerignore = render_text(PYTHON_IGNORE_TEMPLATE, context)
    else:
        context = _runtime_context(model)
        dockerfile = render_text(RUNTIME_TEMPLATE, context)
        dockerignore = render_text(RUNTIME_IGNORE_TEMPLATE, context)
    return ImageFiles(model.spec.name, dockerfile, dockerignore)


# ---------------------------------------------------------------------------
# docker-bake.hcl


def _hcl_char(char: str) -> str:
    if char in _HCL_ESCAPES:
        return _HCL_ESCAPES[char]
    if not char.isprintable():
        return f"\\u{ord(char):04x}" if ord(char) <= 0xFFFF else f"\\U{ord(char):08x}"
    return char


def hcl_string(value: str) -> str:
    """An HCL string literal for ``value``: no escape HCL lacks, no template interpolation."""
    body = "".join(_hcl_char(char) for char in value)
    return '"' + body.replace("${", "$${").replace("%{", "%%{") + '"'


def _hcl_list(values: Sequence[str]) -> str:
    return "[" + ", ".join(hcl_string(value) for value in values) + "]"


def build_context(model: ResolvedModel, images_dir: str) -> str:
    """The build context, relative to the repository root: the service source for built
    models, the fleet root for a runtime image that bakes its artifact, otherwise the
    image's own directory (nothing is copied from it)."""
    if model.spec.build is not None:
        return posixpath.normpath(model.spec.build.context)
    if baked_artifact(model) is not None:
        return "."
    return f"{images_dir}/{model.spec.name}"


def _tags_lines(model: ResolvedModel) -> list[str]:
    tag = model.spec.image.tag
    if tag is None:
        return [
            "  # pinned by digest: there is no tag to push; build this target only to test it",
            "  tags       = []",
        ]
    return [f"  tags       = {_hcl_list([f'{image_repository(model)}:{tag}'])}"]


def _bake_target(model: ResolvedModel, images_dir: str) -> str:
    context = build_context(model, images_dir)
    dockerfile = posixpath.relpath(f"{images_dir}/{model.spec.name}/Dockerfile", context)
    labels = [f"    {hcl_string(k)} = {hcl_string(v)}" for k, v in oci_labels(model).items()]
    lines = [
        f"target {hcl_string(model.spec.name)} {{",
        f"  context    = {hcl_string(context)}",
        f"  dockerfile = {hcl_string(dockerfile)}",
        *_tags_lines(model),
        "  labels = {",
        *labels,
        "  }",
        f"  platforms  = {_hcl_list(PLATFORMS)}",
        "}",
    ]
    return "\n".join(lines) + "\n"


def _bake_header(images_dir: str, names: Sequence[str]) -> str:
    return (
        "# Generated by modelfleet from models.yaml; do not edit.\n"
        "# Build every model image; run from the repository root:\n"
        f"#   docker buildx bake -f {images_dir}/docker-bake.hcl\n"
        "# (add --push to push the tags). Contexts are relative to the directory bake runs\n"
        "# in; each dockerfile is relative to its context.\n"
        "\n"
        'group "default" {\n'
        f"  targets = {_hcl_list(names)}\n"
        "}\n"
    )


def replace_bake_target(bake: str, model: ResolvedModel, images_dir: str = "rendered/images") -> str | None:
    """``bake`` (a ``build_bake`` text) with ``model``'s target built anew; None when the text
    does not hold exactly one target of that name."""
    opening = f"target {hcl_string(model.spec.name)} {{\n"
    start = bake.find("\n" + opening)
    if start < 0 or bake.find("\n" + opening, start + 1) >= 0:
        return None
    end = bake.find("\n}\n", start + 1)
    if end < 0:
        return None
    return bake[: start + 1] + _bake_target(model, images_dir.rstrip("/")) + bake[end + 3 :]


def build_bake(models: Sequence[ResolvedModel], images_dir: str = "rendered/images") -> str:
    """docker-bake.hcl building every model's image, targets sorted by name."""
    images_dir = images_dir.rstrip("/")
    if not _IMAGES_DIR_RE.match(images_dir) or ".." in images_dir.split("/"):
        raise ValueError(f"images_dir {images_dir!r} must be a plain path relative to the root")
    ordered = sorted(models, key=lambda model: model.spec.name)
    targets = [_bake_target(model, images_dir) for model in ordered]
    header = _bake_header(images_dir, [model.spec.name for model in ordered])
    return "\n".join([header, *targets])
