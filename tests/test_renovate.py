"""The renovate.json that `init` writes: valid against Renovate's own schema (from the pinned
npm package, `make npm-tools`), and its managers find what they must update in the new
repository: the base images of models.yaml (the regex manager, run here with Python's re),
the requirements files and the pre-commit rev."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from jsonschema import Draft7Validator

from generator.cli import main
from generator.commands.init import fleet_files
from generator.spec.fleet import DEFAULT_BASE_IMAGES
from generator.version import repository_url

pytestmark = pytest.mark.slow  # needs `make npm-tools`

REPO = Path(__file__).resolve().parent.parent
SCHEMA = REPO / ".venv" / "tools" / "renovate" / "package" / "renovate-schema.json"


def renovate_schema() -> dict[str, object]:
    assert SCHEMA.is_file(), "Renovate's schema is missing: run `make npm-tools` (make test does)"
    schema: dict[str, object] = json.loads(SCHEMA.read_text(encoding="utf-8"))
    return schema


def python_regex(pattern: str) -> re.Pattern[str]:
    """A Renovate matchString in Python's syntax: named groups are (?P<name>...)."""
    return re.compile(pattern.replace("(?<", "(?P<"))


def file_pattern(pattern: str) -> re.Pattern[str]:
    """A managerFilePatterns entry: '/regex/' is a regular expression (globs are not used here)."""
    assert pattern.startswith("/") and pattern.endswith("/"), pattern
    return re.compile(pattern[1:-1])


@pytest.fixture(scope="module")
def files() -> dict[str, str]:
    return fleet_files("acme")


@pytest.fixture(scope="module")
def config(files: dict[str, str]) -> dict[str, object]:
    loaded: dict[str, object] = json.loads(files["renovate.json"])
    return loaded


def test_renovate_json_is_valid_for_renovate(config: dict[str, object]) -> None:
    version = json.loads((SCHEMA.parent / "package.json").read_text(encoding="utf-8"))["version"]
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in Draft7Validator(renovate_schema()).iter_errors(config)]
    assert errors == [], f"renovate {version}"
    broken = {**config, "customManagers": [{"customType": "regex", "matchStrings": "not a list"}]}
    assert list(Draft7Validator(renovate_schema()).iter_errors(broken)), "the schema must be able to fail"


def test_the_regex_manager_finds_every_base_image(files: dict[str, str], config: dict[str, object]) -> None:
    [manager] = config["customManagers"]  # type: ignore[misc]
    assert any(file_pattern(p).search("models.yaml") for p in manager["managerFilePatterns"])
    [pattern] = manager["matchStrings"]
    models = files["models.yaml"]
    found = {m["depType"]: m.groupdict() for m in python_regex(pattern).finditer(models)}
    listed = yaml.safe_load(models)["fleet"]["baseImages"]
    assert set(found) == set(listed) - {"python"}, "every baseImages line but the {version} pattern"
    for runtime, match in found.items():
        assert f"{match['depName']}:{match['currentValue']}" == listed[runtime] == DEFAULT_BASE_IMAGES[runtime]
        assert match["currentDigest"] is None
    assert len(python_regex(pattern).findall(models)) == len(found), "nothing else in models.yaml matches"


def test_a_pinned_digest_still_validates_and_matches(tmp_path: Path, config: dict[str, object]) -> None:
    """What Renovate writes (autoReplaceStringTemplate, with a digest) is a valid models.yaml,
    and the next run reads the digest back."""
    assert main(["init", str(tmp_path)]) == 0
    [manager] = config["customManagers"]  # type: ignore[misc]
    regex = python_regex(manager["matchStrings"][0])
    template = manager["autoReplaceStringTemplate"]
    digest = "sha256:" + "ab" * 32
    models = tmp_path / "models.yaml"

    def pinned(match: re.Match[str]) -> str:
        text = template.replace("{{#if newDigest}}@{{newDigest}}{{/if}}", f"@{digest}")
        for name in ("depType", "depName"):
            text = text.replace("{{" + name + "}}", match[name])
        return text.replace("{{newValue}}", match["currentValue"])

    models.write_text(regex.sub(pinned, models.read_text(encoding="utf-8")), encoding="utf-8")
    assert main(["--root", str(tmp_path), "validate"]) == 0
    again = [m["currentDigest"] for m in regex.finditer(models.read_text(encoding="utf-8"))]
    assert again == [digest] * 5


def test_requirements_precommit_and_modelfleet_are_managed(files: dict[str, str], config: dict[str, object]) -> None:
    patterns = [file_pattern(p) for p in config["pip_requirements"]["managerFilePatterns"]]  # type: ignore[index]
    for name in ("requirements.txt", "services/my-model/requirements.txt"):
        assert name in files and any(p.search(name) for p in patterns), name
    assert config["pre-commit"] == {"enabled": True}  # off by default in Renovate
    assert f"repo: {repository_url()}" in files[".pre-commit-config.yaml"]
    [group] = [r for r in config["packageRules"] if r.get("groupName") == "modelfleet"]  # type: ignore[attr-defined]
    owner_repo = repository_url().split("://", 1)[1].split("/", 1)[1]
    assert group["matchPackageNames"] == ["modelfleet", owner_repo]
    assert re.search(r"^modelfleet==\d+\.\d+\.\d+$", files["requirements.txt"], re.M)
