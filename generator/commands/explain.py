"""`modelfleet explain ENV MODEL PATH`: a resolved value and the files that set it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from generator.errors import UsageError, path_str
from generator.output.yamlout import dump
from generator.read.load import FieldPath
from generator.read.parse import did_you_mean
from generator.read.resolve import ResolvedModel
from generator.validation import validate


def _has(current: Any, part: str | int) -> bool:
    if isinstance(current, dict):
        return isinstance(part, str) and part in current
    return isinstance(current, list) and isinstance(part, int) and 0 <= part < len(current)


def _lookup(data: Any, path: FieldPath) -> Any:
    current = data
    for index, part in enumerate(path):
        if _has(current, part):
            current = current[part]
        else:
            where = path_str(path[:index]) or "the model"
            choices = list(current) if isinstance(current, dict) else []
            hint = did_you_mean(str(part), choices) if choices else ""
            raise UsageError(f"{where} has no '{part}'" + (f"; {hint}" if hint else ""))
    return current


def _chain(model: ResolvedModel, path: FieldPath) -> list[str]:
    origins = model.origin_chain(path)
    if not origins:
        return ["  set by     built-in default"]
    lines = []
    for position, origin in enumerate(reversed(origins)):
        verb = "set by   " if position == 0 else "overrides"
        lines.append(f"  {verb}  {origin}")
    return lines


def explain(root: Path, env_name: str, model_name: str, path: FieldPath) -> str:
    resolution = validate(root)
    env = resolution.environment(env_name)
    if env is None:
        names = [e.spec.name for e in resolution.environments]
        raise UsageError(f"no environment '{env_name}'; {did_you_mean(env_name, names)}")
    model = next((m for m in env.models if m.name == model_name), None)
    if model is None:
        names = [m.name for m in resolution.base]
        if model_name in names:
            raise UsageError(f"model '{model_name}' is disabled in {env_name} (enabled: false)")
        raise UsageError(f"no model '{model_name}'; {did_you_mean(model_name, names)}")
    data = model.spec.model_dump(mode="json", by_alias=True)
    value = _lookup(data, path)
    head = f"{env_name} {model_name} {path_str(path) or '(whole model)'}:"
    if isinstance(value, dict | list):
        body = "\n".join("    " + line for line in dump(value).rstrip("\n").splitlines())
        text = f"{head}\n{body}\n"
    else:
        text = f"{head} {dump(value).strip().removesuffix('...').strip()}\n"
    return text + "\n".join(_chain(model, path)) + "\n"
