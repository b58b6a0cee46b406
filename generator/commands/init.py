"""``modelfleet init [DIR]``: a new fleet repository that validates and renders at once.

It holds one ``runtime: python`` model with its build context (services/<model>/), a dev
and a prod environment, the editor schemas (.modelfleet/schemas/, named by the modelines
and .vscode/settings.json), the pre-commit hooks and requirements.txt pinned to the
installed modelfleet release, a CI workflow, a Makefile, .gitignore and a Renovate
configuration. Nothing is overwritten: any file that already exists stops it first.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

from generator.commands.initfiles import python_service, template
from generator.commands.schema import editor_files
from generator.errors import Finding, Location, ModelfleetError
from generator.version import repository_url, version

FIRST_MODEL = "my-model"
DEFAULT_FLEET = "my-fleet"


def fleet_name(directory: Path) -> str:
    """A DNS label made from the directory's name (``my-fleet`` when nothing is left)."""
    name = re.sub(r"[^a-z0-9-]+", "-", directory.resolve().name.lower())
    name = re.sub(r"-+", "-", name).strip("-")[:40].strip("-")
    name = name.lstrip("0123456789-")
    return name or DEFAULT_FLEET


def fleet_files(fleet: str) -> dict[str, str]:
    """Every file ``init`` writes, by path under the new repository."""
    repository = repository_url()
    values = {
        "FLEET": fleet,
        "MODEL": FIRST_MODEL,
        "VERSION": version(),
        "REPO_URL": repository,
        "REPO_PATH": urlsplit(repository).path.strip("/").removesuffix(".git"),
    }
    out = {
        "models.yaml": template("models.yaml.tmpl", values),
        "environments/dev.yaml": template("dev.yaml.tmpl", values),
        "environments/prod.yaml": template("prod.yaml.tmpl", values),
        "requirements.txt": template("requirements.txt.tmpl", values),
        ".pre-commit-config.yaml": template("pre-commit-config.yaml.tmpl", values),
        ".github/workflows/modelfleet.yml": template("workflow.yml", values),
        "Makefile": template("Makefile.tmpl", values),
        ".gitignore": template("gitignore.tmpl", values),
        ".vscode/settings.json": template("vscode-settings.json.tmpl", values),
        "renovate.json": template("renovate.json.tmpl", values),
        **editor_files(),
        **python_service(FIRST_MODEL),
    }
    return dict(sorted(out.items()))


def init(directory: Path) -> list[str]:
    """Write a new fleet repository into ``directory`` (created if missing); return the paths written."""
    if directory.exists() and not directory.is_dir():
        raise ModelfleetError([Finding(f"{directory} is a file, not a directory", Location(str(directory)))])
    content = fleet_files(fleet_name(directory))
    existing = [name for name in content if (directory / name).exists()]
    if existing:
        raise ModelfleetError(
            Finding(
                "already exists; init writes a new fleet repository and overwrites nothing",
                Location(str(directory / name)),
                hint="run `modelfleet init` in an empty directory, or move this file away",
            )
            for name in existing
        )
    for name, text in content.items():
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text.encode("utf-8"))
    return list(content)
