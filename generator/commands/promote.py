"""`modelfleet promote MODEL --from ENV --to ENV`: copy a model's image and artifact
reference from one environment into another environment's file.

The target file is edited surgically rather than re-serialised: the YAML is composed
with PyYAML (the parser the loader uses, so both see the same tree), and only the text
span of the value being replaced is rewritten, or new lines are inserted after the
last entry of the mapping that receives a key. Every other byte of the file (comments,
blank lines, quoting, flow mappings, key order, CRLF line ends) stays as it was. A
round-trip serialiser such as ruamel.yaml cannot promise that: it normalises
``key:   value``, ``{ a: 1 }`` and sequence indentation when it writes the file back.

Safety net, in order: the edited text must parse to exactly the old data with the one
value replaced (otherwise nothing is written); the written fleet must validate and
resolve the target to the source's image and artifact (otherwise the original bytes
are put back and the error is raised).
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import json
import os
import re
import shutil
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from generator.build.identity import image_reference
from generator.errors import Finding, ModelfleetError, UsageError
from generator.output.yamlout import needs_quotes
from generator.read.parse import did_you_mean
from generator.read.resolve import Resolution, ResolvedEnvironment, ResolvedModel
from generator.spec.workload import Artifact, Image
from generator.validation import validate


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


@dataclass(frozen=True)
class _Map:
    """A mapping to write; ``flow`` is the style used when a new key is created."""

    items: tuple[tuple[str, _Value], ...]
    flow: bool


_Value = str | _Map  # str: a scalar's YAML text, already quoted where needed

_PLAIN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/:@+%=~-]*")
_ESCAPES = {"\x85": "\\N", "\u2028": "\\L", "\u2029": "\\P", "\ufeff": "\\uFEFF"}


def _scalar(value: str, *, quote: bool = False) -> str:
    """Plain when every YAML 1.1/1.2 reader reads it back as this string, else double-quoted."""
    if quote or not _PLAIN.fullmatch(value) or value.endswith(":") or needs_quotes(value):
        text = json.dumps(value, ensure_ascii=False)  # JSON strings are YAML double-quoted scalars
        return "".join(_ESCAPES.get(ch, ch) for ch in text)
    return value


def _image_value(image: Image) -> tuple[_Map, dict[str, str]]:
    items: list[tuple[str, _Value]] = []
    data: dict[str, str] = {}
    if image.repository is not None:
        items.append(("repository", _scalar(image.repository)))
        data["repository"] = image.repository
    if image.digest is not None:
        items.append(("digest", _scalar(image.digest, quote=True)))
        data["digest"] = image.digest
    else:
        assert image.tag is not None  # Image guarantees exactly one of tag and digest
        items.append(("tag", _scalar(image.tag, quote=True)))
        data["tag"] = image.tag
    return _Map(tuple(items), flow=True), data


def _artifact_value(artifact: Artifact | None) -> tuple[_Value, dict[str, str] | None]:
    if artifact is None:  # the source runs without an artifact: say so explicitly
        return "null", None
    items: list[tuple[str, _Value]] = [("uri", _scalar(artifact.uri))]
    data = {"uri": artifact.uri}
    if artifact.sha256 is not None:
        items.append(("sha256", _scalar(artifact.sha256)))
        data["sha256"] = artifact.sha256
    return _Map(tuple(items), flow=False), data


# ---------------------------------------------------------------------------
# Surgical text edits


class _CannotEdit(Exception):
    """The file uses YAML that promote will not rewrite by machine (aliases, odd layout)."""


def _compose(text: str) -> yaml.MappingNode:
    node = yaml.compose(text, Loader=yaml.SafeLoader)
    if not isinstance(node, yaml.MappingNode):
        raise _CannotEdit("the file is not a mapping")
    return node


def _end(node: yaml.Node) -> int:
    """Index just after the node's own text (block collections end with their last child)."""
    if isinstance(node, yaml.MappingNode) and not node.flow_style and node.value:
        return _end(node.value[-1][1])
    if isinstance(node, yaml.SequenceNode) and not node.flow_style and node.value:
        return _end(node.value[-1])
    index: int = node.end_mark.index
    return index


def _next_line(text: str, index: int) -> int:
    """Start of the line after the one holding ``index`` (len(text) at the end of the file)."""
    if index > 0 and text[index - 1] == "\n":
        return index
    newline = text.find("\n", index)
    return len(text) if newline < 0 else newline + 1


def _past_comments(text: str, at: int, indent: int) -> int:
    """Skip the comment lines right after a mapping's last entry that are indented like its keys or deeper."""
    while at < len(text):
        newline = text.find("\n", at)
        end = len(text) if newline < 0 else newline + 1
        line = text[at:end]
        stripped = line.lstrip(" ")
        if not stripped.startswith("#") or len(line) - len(stripped) < indent:
            break
        at = end
    return at


def _indent_step(root: yaml.Node) -> int:
    """The file's indentation step: the most common offset of a nested block mapping's keys."""
    counts: Counter[int] = Counter()
    seen: set[int] = set()
    stack: list[yaml.Node] = [root]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if isinstance(value, yaml.MappingNode) and not value.flow_style and value.value:
                    step = value.value[0][0].start_mark.column - key.start_mark.column
                    if step > 0:
                        counts[step] += 1
                stack.append(value)
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)
    return min(counts, key=lambda step: (-counts[step], step)) if counts else 2


def _inline(value: _Value) -> str:
    if isinstance(value, str):
        return value
    return "{" + ", ".join(f"{key}: {_inline(item)}" for key, item in value.items) + "}"


def _entry_lines(key: str, value: _Value, indent: int, step: int) -> list[str]:
    pad = " " * indent
    if isinstance(value, _Map) and not value.flow and value.items:
        lines = [f"{pad}{key}:"]
        for child_key, child in value.items:
            lines += _entry_lines(child_key, child, indent + step, step)
        return lines
    return [f"{pad}{key}: {_inline(value)}"]


def _nest(path: tuple[str, ...], value: _Value) -> _Value:
    if not path:
        return value
    return _Map(((path[0], _nest(path[1:], value)),), flow=False)


def _insert(text: str, mapping: yaml.MappingNode, key: str, value: _Value, *, step: int, newline: str) -> str:
    """Add ``key: value`` as the last entry of ``mapping``."""
    if mapping.flow_style:
        if mapping.value:
            at = mapping.value[-1][1].end_mark.index
            piece = f", {key}: {_inline(value)}"
        else:
            at = mapping.end_mark.index - 1
            if text[at] != "}":
                raise _CannotEdit("unexpected flow mapping layout")
            piece = f"{key}: {_inline(value)}"
        return text[:at] + piece + text[at:]
    if not mapping.value:
        raise _CannotEdit("empty block mapping")
    indent = mapping.value[0][0].start_mark.column
    at = _past_comments(text, _next_line(text, _end(mapping)), indent)
    piece = "".join(line + newline for line in _entry_lines(key, value, indent, step))
    if at == len(text) and text and not text.endswith("\n"):
        piece = newline + piece
    return text[:at] + piece + text[at:]


def _replace(text: str, key: yaml.Node, node: yaml.Node, value: _Value, *, step: int, newline: str) -> str:
    """Rewrite the value of ``key``, keeping the style (block or flow) it had."""
    if node.start_mark.index < key.end_mark.index:
        raise _CannotEdit("the value is a YAML alias")
    if isinstance(node, yaml.MappingNode) and not node.flow_style and node.value:
        end = _end(node)
        if isinstance(value, _Map) and value.items:
            first = node.value[0][0].start_mark
            lines = [line for k, item in value.items for line in _entry_lines(k, item, first.column, step)]
            body = lines[0][first.column :] + "".join(newline + line for line in lines[1:])
            return text[: first.index] + body + text[end:]
        return text[: key.end_mark.index] + ": " + _inline(value) + text[end:]
    start, end = node.start_mark.index, node.end_mark.index
    if start == end:  # an empty value (null): write after the colon
        colon = text.find(":", key.end_mark.index)
        if colon < 0 or text[key.end_mark.index : colon].strip():
            raise _CannotEdit("no colon after the key")
        return text[: colon + 1] + " " + _inline(value) + text[colon + 1 :]
    return text[:start] + _inline(value) + text[end:]


def _set(text: str, path: tuple[str, ...], value: _Value, newline: str) -> str:
    """``text`` with the value at ``path`` set to ``value``; missing mappings are created."""
    root = _compose(text)
    step = _indent_step(root)
    mapping = root
    for depth, name in enumerate(path):
        rest = path[depth + 1 :]
        found = next(
            ((k, v) for k, v in mapping.value if isinstance(k, yaml.ScalarNode) and k.value == name),
            None,
        )
        if found is None:
            return _insert(text, mapping, name, _nest(rest, value), step=step, newline=newline)
        key, child = found
        if not rest:
            return _replace(text, key, child, value, step=step, newline=newline)
        if not isinstance(child, yaml.MappingNode) or child.start_mark.index < key.end_mark.index:
            raise _CannotEdit(f"'{name}' is not a plain mapping")
        mapping = child
    raise AssertionError("empty path")  # pragma: no cover


def _with_value(data: Any, path: tuple[str, ...], value: Any) -> Any:
    out = copy.deepcopy(data)
    current = out
    for name in path[:-1]:
        current = current.setdefault(name, {})
    current[path[-1]] = value
    return out


def _edit(text: str, edits: list[tuple[tuple[str, ...], _Value, Any]], newline: str) -> str:
    """Apply ``(path, yaml value, python value)`` edits; check the result reads back as intended."""
    expected = yaml.safe_load(text)
    for path, value, data in edits:
        text = _set(text, path, value, newline)
        expected = _with_value(expected, path, data)
    try:
        actual = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise _CannotEdit(f"the edit does not parse: {exc}") from None
    if actual != expected:
        raise _CannotEdit("the edit does not read back as intended")
    return text


# ---------------------------------------------------------------------------
# Files


def _write_atomic(path: Path, data: bytes) -> None:
    descriptor, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    temp = Path(name)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
        shutil.copymode(path, temp)
        temp.replace(path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


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
    edits: list[tuple[tuple[str, ...], _Value, Any]] = []
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
        edited = _edit(text, edits, newline)
    except (_CannotEdit, yaml.YAMLError) as exc:
        raise _cannot_edit(target_env, model, str(exc)) from None

    _write_atomic(path, (bom + edited).encode("utf-8"))
    try:
        resolved = validate(root)
        after = _model(resolved, _environment(resolved, target, "--to"), model)
        if image_reference(after) != new_image or not _same_artifact(after.spec.artifact, source_model.spec.artifact):
            raise RuntimeError(f"promote wrote {display} but {target} does not resolve {model} to {new_image}")
    except BaseException:
        _write_atomic(path, original)  # never leave a file behind that does not validate
        raise
    return dataclasses.replace(result, changed=True, diff=_diff(text, edited, display))
