"""``modelfleet diff --base REF``: what a change to the spec does to every environment, in plain words.

The spec at REF is rendered offline: the files of REF (the fleet directory of that commit,
from ``git archive``) are unpacked into a temporary directory and rendered there, with no
git state left behind and no cluster contacted. The working tree is rendered as it is.
Objects are compared per environment and per model (the ``app.kubernetes.io/name`` label;
objects without it, such as the Namespace, belong to the group ``(environment)``); the lines
for one pair of objects come from ``diffsummary``.

If the spec at REF cannot be rendered (it was invalid then), the diff says so and shows
every object as added, rather than failing.

JSON output (``--format json``), version 1::

    {
      "version": 1,
      "base": "origin/main",              # the REF as given
      "base_error": null,                 # or why the spec at REF could not be rendered
      "environments": [                   # sorted by name; only environments with changes
        {
          "name": "prod",
          "status": "changed",            # "added" | "removed" | "changed"
          "models": [                     # sorted by name; "(environment)" first
            {
              "name": "fraud-detector",
              "status": "changed",        # "added" | "removed" | "changed"
              "changes": [                # in display order
                {"kind": "HorizontalPodAutoscaler", "object": "fraud-detector",
                 "summary": "replicas: min 3, max 60 → 80"}
              ]
            }
          ]
        }
      ]
    }

``kind`` and ``object`` name the Kubernetes object a line is about; both are empty for the
lines about the model itself ("new model", "enabled in this environment", "disabled in this
environment", "removed from models.yaml"). A model is "added" when its objects appear in an
environment (a new model, or one enabled there) and "removed" when they disappear.
"""

from __future__ import annotations

import io
import json
import re
import subprocess
import tarfile
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from generator.commands.diffsummary import describe, summarise
from generator.errors import ModelfleetError, UsageError
from generator.output.overlay import KubeObject, identity
from generator.output.rendered import Rendered
from generator.pipeline import render

JSON_VERSION = 1
ENVIRONMENT_GROUP = "(environment)"
NAME_LABEL = "app.kubernetes.io/name"
NO_CHANGES = "No changes to rendered objects."
_HASH_SUFFIX = re.compile(r"-[0-9a-f]{10}$")


@dataclass(frozen=True)
class Change:
    kind: str  # the Kubernetes kind, or "" for a line about the model itself
    object: str  # the object's name, or ""
    summary: str


@dataclass(frozen=True)
class ModelDiff:
    name: str
    status: str  # added | removed | changed
    changes: tuple[Change, ...]


@dataclass(frozen=True)
class EnvironmentDiff:
    name: str
    status: str  # added | removed | changed
    models: tuple[ModelDiff, ...]


@dataclass(frozen=True)
class FleetDiff:
    base: str
    environments: tuple[EnvironmentDiff, ...]  # only environments with changes
    base_error: str | None = None

    def format_text(self) -> str:
        lines = [f"modelfleet diff against {self.base}"]
        if self.base_error:
            lines.append(f"warning: {self._base_warning()}")
        if not self.environments:
            lines.append(NO_CHANGES)
        for env in self.environments:
            lines.append(f"{env.name}{self._env_note(env)}:")
            for model in env.models:
                lines.append(f"  {model.name}{_status_note(model.status)}:")
                lines.extend(f"    {change.summary}" for change in model.changes)
        return "\n".join(lines) + "\n"

    def format_markdown(self) -> str:
        lines = [f"## modelfleet diff against {_md(self.base)}", ""]
        if self.base_error:
            lines += [f"> **Warning:** {_md(self._base_warning())}", ""]
        if not self.environments:
            lines += [NO_CHANGES, ""]
        for env in self.environments:
            lines += [f"### {_md(env.name)}{self._env_note(env)}", ""]
            for model in env.models:
                lines.append(f"- **{_md(model.name)}**{_status_note(model.status)}")
                lines.extend(f"  - {_md(change.summary)}" for change in model.changes)
            lines.append("")
        return "\n".join(lines[:-1]) + "\n"

    def format_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n"

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": JSON_VERSION,
            "base": self.base,
            "base_error": self.base_error,
            "environments": [
                {
                    "name": env.name,
                    "status": env.status,
                    "models": [
                        {
                            "name": model.name,
                            "status": model.status,
                            "changes": [
                                {"kind": c.kind, "object": c.object, "summary": c.summary} for c in model.changes
                            ],
                        }
                        for model in env.models
                    ],
                }
                for env in self.environments
            ],
        }

    def _base_warning(self) -> str:
        return f"the spec at {self.base} could not be rendered ({self.base_error}); every object is shown as added."

    def _env_note(self, env: EnvironmentDiff) -> str:
        if self.base_error:
            return ""
        return {"added": " (new environment)", "removed": " (environment removed)"}.get(env.status, "")


def _status_note(status: str) -> str:
    return f" ({status})" if status != "changed" else ""


_MD_SPECIAL = re.compile(r"([\\`*\[\]<>|])|(?<![0-9A-Za-z])_|_(?![0-9A-Za-z])")


def _md(text: str) -> str:
    """Escape Markdown so a summary reads literally (GitHub flavour)."""
    escaped = _MD_SPECIAL.sub(lambda m: "\\" + m.group(0), text)
    if escaped[:1] in {"+", "-", "#"}:
        escaped = "\\" + escaped
    return escaped


# ---------------------------------------------------------------------------
# comparing two renders


@dataclass(frozen=True)
class _Side:
    models: frozenset[str]  # the models of models.yaml
    environments: Mapping[str, Mapping[str, Sequence[KubeObject]]]  # environment -> model -> objects


def _group(objects: Iterable[KubeObject]) -> dict[str, list[KubeObject]]:
    groups: dict[str, list[KubeObject]] = {}
    for obj in objects:
        labels = obj.get("metadata", {}).get("labels") or {}
        groups.setdefault(str(labels.get(NAME_LABEL) or ENVIRONMENT_GROUP), []).append(obj)
    return groups


def _side(rendered: Rendered | None) -> _Side:
    if rendered is None:
        return _Side(frozenset(), {})
    return _Side(
        frozenset(m.name for m in rendered.resolution.base),
        {env.name: _group(env.objects) for env in rendered.environments},
    )


def _pairs(old: Sequence[KubeObject], new: Sequence[KubeObject]) -> list[tuple[KubeObject | None, KubeObject | None]]:
    """Match objects by identity, then content-hashed ConfigMaps by their name without the hash."""
    old_by_id = {identity(o): o for o in old}
    new_by_id = {identity(o): o for o in new}
    pairs: list[tuple[KubeObject | None, KubeObject | None]] = [
        (old_by_id[key], obj) for key, obj in new_by_id.items() if key in old_by_id
    ]
    removed = {key: o for key, o in old_by_id.items() if key not in new_by_id}
    for key, obj in new_by_id.items():
        if key in old_by_id:
            continue
        stem = _HASH_SUFFIX.sub("", key[2])
        match = next((k for k in removed if k[:2] == key[:2] and _HASH_SUFFIX.sub("", k[2]) == stem), None)
        pairs.append((removed.pop(match) if match else None, obj))
    pairs.extend((obj, None) for obj in removed.values())
    return sorted(pairs, key=lambda pair: _sort_key(pair[1] if pair[1] is not None else pair[0]))


def _sort_key(obj: KubeObject | None) -> tuple[str, str]:
    assert obj is not None
    return str(obj["kind"]), str(obj["metadata"]["name"])


def _object_changes(old: KubeObject | None, new: KubeObject | None) -> list[Change]:
    if new is None:
        assert old is not None
        kind, name = _sort_key(old)
        return [Change(kind, name, f"- {kind} {name}")]
    kind, name = _sort_key(new)
    if old is None:
        details = describe(new)
        suffix = f" ({'; '.join(details)})" if details else ""
        return [Change(kind, name, f"+ {kind} {name}{suffix}")]
    return [Change(kind, name, line) for line in summarise(old, new)]


def _model_note(model: str, status: str, before: _Side, after: _Side) -> str | None:
    if model == ENVIRONMENT_GROUP:
        return None
    if status == "added":
        return "enabled in this environment" if model in before.models else "new model"
    if status == "removed":
        return "disabled in this environment" if model in after.models else "removed from models.yaml"
    return None


def _model_diff(
    model: str, old: Sequence[KubeObject] | None, new: Sequence[KubeObject] | None, note: str | None
) -> ModelDiff:
    status = "added" if old is None else "removed" if new is None else "changed"
    changes: list[Change] = [Change("", "", note)] if note else []
    seen: set[str] = set()
    for old_obj, new_obj in _pairs(old or (), new or ()):
        for change in _object_changes(old_obj, new_obj):
            if change.summary not in seen:  # one namespace or image line per model, not per object
                seen.add(change.summary)
                changes.append(change)
    return ModelDiff(model, status, tuple(changes))


def _environment_diff(name: str, before: _Side, after: _Side) -> EnvironmentDiff:
    old_groups = before.environments.get(name)
    new_groups = after.environments.get(name)
    status = "added" if old_groups is None else "removed" if new_groups is None else "changed"
    old_groups, new_groups = old_groups or {}, new_groups or {}
    models: list[ModelDiff] = []
    for model in sorted(set(old_groups) | set(new_groups)):
        old, new = old_groups.get(model), new_groups.get(model)
        model_status = "added" if old is None else "removed" if new is None else "changed"
        note = _model_note(model, model_status, before, after) if status == "changed" else None
        diff = _model_diff(model, old, new, note)
        if diff.changes:
            models.append(diff)
    return EnvironmentDiff(name, status, tuple(models))


def compare(base: str, old: Rendered | None, new: Rendered, base_error: str | None = None) -> FleetDiff:
    """The diff from ``old`` (the render of ``base``; None if it failed) to ``new``."""
    before, after = _side(old), _side(new)
    names = sorted(set(before.environments) | set(after.environments))
    environments = (_environment_diff(name, before, after) for name in names)
    return FleetDiff(base, tuple(env for env in environments if env.models), base_error)


# ---------------------------------------------------------------------------
# git


def _git(root: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    try:
        return subprocess.run(["git", "-C", str(root), *args], capture_output=True, check=False)
    except FileNotFoundError:
        raise UsageError("`modelfleet diff` needs git, and git is not installed") from None


def _revision(root: Path, ref: str) -> tuple[Path, str, str]:
    """The repository's top directory, the commit ``ref`` names, and the fleet's path in the repository."""
    where = _git(root, "rev-parse", "--show-toplevel", "--show-prefix")
    if where.returncode != 0:
        raise UsageError(f"{root} is not in a git repository; `modelfleet diff --base REF` compares with a commit")
    top, prefix = [*where.stdout.decode().splitlines(), ""][:2]
    commit = _git(root, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}") if ref[:1] not in {"", "-"} else None
    if commit is None or commit.returncode != 0:
        raise UsageError(
            f"unknown git revision '{ref}'; fetch it first (for example `git fetch origin main`; "
            "in GitHub Actions check out with fetch-depth: 0)"
        )
    return Path(top), commit.stdout.decode().strip(), prefix.rstrip("/")


def _failure(error: ModelfleetError) -> str:
    findings = error.findings
    if not findings:
        return str(error)
    first = findings[0]
    where = f"{first.location}: " if first.location else ""
    count = f"{len(findings)} problems; first: " if len(findings) > 1 else ""
    return f"{count}{where}{first.message}"


def render_revision(root: Path, ref: str) -> tuple[Rendered | None, str | None]:
    """Render the fleet as it was at ``ref``: ``(rendered, None)`` or ``(None, why not)``."""
    top, commit, prefix = _revision(root, ref)
    archive = _git(top, "archive", "--format=tar", f"{commit}:{prefix}")  # from the top: a subdirectory limits it
    if archive.returncode != 0:
        return None, f"{prefix or 'the repository root'} is not a directory there"
    with tempfile.TemporaryDirectory(prefix="modelfleet-diff-") as tmp:
        with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
            tar.extractall(tmp, filter="data")
        try:
            return render(Path(tmp)), None
        except ModelfleetError as exc:
            return None, _failure(exc)


def diff(root: Path, base_ref: str) -> FleetDiff:
    """Compare the fleet under ``root`` with the same fleet at git revision ``base_ref``.

    Raises UsageError for an unknown revision or when ``root`` is not in a git repository,
    and ModelfleetError when the working tree's spec is invalid.
    """
    old, error = render_revision(root, base_ref)
    return compare(base_ref, old, render(root), error)
