"""Shards of a CI matrix: ``--env`` / ``--model`` of ``render --check`` and ``validate``, and
``modelfleet shards``, the list a matrix iterates.

A shard reports the findings of the spec that are its own: a finding in
``environments/<env>.yaml`` belongs to that environment's shard, a finding of one model (by
its field path, ``models[i]`` in models.yaml or ``models.<name>`` in an environment file)
to the shards of that model, every other finding (models.yaml as a whole, fleet settings)
to every shard. So each finding of a full run is reported by at least one shard.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from generator.errors import Finding, ModelfleetError
from generator.output.shard import Shard

if TYPE_CHECKING:
    from generator.read.load import Sources

MAX_LISTED = 20  # names an unknown --env or --model lists
_MODEL_INDEX = re.compile(r"^models\[(\d+)\]")
_MODEL_KEY = re.compile(r"^models\.([^.\[]+)")


def shard_of(environments: Sequence[str], models: Sequence[str]) -> Shard:
    """The shard ``--env`` and ``--model`` select (none given: the whole fleet)."""
    return Shard(frozenset(environments) or None, frozenset(models) or None)


def known_names(root: Path) -> tuple[list[str], list[str]]:
    """The fleet's environments (by file) and models (by name in models.yaml), read without
    validating: the names a shard may select even when the spec has findings."""
    from generator.read.load import load_fleet

    return names_of(load_fleet(root))


def names_of(sources: Sources) -> tuple[list[str], list[str]]:
    """``known_names`` of files already loaded."""
    envs = [Path(document.path).stem for document in sources.environments]
    return envs, _model_names(sources.models.data)


def _model_names(data: Any) -> list[str]:
    models = data.get("models") if isinstance(data, dict) else None
    if not isinstance(models, list):
        return []
    return [str(m.get("name")) if isinstance(m, dict) else "" for m in models]


def check_names(shard: Shard, environments: Sequence[str], models: Sequence[str]) -> None:
    """``ModelfleetError`` naming each selected environment or model the fleet does not have."""
    found: list[Finding] = []
    for what, option, chosen, known in (
        ("environment", "--env", shard.environments, environments),
        ("model", "--model", shard.models, models),
    ):
        for name in sorted((chosen or frozenset()) - set(known)):
            found.append(Finding(f"{option} {name}: the fleet has no {what} {name}", hint=_listed(what, name, known)))
    if found:
        raise ModelfleetError(found)


def _listed(what: str, name: str, known: Sequence[str]) -> str:
    """The names the fleet has (the first ``MAX_LISTED``), and the closest ones to ``name``."""
    names = sorted(set(known))
    shown = ", ".join(names[:MAX_LISTED]) or "none"
    if len(names) > MAX_LISTED:
        shown += f" and {len(names) - MAX_LISTED} more"
    close = difflib.get_close_matches(name, names, n=3)
    guess = f"did you mean {' or '.join(close)}? " if close else ""
    return f"{guess}{what}s: {shown}"


def in_shard(finding: Finding, shard: Shard, model_names: Sequence[str]) -> bool:
    """Whether ``shard`` reports ``finding`` (see the module doc)."""
    file = finding.location.file if finding.location is not None else ""
    env = Path(file).stem if file.startswith("environments/") else None
    if env is not None and not shard.has_environment(env):
        return False
    if shard.models is None:
        return True
    if finding.models:
        return bool(shard.models & set(finding.models))
    model: str | None = None
    if file == "models.yaml" and (index := _MODEL_INDEX.match(finding.path)) is not None:
        position = int(index.group(1))
        model = model_names[position] if position < len(model_names) else None
    elif file.startswith("environments/") and (key := _MODEL_KEY.match(finding.path)) is not None:
        model = key.group(1)
    return model is None or model in shard.models


def narrowed(error: ModelfleetError, shard: Shard, model_names: Sequence[str]) -> list[Finding]:
    """The findings of ``error`` that ``shard`` reports."""
    return [finding for finding in error.findings if in_shard(finding, shard, model_names)]


def outside(count: int) -> Finding:
    """The finding of a shard that cannot go on for findings other shards report."""
    return Finding(
        f"the spec has {count} {'finding' if count == 1 else 'findings'} outside this shard: "
        "nothing can be rendered until they are fixed",
        hint="the shards of their environments and models report them; `modelfleet validate` shows them all",
    )


def shards_json(root: Path, by: str) -> str:
    """The shards of the fleet as a JSON list for a CI matrix (``fromJSON`` in GitHub Actions):
    ``by`` "env": the environment names, each one a shard of ``--env NAME``."""
    environments, _ = known_names(root)
    return json.dumps(sorted(environments), separators=(",", ":")) + "\n"
