"""``modelfleet validate``: every check of the spec, answered from the input record when
nothing it read changed since it last passed. Given a shard (``--env``, ``--model``), it
checks the whole spec and reports the findings that are the shard's (``commands.shards``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from generator.errors import ModelfleetError
from generator.incremental.inputrecord import now_ns, recorded_result, save_record
from generator.output.shard import Shard


@dataclass(frozen=True)
class Validated:
    """How many models and environments are valid (in a shard: that the shard selects),
    and how many findings of the spec other shards report."""

    models: int
    environments: int
    elsewhere: int = 0


def validate_command(root: Path, *, use_cache: bool, shard: Shard | None = None) -> Validated:
    """``ModelfleetError`` on any finding (of the shard, when one is given)."""
    if shard is not None and not shard.whole:
        return _validate_shard(root, shard)
    result = recorded_result(root, "validate") if use_cache else None
    if result is None or not all(isinstance(result.get(k), int) for k in ("models", "environments")):
        from generator.read.load import load_fleet
        from generator.validation import validate_recorded

        started = now_ns()
        validation = validate_recorded(load_fleet(root))
        resolution = validation.resolution
        result = {"models": len(resolution.base), "environments": len(resolution.environments)}
        if use_cache:
            save_record(root, "validate", validation.referenced, result, started)
    return Validated(int(result["models"]), int(result["environments"]))


def _validate_shard(root: Path, shard: Shard) -> Validated:
    from generator.commands.shards import check_names, names_of, narrowed
    from generator.read.load import load_fleet
    from generator.validation import validate_recorded

    sources = load_fleet(root)
    envs, models = names_of(sources)
    check_names(shard, envs, models)
    elsewhere = 0
    try:
        validate_recorded(sources)
    except ModelfleetError as exc:
        own = narrowed(exc, shard, models)
        if own:
            raise ModelfleetError(own) from None
        elsewhere = len(exc.findings)
    chosen_models = [m for m in models if shard.has_model(m)]
    return Validated(len(chosen_models), len([e for e in envs if shard.has_environment(e)]), elsewhere)
