"""``modelfleet validate``: every check of the spec, answered from the input record when
nothing it read changed since it last passed."""

from __future__ import annotations

from pathlib import Path

from generator.incremental.inputrecord import now_ns, recorded_result, save_record


def validate_command(root: Path, *, use_cache: bool) -> tuple[int, int]:
    """How many models and environments are valid; ``ModelfleetError`` on any finding."""
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
    return int(result["models"]), int(result["environments"])
