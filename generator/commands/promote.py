"""`modelfleet promote MODEL --from ENV --to ENV`: copy a model's image and artifact
reference from one environment into another environment's file.

The target file is edited by ``yamledit``, which rewrites only the values it sets.

Safety net, in order: the edited text must parse to exactly the old data with the one
value replaced (otherwise nothing is written); the written fleet must validate and
resolve the target to the source's image and artifact (otherwise the original bytes
are put back and the error is raised).
"""

from __future__ import annotations

import dataclasses
import difflib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from generator.build.identity import image_reference
from generator.commands.yamledit import CannotEdit, YamlMap, YamlValue, edit, scalar
from generator.errors import Finding, ModelfleetError, UsageError
from generator.read.parse import did_you_mean
from generator.read.resolve import Resolution, ResolvedEnvironment, ResolvedModel
from generator.spec.workload import Artifact, Image
from generator.validation import validate
from generator.write.fs import write_atomic


@dataclass(frozen=True)
class PromoteResult:
    """What ``promote`` did; ``diff`` is a unified diff of the environment file ('' when unchanged)."""

    model: str
    source: str
    target: str
    file: str  # the target environment file, relative to the fleet root
    old_image: str  # image reference the target ran before (repository:tag or repository@digest)
    new_image: str  # image reference the target runs now (the source's)
    old_artifact: str
    new_artifact: str
    changed: bool
    diff: str


# ---------------------------------------------------------------------------
# Picking the environments and the model


def _environment(resolution: Resolution, name: str, flag: str) -> ResolvedEnvironment:
    env = resolution.environment(name)
    if env is None:
        names = [e.spec.name for e in resolution.environments]
        raise UsageError(f"{flag}: no environment '{name}'; {did_you_mean(name, names)}")
    return env


def _model(resolution: Resolution, env: ResolvedEnvironment, name: str) -> ResolvedModel:
    model = next((m for m in env.models if m.name == name), None)
    if model is not None:
        return model
    names = [m.name for m in resolution.base]
    if name in names:
        raise UsageError(f"model '{name}' is disabled in {env.spec.name} (enabled: false); nothing to promote")
    raise UsageError(f"no model '{name}'; {did_you_mean(name, names)}")


def _artifact_text(artifact: Artifact | None) -> str:
    if artifact is None:
        return "none"
    return artifact.uri if artifact.sha256 is None else f"{artifact.uri} (sha256 {artifact.sha256})"


def _same_artifact(a: Artifact | None, b: Artifact | None) -> bool:
    if a is None or b is None:
        return a is b
    return (a.uri, a.sha256) == (b.uri, b.sha256)


def _policy_findings(source: ResolvedModel, env: ResolvedEnvironment, source_name: str) -> list[Finding]:
    """What the target's policy forbids about the source's image and artifact."""
    findings: list[Finding] = []
    name, target = source.name, env.spec.name
    head = f"cannot promote {name} from {source_name} to {target}"
    image = source.spec.image
    if env.spec.policy.requireDigests and image.digest is None:
        findings.append(
            env.document.finding(
                ("policy", "requireDigests"),
                f"{head}: {target} requires image digests (policy.requireDigests), "
                f"but {name} runs tag '{image.tag}' in {source_name}",
                f'pin the image in environments/{source_name}.yaml (models.{name}.image: {{digest: "sha256:..."}}) '
                "and promote again",
            )
        )
    artifact = source.spec.artifact
    if (
        env.spec.policy.requirePinnedArtifacts
        and artifact is not None
        and not artifact.uri.startswith("image://")
        and artifact.sha256 is None
    ):
        findings.append(
            env.document.finding(
                ("policy", "requirePinnedArtifacts"),
                f"{head}: {target} requires pinned artifacts (policy.requirePinnedArtifacts), "
                f"but {name}'s artifact {artifact.uri} has no sha256 in {source_name}",
                f"add models.{name}.artifact.sha256 in environments/{source_name}.yaml and promote again",
            )
        )
    return findings


# ---------------------------------------------------------------------------
# The values to write


def _image_value(image: Image) -> tuple[YamlMap, dict[str, str]]:
    items: list[tuple[str, YamlValue]] = []
    data: dict[str, str] = {}
    if image.repository is not None:
        items.append(("repository", scalar(image.repository)))
        data["repository"] = image.repository
    if image.digest is not None:
        items.append(("digest", scalar(image.digest, quote=True)))
        data["digest"] = image.digest
    else:
        assert image.tag is not None  # Image guarantees exactly one of tag and digest
        items.append(("tag", scalar(image.tag, quote=True)))
        data["tag"] = image.tag
    return YamlMap(tuple(items), flow=True), data


def _artifact_value(artifact: Artifact | None) -> tuple[YamlValue, dict[str, str] | None]:
    if artifact is None:  # the source runs without an artifact: say so explicitly
        return "null", None
    items: list[tuple[str, YamlValue]] = [("uri", scalar(artifact.uri))]
    data = {"uri": artifact.uri}
    if artifact.sha256 is not None:
        items.append(("sha256", scalar(artifact.sha256)))
        data["sha256"] = artifact.sha256
    return YamlMap(tuple(items), flow=False), data


# ---------------------------------------------------------------------------
# Files


def _diff(old: str, new: str, display: str) -> str:
    lines = difflib.unified_diff(
        old.splitlines(keepends=True), new.splitlines(keepends=True), f"a/{display}", f"b/{display}"
    )
    return "".join(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in lines)


def _cannot_edit(env: ResolvedEnvironment, model: str, reason: str) -> ModelfleetError:
    return ModelfleetError(
        [
            env.document.finding(
                ("models", model),
                f"cannot edit models.{model} in {env.document.path} automatically: {reason}",
                "set image and artifact there by hand",
                key=True,
            )
        ]
    )


# ---------------------------------------------------------------------------
# The command


def promote(root: Path, model: str, source: str, target: str) -> PromoteResult:
    """Copy ``model``'s image and artifact reference from ``source`` into environments/<target>.yaml.

    Raises UsageError for unknown or disabled names, ModelfleetError when the target's
    policy forbids what the source runs or the edited fleet does not validate (the file
    is then restored). Writes nothing when the target already runs the same image and artifact.
    """
    resolution = validate(root)
    source_env = _environment(resolution, source, "--from")
    target_env = _environment(resolution, target, "--to")
    if source == target:
        raise UsageError(f"--from and --to both name '{source}'; promote copies between two environments")
    source_model = _model(resolution, source_env, model)
    target_model = _model(resolution, target_env, model)

    findings = _policy_findings(source_model, target_env, source)
    if findings:
        raise ModelfleetError(findings)

    old_image, new_image = image_reference(target_model), image_reference(source_model)
    old_artifact = _artifact_text(target_model.spec.artifact)
    new_artifact = _artifact_text(source_model.spec.artifact)
    display = target_env.document.path
    edits: list[tuple[tuple[str, ...], YamlValue, Any]] = []
    if old_image != new_image:
        edits.append((("models", model, "image"), *_image_value(source_model.spec.image)))
    if not _same_artifact(target_model.spec.artifact, source_model.spec.artifact):
        edits.append((("models", model, "artifact"), *_artifact_value(source_model.spec.artifact)))
    result = PromoteResult(
        model=model,
        source=source,
        target=target,
        file=display,
        old_image=old_image,
        new_image=new_image,
        old_artifact=old_artifact,
        new_artifact=new_artifact,
        changed=False,
        diff="",
    )
    if not edits:
        return result

    path = (root / display).resolve()
    original = path.read_bytes()
    raw = original.decode("utf-8")
    bom = "\ufeff" if raw.startswith("\ufeff") else ""
    text = raw[len(bom) :]
    newline = "\r\n" if "\r\n" in text else "\n"
    try:
        edited = edit(text, edits, newline)
    except (CannotEdit, yaml.YAMLError) as exc:
        raise _cannot_edit(target_env, model, str(exc)) from None

    write_atomic(path, (bom + edited).encode("utf-8"), durable=True)
    try:
        resolved = validate(root)
        after = _model(resolved, _environment(resolved, target, "--to"), model)
        if image_reference(after) != new_image or not _same_artifact(after.spec.artifact, source_model.spec.artifact):
            raise RuntimeError(f"promote wrote {display} but {target} does not resolve {model} to {new_image}")
    except BaseException:
        write_atomic(path, original, durable=True)  # never leave a file behind that does not validate
        raise
    return dataclasses.replace(result, changed=True, diff=_diff(text, edited, display))
