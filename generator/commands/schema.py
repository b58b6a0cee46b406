"""``modelfleet schema``: the files generated from the spec models (schemas/*.json and
docs/reference.md), written or checked."""

from __future__ import annotations

from pathlib import Path

from generator.commands.reference import reference_markdown
from generator.spec.jsonschema import schema_files


def generated_files() -> dict[str, str]:
    """Every file `modelfleet schema` writes, by path under the fleet root."""
    files = {f"schemas/{name}": text for name, text in schema_files().items()}
    files["docs/reference.md"] = reference_markdown()
    return files


def stale_generated(root: Path) -> list[str]:
    return [
        name
        for name, text in generated_files().items()
        if not (root / name).is_file() or (root / name).read_text(encoding="utf-8") != text
    ]


def write_generated(root: Path) -> list[str]:
    """Write the schemas and the spec reference; return the paths whose content changed."""
    changed = stale_generated(root)
    files = generated_files()
    for name in changed:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(files[name], encoding="utf-8")
    return changed
