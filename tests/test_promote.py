"""`promote`: copy a model's image and artifact from one environment file into another,
changing only the lines that carry them (comments, blank lines, flow mappings and every
other model stay byte for byte), refusing what the target's policy forbids."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml

import generator.commands.promote
from generator.build.identity import image_reference
from generator.commands.promote import promote
from generator.errors import Location, ModelfleetError, UsageError
from generator.pipeline import render
from generator.read.resolve import ResolvedModel
from generator.validation import validate

DIGEST = "sha256:" + "ab" * 32
SHA = "9f" * 32


def edit(root: Path, name: str, old: str, new: str) -> None:
    path = root / name
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{old!r} is not in {name} exactly once"
    path.write_text(text.replace(old, new), encoding="utf-8")


def pin_staging(root: Path) -> None:
    """Give staging's fraud-detector a digest and an artifact checksum (prod's policy needs both)."""
    edit(root, "environments/staging.yaml", 'image: {tag: "2.4.0-rc1"}', f'image: {{digest: "{DIGEST}"}}')
    edit(
        root,
        "environments/staging.yaml",
        "      uri: s3://acme-models/fraud/2.4.0-rc1/\n",
        f"      uri: s3://acme-models/fraud/2.4.0-rc1/\n      sha256: {SHA}\n",
    )


def resolved(root: Path, env: str, model: str) -> ResolvedModel:
    environment = validate(root).environment(env)
    assert environment is not None
    return next(m for m in environment.models if m.name == model)


def artifact_of(model: ResolvedModel) -> Any:
    return None if model.spec.artifact is None else model.spec.artifact.model_dump()


def line_index(lines: list[str], text: str, start: int = 0) -> int:
    """Index of the first line at or after ``start`` that contains ``text``."""
    return next(i for i in range(start, len(lines)) if text in lines[i])


# ---------------------------------------------------------------------------
# Refusals


def test_refuses_a_tag_and_an_unpinned_artifact_where_policy_forbids_them(example_fleet: Path) -> None:
    prod = example_fleet / "environments" / "prod.yaml"
    before = prod.read_bytes()
    with pytest.raises(ModelfleetError) as caught:
        promote(example_fleet, "fraud-detector", "staging", "prod")
    assert [(f.location, f.path, f.message, f.hint) for f in caught.value.findings] == [
        (
            Location("environments/prod.yaml", 8, 26),
            "policy.requireDigests",
            "cannot promote fraud-detector from staging to prod: prod requires image digests "
            "(policy.requireDigests), but fraud-detector runs tag '2.4.0-rc1' in staging",
            'pin the image in environments/staging.yaml (models.fraud-detector.image: {digest: "sha256:..."}) '
            "and promote again",
        ),
        (
            Location("environments/prod.yaml", 8, 56),
            "policy.requirePinnedArtifacts",
            "cannot promote fraud-detector from staging to prod: prod requires pinned artifacts "
            "(policy.requirePinnedArtifacts), but fraud-detector's artifact s3://acme-models/fraud/2.4.0-rc1/ "
            "has no sha256 in staging",
            "add models.fraud-detector.artifact.sha256 in environments/staging.yaml and promote again",
        ),
    ]
    assert prod.read_bytes() == before


def test_refuses_only_what_the_policy_names(example_fleet: Path) -> None:
    edit(example_fleet, "environments/staging.yaml", 'image: {tag: "2.4.0-rc1"}', f'image: {{digest: "{DIGEST}"}}')
    with pytest.raises(ModelfleetError) as caught:
        promote(example_fleet, "fraud-detector", "staging", "prod")
    assert [f.path for f in caught.value.findings] == ["policy.requirePinnedArtifacts"]


@pytest.mark.parametrize(
    ("model", "source", "target", "message"),
    [
        ("fraud-detecter", "staging", "prod", "no model 'fraud-detecter'; did you mean 'fraud-detector'?"),
        ("fraud-detector", "stagin", "prod", "--from: no environment 'stagin'; did you mean 'staging'?"),
        ("fraud-detector", "staging", "prdo", "--to: no environment 'prdo'; did you mean 'prod'?"),
        ("support-llm", "prod", "dev", "model 'support-llm' is disabled in dev (enabled: false); nothing to promote"),
        ("support-llm", "dev", "prod", "model 'support-llm' is disabled in dev (enabled: false); nothing to promote"),
        ("fraud-detector", "prod", "prod", "--from and --to both name 'prod'; promote copies between two environments"),
    ],
)
def test_usage_errors(example_fleet: Path, model: str, source: str, target: str, message: str) -> None:
    with pytest.raises(UsageError) as caught:
        promote(example_fleet, model, source, target)
    assert str(caught.value) == message


# ---------------------------------------------------------------------------
# Edits


def test_changes_only_the_lines_of_the_models_image_and_artifact(example_fleet: Path) -> None:
    pin_staging(example_fleet)
    prod = example_fleet / "environments" / "prod.yaml"
    old = prod.read_text(encoding="utf-8").splitlines(keepends=True)
    start = line_index(old, "  fraud-detector:")
    image, uri, sha = (line_index(old, text, start) for text in ("    image:", "      uri:", "      sha256:"))

    result = promote(example_fleet, "fraud-detector", "staging", "prod")

    new = prod.read_text(encoding="utf-8").splitlines(keepends=True)
    assert len(new) == len(old)
    changed = {i for i, (a, b) in enumerate(zip(old, new, strict=True)) if a != b}
    assert changed == {image, uri, sha}
    assert new[image] == f'    image: {{digest: "{DIGEST}"}}\n'
    assert new[uri] == "      uri: s3://acme-models/fraud/2.4.0-rc1/\n"
    assert new[sha] == f"      sha256: {SHA}\n"
    # everything else (the header comment, flow mappings, other models) is byte-identical
    assert [line for i, line in enumerate(new) if i not in changed] == [
        line for i, line in enumerate(old) if i not in changed
    ]
    assert result.changed
    assert (result.model, result.source, result.target, result.file) == (
        "fraud-detector",
        "staging",
        "prod",
        "environments/prod.yaml",
    )
    assert result.old_image == (
        "registry.acme.example/ml/fraud-detector@sha256:4c1e8f0a2b9d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f"
    )
    assert result.new_image == f"registry.acme.example/ml/fraud-detector@{DIGEST}"
    assert result.old_artifact == (
        "s3://acme-models/fraud/2.3.1/ (sha256 9f2c4e6a8b0d1f3e5c7a9b2d4f6e8a0c1b3d5f7e9a2c4b6d8f0e1a3c5b7d9f2e)"
    )
    assert result.new_artifact == f"s3://acme-models/fraud/2.4.0-rc1/ (sha256 {SHA})"
    assert result.diff.startswith("--- a/environments/prod.yaml\n+++ b/environments/prod.yaml\n@@ ")
    assert f'+    image: {{digest: "{DIGEST}"}}\n' in result.diff
    assert sum(line.startswith("-") and not line.startswith("---") for line in result.diff.splitlines()) == 3


def test_render_succeeds_and_the_target_runs_what_the_source_runs(example_fleet: Path) -> None:
    pin_staging(example_fleet)
    promote(example_fleet, "fraud-detector", "staging", "prod")
    rendered = render(example_fleet)
    assert {e.name for e in rendered.environments} == {"dev", "prod", "staging"}
    source = resolved(example_fleet, "staging", "fraud-detector")
    target = resolved(example_fleet, "prod", "fraud-detector")
    assert image_reference(target) == image_reference(source)
    assert target.spec.image == source.spec.image
    assert artifact_of(target) == artifact_of(source)
    # the prod-only override next to them is untouched
    assert target.spec.scaling.maxReplicas == 60


def test_creates_the_override_when_the_target_has_none(example_fleet: Path) -> None:
    dev = example_fleet / "environments" / "dev.yaml"
    before = dev.read_text(encoding="utf-8")
    result = promote(example_fleet, "sentiment", "prod", "dev")
    assert dev.read_text(encoding="utf-8") == before + (
        "  sentiment:\n"
        '    image: {digest: "sha256:1f3b5d7a9c1e3f5b7d9a1c3e5f7b9d1a3c5e7f9b1d3a5c7e9f1b3d5a7c9e1f3b"}\n'
        "    artifact:\n"
        "      uri: oci://registry.acme.example/ml-artifacts/sentiment:2024-11-02\n"
        "      sha256: 2c4e6a8b0d1f3e5c7a9b2d4f6e8a0c1b3d5f7e9a2c4b6d8f0e1a3c5b7d9f2e4c\n"
    )
    assert result.changed
    assert artifact_of(resolved(example_fleet, "dev", "sentiment")) == artifact_of(
        resolved(example_fleet, "prod", "sentiment")
    )


def test_adds_keys_to_an_existing_block_override(example_fleet: Path) -> None:
    pin_staging(example_fleet)
    dev = example_fleet / "environments" / "dev.yaml"
    old = dev.read_text(encoding="utf-8").splitlines(keepends=True)
    after_limits = line_index(old, "limits: {memory: 2Gi}") + 1
    promote(example_fleet, "fraud-detector", "staging", "dev")
    assert dev.read_text(encoding="utf-8").splitlines(keepends=True) == [
        *old[:after_limits],
        f'    image: {{digest: "{DIGEST}"}}\n',
        "    artifact:\n",
        "      uri: s3://acme-models/fraud/2.4.0-rc1/\n",
        f"      sha256: {SHA}\n",
        *old[after_limits:],
    ]


def test_creates_the_models_mapping_at_the_end(example_fleet: Path) -> None:
    staging = example_fleet / "environments" / "staging.yaml"
    text = staging.read_text(encoding="utf-8")
    head = text[: text.index("models:\n")]
    staging.write_text(head + "# no per-model overrides yet\n", encoding="utf-8")
    promote(example_fleet, "churn-model", "prod", "staging")
    assert staging.read_text(encoding="utf-8") == head + (
        "# no per-model overrides yet\n"
        "models:\n"
        "  churn-model:\n"
        '    image: {digest: "sha256:6e8a0c2e4b6d8f0a2c4e6b8d0f2a4c6e8b0d2f4a6c8e0b2d4f6a8c0e2b4d6f8a"}\n'
        "    artifact:\n"
        "      uri: pvc://churn-models/v7/\n"
        "      sha256: 8d0f2a4c6e8b0d2f4a6c8e0b2d4f6a8c0e2b4d6f8a0c2e4b6d8f0a2c4e6b8d0f\n"
    )


def test_follows_the_files_indentation_line_ends_and_missing_final_newline(example_fleet: Path) -> None:
    staging = example_fleet / "environments" / "staging.yaml"
    text = staging.read_text(encoding="utf-8")
    head = text[: text.index("models:\n")]
    head = head.replace("  scaling: {minReplicas: 2}", "    scaling:\n        minReplicas: 2")  # indented by four
    staging.write_bytes(head.rstrip("\n").replace("\n", "\r\n").encode("utf-8"))
    promote(example_fleet, "churn-model", "prod", "staging")
    expected = head.rstrip("\n") + (
        "\nmodels:\n"
        "    churn-model:\n"
        '        image: {digest: "sha256:6e8a0c2e4b6d8f0a2c4e6b8d0f2a4c6e8b0d2f4a6c8e0b2d4f6a8c0e2b4d6f8a"}\n'
        "        artifact:\n"
        "            uri: pvc://churn-models/v7/\n"
        "            sha256: 8d0f2a4c6e8b0d2f4a6c8e0b2d4f6a8c0e2b4d6f8a0c2e4b6d8f0a2c4e6b8d0f\n"
    )
    assert staging.read_bytes() == expected.replace("\n", "\r\n").encode("utf-8")


def test_flow_override_stays_flow(example_fleet: Path) -> None:
    edit(
        example_fleet,
        "environments/dev.yaml",
        "  churn-model:\n    expose: {host: churn.dev.acme.example}\n"
        "    scaling: {minReplicas: 0, wakeUp: {router: true}}"
        "   # idle most of the day: scale to zero, woken by ingress-nginx\n",
        "  churn-model: {expose: {host: churn.dev.acme.example}, scaling: {minReplicas: 0, wakeUp: {router: true}}}"
        "   # idle most of the day\n",
    )
    dev = example_fleet / "environments" / "dev.yaml"
    old = dev.read_text(encoding="utf-8").splitlines(keepends=True)
    promote(example_fleet, "churn-model", "prod", "dev")
    new = dev.read_text(encoding="utf-8").splitlines(keepends=True)
    row = line_index(old, "churn-model:")
    assert new[:row] + new[row + 1 :] == old[:row] + old[row + 1 :]
    assert new[row] == (
        "  churn-model: {expose: {host: churn.dev.acme.example}, scaling: {minReplicas: 0, wakeUp: {router: true}}, "
        'image: {digest: "sha256:6e8a0c2e4b6d8f0a2c4e6b8d0f2a4c6e8b0d2f4a6c8e0b2d4f6a8c0e2b4d6f8a"}, '
        "artifact: {uri: pvc://churn-models/v7/, "
        "sha256: 8d0f2a4c6e8b0d2f4a6c8e0b2d4f6a8c0e2b4d6f8a0c2e4b6d8f0a2c4e6b8d0f}}"
        "   # idle most of the day\n"
    )


def test_block_image_stays_block_and_keeps_its_comments(example_fleet: Path) -> None:
    pin_staging(example_fleet)
    old_digest = "sha256:4c1e8f0a2b9d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f"
    edit(
        example_fleet,
        "environments/prod.yaml",
        f'    image: {{digest: "{old_digest}"}}\n',
        f'    image:   # set by the release train\n      digest: "{old_digest}"  # 2.3.1\n',
    )
    prod = example_fleet / "environments" / "prod.yaml"
    old = prod.read_text(encoding="utf-8").splitlines(keepends=True)
    row = line_index(old, f'digest: "{old_digest}"')
    promote(example_fleet, "fraud-detector", "staging", "prod")
    new = prod.read_text(encoding="utf-8").splitlines(keepends=True)
    assert new[row - 1] == "    image:   # set by the release train\n"
    assert new[row] == f'      digest: "{DIGEST}"  # 2.3.1\n'


def test_keeps_an_explicit_repository_and_quotes_ambiguous_tags(example_fleet: Path) -> None:
    edit(
        example_fleet,
        "environments/staging.yaml",
        'image: {tag: "2.4.0-rc1"}',
        'image: {repository: registry.acme.example/ml/mirror/fraud, tag: "1.10"}',
    )
    result = promote(example_fleet, "fraud-detector", "staging", "dev")
    assert result.new_image == "registry.acme.example/ml/mirror/fraud:1.10"
    text = (example_fleet / "environments" / "dev.yaml").read_text(encoding="utf-8")
    assert '    image: {repository: registry.acme.example/ml/mirror/fraud, tag: "1.10"}\n' in text
    target = resolved(example_fleet, "dev", "fraud-detector")
    assert target.spec.image.tag == "1.10"
    assert image_reference(target) == "registry.acme.example/ml/mirror/fraud:1.10"


def test_replacing_the_image_drops_a_repository_the_source_does_not_set(example_fleet: Path) -> None:
    pin_staging(example_fleet)
    old_digest = "sha256:4c1e8f0a2b9d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f"
    edit(
        example_fleet,
        "environments/prod.yaml",
        f'image: {{digest: "{old_digest}"}}',
        f'image: {{repository: registry.acme.example/ml/mirror/fraud, digest: "{old_digest}"}}',
    )
    promote(example_fleet, "fraud-detector", "staging", "prod")
    target = resolved(example_fleet, "prod", "fraud-detector")
    assert target.spec.image.repository is None
    assert target.spec.image.digest == DIGEST


def test_a_source_without_artifact_is_copied_as_null(example_fleet: Path) -> None:
    edit(
        example_fleet,
        "environments/staging.yaml",
        "    artifact:\n      uri: s3://acme-models/fraud/2.4.0-rc1/\n",
        "    artifact: null\n",
    )
    result = promote(example_fleet, "fraud-detector", "staging", "dev")
    assert result.new_artifact == "none"
    assert "    artifact: null\n" in (example_fleet / "environments" / "dev.yaml").read_text(encoding="utf-8")
    assert resolved(example_fleet, "dev", "fraud-detector").spec.artifact is None


# ---------------------------------------------------------------------------
# Nothing to do, and never a broken file


def test_same_state_changes_nothing(example_fleet: Path) -> None:
    dev = example_fleet / "environments" / "dev.yaml"
    os.utime(dev, ns=(1_000_000_000, 1_000_000_000))
    before = dev.read_bytes()
    result = promote(example_fleet, "image-classifier", "staging", "dev")  # both run models.yaml's image
    assert not result.changed
    assert result.diff == ""
    assert result.old_image == result.new_image == "registry.acme.example/ml/image-classifier:25.01-r1"
    assert result.old_artifact == result.new_artifact
    assert dev.read_bytes() == before
    assert dev.stat().st_mtime_ns == 1_000_000_000


def test_promoting_twice_changes_nothing_the_second_time(example_fleet: Path) -> None:
    pin_staging(example_fleet)
    assert promote(example_fleet, "fraud-detector", "staging", "prod").changed
    prod = example_fleet / "environments" / "prod.yaml"
    mtime = prod.stat().st_mtime_ns
    again = promote(example_fleet, "fraud-detector", "staging", "prod")
    assert not again.changed
    assert prod.stat().st_mtime_ns == mtime


def test_restores_the_file_when_the_result_does_not_validate(
    example_fleet: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pin_staging(example_fleet)
    prod = example_fleet / "environments" / "prod.yaml"
    before = prod.read_bytes()
    calls: list[Path] = []
    real = validate

    def failing_after_write(root: Path) -> Any:
        calls.append(root)
        if len(calls) > 1:
            assert prod.read_bytes() != before  # the edit was written
            raise ModelfleetError([])
        return real(root)

    monkeypatch.setattr(generator.commands.promote, "validate", failing_after_write)
    with pytest.raises(ModelfleetError):
        promote(example_fleet, "fraud-detector", "staging", "prod")
    assert len(calls) == 2
    assert prod.read_bytes() == before
    assert not [p for p in prod.parent.iterdir() if p.name.endswith(".tmp")]


def test_refuses_to_rewrite_a_yaml_alias(example_fleet: Path) -> None:
    edit(
        example_fleet,
        "environments/dev.yaml",
        "  churn-model:\n",
        '  sentiment:\n    image: &pinned {tag: "9.9.9"}\n  churn-model:\n    image: *pinned\n',
    )
    dev = example_fleet / "environments" / "dev.yaml"
    before = dev.read_bytes()
    with pytest.raises(ModelfleetError) as caught:
        promote(example_fleet, "churn-model", "prod", "dev")
    assert [f.message for f in caught.value.findings] == [
        "cannot edit models.churn-model in environments/dev.yaml automatically: the value is a YAML alias"
    ]
    assert dev.read_bytes() == before


def test_written_values_read_back_as_strings(example_fleet: Path) -> None:
    pin_staging(example_fleet)
    promote(example_fleet, "fraud-detector", "staging", "dev")
    data = yaml.safe_load((example_fleet / "environments" / "dev.yaml").read_text(encoding="utf-8"))
    override = data["models"]["fraud-detector"]
    assert override["image"] == {"digest": DIGEST}
    assert override["artifact"] == {"uri": "s3://acme-models/fraud/2.4.0-rc1/", "sha256": SHA}
