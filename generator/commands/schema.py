"""``modelfleet schema``: the files generated from the spec models, written or checked.

In modelfleet's own checkout these are schemas/*.json and docs/reference.md. In a fleet
repository they are the editor schemas under .modelfleet/schemas/ (what the
``# yaml-language-server: $schema=`` modelines and .vscode/settings.json point at), copied
from the installed release, so completion follows the modelfleet version the fleet pins.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

from generator.commands.reference import reference_markdown
from generator.spec.jsonschema import SCHEMA_FILES, schema_files

EDITOR_SCHEMA_DIR = ".modelfleet/schemas"


@dataclass(frozen=True)
class Outdated:
    path: str
    missing: bool  # else present with other content


def is_modelfleet_checkout(root: Path) -> bool:
    """True in modelfleet's own source tree (its pyproject.toml names the project)."""
    try:
        project = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8")).get("project", {})
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
        return False
    return isinstance(project, dict) and project.get("name") == "modelfleet"


def generated_files() -> dict[str, str]:
    """What `modelfleet schema` writes in modelfleet's checkout, by path under its root."""
    generated = {f"schemas/{name}": text for name, text in schema_files().items()}
    generated["docs/reference.md"] = reference_markdown()
    return generated


def editor_files() -> dict[str, str]:
    """The editor schemas of a fleet repository: the installed release's shipped schemas
    (``modelfleet schema --check`` keeps those equal to the spec models)."""
    shipped = files("generator.schemas")
    return {f"{EDITOR_SCHEMA_DIR}/{name}": (shipped / name).read_text(encoding="utf-8") for name in SCHEMA_FILES}


def files_for(root: Path) -> dict[str, str]:
    return generated_files() if is_modelfleet_checkout(root) else editor_files()


def outdated(root: Path) -> list[Outdated]:
    """The generated files under ``root`` that are missing or differ from what they should be."""
    found = []
    for name, text in files_for(root).items():
        path = root / name
        if not path.is_file():
            found.append(Outdated(name, missing=True))
        elif path.read_text(encoding="utf-8") != text:
            found.append(Outdated(name, missing=False))
    return found


def write_generated(root: Path) -> list[str]:
    """Write the generated files; return the paths whose content changed."""
    content = files_for(root)
    changed = [item.path for item in outdated(root)]
    for name in changed:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(content[name], encoding="utf-8")
    return changed
