"""resolve: layer order, merge rules, provenance and policy, on copies of the small
valid fleet in tests/invalid/_base/ with one edit each."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from generator.errors import Finding, Location, ModelfleetError
from generator.read.resolve import Resolution, ResolvedModel
from generator.validation import validate

BASE = Path(__file__).resolve().parent / "invalid" / "_base"
DIGEST = "sha256:" + "ab" * 32
SHA = "cd" * 32

PROD = """\
apiVersion: modelfleet/v1
kind: Environment
name: prod
namespace: ml-prod
cluster: {name: prod-1, server: https://prod-1.example.com}
kubernetesVersion: "1.31"
"""


@pytest.fixture
def fleet(tmp_path: Path) -> Path:
    root = tmp_path / "fleet"
    shutil.copytree(BASE, root)
    return root


def write_prod(root: Path, rest: str) -> None:
    (root / "environments" / "prod.yaml").write_text(PROD + rest, encoding="utf-8")


def edit(root: Path, name: str, old: str, new: str) -> None:
    path = root / name
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{old!r} is not in {name} exactly once"
    path.write_text(text.replace(old, new), encoding="utf-8")


def where(root: Path, name: str, line_text: str, value: str) -> Location:
    """The location of ``value`` on the one line of ``name`` that contains ``line_text``."""
    lines = (root / name).read_text(encoding="utf-8").splitlines()
    matches = [number for number, line in enumerate(lines, start=1) if line_text in line]
    assert len(matches) == 1, f"{line_text!r} is on lines {matches} of {name}"
    line = lines[matches[0] - 1]
    return Location(name, matches[0], line.index(value, line.index(line_text)) + 1)


def model(resolution: Resolution, env: str, name: str) -> ResolvedModel:
    environment = resolution.environment(env)
    assert environment is not None
    found = [m for m in environment.models if m.name == name]
    assert found, f"{name} is not deployed in {env}"
    return found[0]


def findings(root: Path) -> list[Finding]:
    with pytest.raises(ModelfleetError) as info:
        validate(root)
    return info.value.findings


def one(root: Path) -> Finding:
    [finding] = findings(root)
    return finding


# ---------------------------------------------------------------- merge rules


def test_mapping_override_keeps_sibling_keys(fleet: Path) -> None:
    # dev overrides ranker's scaling.maxReplicas only
    ranker = model(validate(fleet), "dev", "ranker")
    assert (ranker.spec.scaling.minReplicas, ranker.spec.scaling.maxReplicas) == (1, 2)
    assert ranker.spec.scaling.targets.cpuUtilization == 70  # from the fleet defaults


def test_env_dict_merges_key_by_key(fleet: Path) -> None:
    write_prod(fleet, "models:\n  scorer:\n    env: {EXTRA: '1'}\n")
    scorer = model(validate(fleet), "prod", "scorer")
    assert scorer.spec.env == {"MODEL_MODE": "fast", "EXTRA": "1"}


def test_secrets_list_is_replaced_not_appended(fleet: Path) -> None:
    write_prod(fleet, "models:\n  scorer:\n    secrets:\n      - env: OTHER\n        secretRef: {name: o, key: k}\n")
    scorer = model(validate(fleet), "prod", "scorer")
    assert [s.env for s in scorer.spec.secrets] == ["OTHER"]
    assert [s.env for s in model(validate(fleet), "dev", "scorer").spec.secrets] == ["API_TOKEN"]


def test_config_files_list_is_replaced(fleet: Path) -> None:
    (fleet / "services" / "scorer" / "config" / "prod.yaml").write_text("a: 1\n", encoding="utf-8")
    write_prod(fleet, "models:\n  scorer:\n    config: {files: [services/scorer/config/prod.yaml]}\n")
    scorer = model(validate(fleet), "prod", "scorer")
    assert scorer.spec.config.files == ["services/scorer/config/prod.yaml"]


def test_empty_list_override_clears_the_list(fleet: Path) -> None:
    write_prod(fleet, "models:\n  scorer:\n    config: {files: []}\n    secrets: []\n")
    scorer = model(validate(fleet), "prod", "scorer")
    assert (scorer.spec.config.files, scorer.spec.secrets) == ([], [])


def test_image_is_replaced_as_a_whole(fleet: Path) -> None:
    # a merged image would hold both the model's tag and the override's digest: an error
    write_prod(fleet, f"models:\n  scorer:\n    image: {{digest: '{DIGEST}'}}\n")
    scorer = model(validate(fleet), "prod", "scorer")
    assert (scorer.spec.image.tag, scorer.spec.image.digest) == (None, DIGEST)


def test_artifact_is_replaced_as_a_whole(fleet: Path) -> None:
    write_prod(fleet, "models:\n  scorer:\n    artifact: {uri: 'gs://other/scorer/'}\n")
    scorer = model(validate(fleet), "prod", "scorer")
    assert scorer.spec.artifact is not None
    assert (scorer.spec.artifact.uri, scorer.spec.artifact.sha256) == ("gs://other/scorer/", None)


def test_request_above_limit_is_an_error(fleet: Path) -> None:
    edit(
        fleet,
        "models.yaml",
        "    env:\n      MODEL_MODE: fast\n",
        "    resources: {requests: {memory: 4Gi}, limits: {memory: 1Gi}}\n    env:\n      MODEL_MODE: fast\n",
    )
    finding = one(fleet)
    assert finding.path.startswith("models[0].resources.")
    assert finding.location is not None and finding.location.file == "models.yaml"


# ---------------------------------------------------------------- layer order


def test_env_defaults_beat_the_model(fleet: Path) -> None:
    # ranker sets minReplicas 1; prod defaults set 3
    assert model(validate(fleet), "prod", "ranker").spec.scaling.minReplicas == 3
    assert model(validate(fleet), "dev", "ranker").spec.scaling.minReplicas == 1


def test_full_layer_order(fleet: Path) -> None:
    write_prod(fleet, "defaults:\n  scaling: {minReplicas: 3}\nmodels:\n  ranker:\n    scaling: {minReplicas: 2}\n")
    ranker = model(validate(fleet), "prod", "ranker")
    assert ranker.spec.scaling.minReplicas == 2
    chain = ranker.origin_chain(("scaling", "minReplicas"))
    assert [o.layer for o in chain] == ["fleet defaults", "model", "prod defaults", "prod override"]
    assert [o.location.file for o in chain] == ["models.yaml", "models.yaml", *["environments/prod.yaml"] * 2]


def test_base_has_no_environment_layers(fleet: Path) -> None:
    resolution = validate(fleet)
    scorer = next(m for m in resolution.base if m.name == "scorer")
    assert scorer.environment is None
    assert (scorer.spec.scaling.minReplicas, scorer.spec.scaling.maxReplicas) == (2, 6)
    assert [m.name for m in resolution.base] == ["ranker", "scorer"]


# ---------------------------------------------------------------- enabled


def test_disabled_model_is_removed_from_that_environment_only(fleet: Path) -> None:
    write_prod(fleet, "models:\n  scorer:\n    enabled: false\n")
    resolution = validate(fleet)
    prod, dev = resolution.environment("prod"), resolution.environment("dev")
    assert prod is not None and dev is not None
    assert [m.name for m in prod.models] == ["ranker"]
    assert [m.name for m in dev.models] == ["ranker", "scorer"]
    assert [m.name for m in resolution.base] == ["ranker", "scorer"]


def test_disabled_model_is_exempt_from_policy(fleet: Path) -> None:
    write_prod(
        fleet, "policy: {requireDigests: true}\nmodels:\n  scorer: {enabled: false}\n  ranker: {enabled: false}\n"
    )
    prod = validate(fleet).environment("prod")
    assert prod is not None and prod.models == ()


def test_disabled_model_is_not_validated_against_env_defaults(fleet: Path) -> None:
    # ranker has maxReplicas 4; prod's default minReplicas 5 suits scorer (maxReplicas 12) only
    write_prod(
        fleet,
        "defaults:\n  scaling: {minReplicas: 5}\n"
        "models:\n  scorer:\n    scaling: {maxReplicas: 12}\n  ranker:\n    enabled: false\n",
    )
    prod = validate(fleet).environment("prod")
    assert prod is not None
    assert [m.name for m in prod.models] == ["scorer"]


# ---------------------------------------------------------------- provenance


def test_origin_chain_lists_every_setter_in_order(fleet: Path) -> None:
    ranker = model(validate(fleet), "dev", "ranker")
    chain = ranker.origin_chain(("scaling", "maxReplicas"))
    assert [(o.location, o.layer) for o in chain] == [
        (where(fleet, "models.yaml", "scaling: {minReplicas: 2, maxReplicas: 6", "6"), "fleet defaults"),
        (where(fleet, "models.yaml", "maxReplicas: 4", "4"), "model"),
        (where(fleet, "environments/dev.yaml", "scaling: {maxReplicas: 2}", "2"), "dev override"),
    ]
    assert str(chain[-1]) == f"{chain[-1].location}  (dev override)"


def test_value_set_only_by_defaults(fleet: Path) -> None:
    scorer = model(validate(fleet), "dev", "scorer")
    cpu = where(fleet, "models.yaml", "requests: {cpu: 250m", "250m")
    assert [(o.location, o.layer) for o in scorer.origin_chain(("resources", "requests", "cpu"))] == [
        (cpu, "fleet defaults")
    ]


def test_built_in_default_has_no_origin(fleet: Path) -> None:
    scorer = model(validate(fleet), "dev", "scorer")
    assert scorer.spec.startup.maxSeconds == 300
    assert scorer.origin_chain(("startup", "maxSeconds")) == ()


def test_replaced_list_forgets_the_old_items(fleet: Path) -> None:
    write_prod(fleet, "models:\n  scorer:\n    secrets:\n      - env: OTHER\n        secretRef: {name: o, key: k}\n")
    scorer = model(validate(fleet), "prod", "scorer")
    assert [o.layer for o in scorer.origin_chain(("secrets",))] == ["model", "prod override"]
    assert [o.location for o in scorer.origin_chain(("secrets", 0, "env"))] == [
        where(fleet, "environments/prod.yaml", "- env: OTHER", "OTHER")
    ]


def test_replaced_image_forgets_the_old_tag(fleet: Path) -> None:
    write_prod(fleet, f"models:\n  scorer:\n    image: {{digest: '{DIGEST}'}}\n")
    scorer = model(validate(fleet), "prod", "scorer")
    assert scorer.origin_chain(("image", "tag")) == ()
    assert [o.layer for o in scorer.origin_chain(("image",))] == ["model", "prod override"]
    document, path = scorer.locate(("image", "digest"))
    assert (document.path, path) == ("environments/prod.yaml", ("models", "scorer", "image", "digest"))


def test_merged_error_points_at_the_environment_file(fleet: Path) -> None:
    write_prod(fleet, "models:\n  scorer:\n    scaling: {minReplicas: 9}\n")
    finding = one(fleet)
    assert finding.message == "minReplicas 9 is more than maxReplicas 6 (in environment prod)"
    assert finding.location == where(fleet, "environments/prod.yaml", "minReplicas: 9", "9")
    assert finding.path == "models.scorer.scaling.minReplicas"


# ---------------------------------------------------------------- policy


def test_require_digests(fleet: Path) -> None:
    write_prod(fleet, f"policy: {{requireDigests: true}}\nmodels:\n  ranker:\n    image: {{digest: '{DIGEST}'}}\n")
    image, fetcher = findings(fleet)
    assert image.message == "environment prod requires image digests, but scorer uses tag '1.0.0'"
    assert image.hint == "in environments/prod.yaml set models.scorer.image.digest: sha256:..."
    assert image.path == "models[0].image"
    assert image.location == where(fleet, "models.yaml", 'tag: "1.0.0"', "tag")
    # scorer's s3:// artifact is fetched by rclone, whose default image is pinned by tag only
    assert fetcher.message == (
        "environment prod requires image digests, but scorer's artifact is fetched by "
        "docker.io/rclone/rclone:1.68.2, which is pinned by tag only"
    )
    assert fetcher.path == "models[0].artifact.uri"
    assert "fleet.fetcherImages.rclone" in fetcher.hint


PINNED_RCLONE = f"registry.example.com/ml/mirror/rclone:1.68.2@{DIGEST}"


def pin_fetchers(root: Path) -> None:
    edit(root, "models.yaml", "  alerting:\n", f"  fetcherImages: {{rclone: '{PINNED_RCLONE}'}}\n  alerting:\n")


def test_require_digests_is_met_by_overrides(fleet: Path) -> None:
    pin_fetchers(fleet)
    write_prod(
        fleet,
        "policy: {requireDigests: true}\nmodels:\n"
        f"  ranker:\n    image: {{digest: '{DIGEST}'}}\n  scorer:\n    image: {{digest: '{DIGEST}'}}\n",
    )
    scorer = model(validate(fleet), "prod", "scorer")
    assert scorer.spec.image.digest == DIGEST
    assert scorer.fleet.fetcher_image("rclone") == PINNED_RCLONE


def test_fetcher_needs_no_digest_without_the_policy(fleet: Path) -> None:
    validate(fleet)  # rclone by tag, and no environment requires digests
    pin_fetchers(fleet)
    resolution = validate(fleet)
    assert resolution.fleet.fetcher_images() == ["ghcr.io/oras-project/oras:v1.2.0", PINNED_RCLONE]


def test_require_pinned_artifacts(fleet: Path) -> None:
    # ranker has no artifact: nothing to pin
    write_prod(fleet, "policy: {requirePinnedArtifacts: true}\n")
    finding = one(fleet)
    assert finding.message == "environment prod requires pinned artifacts, but scorer's artifact has no sha256"
    assert finding.hint == "add artifact.sha256 (64 hex digits) for this environment"
    assert finding.location == where(fleet, "models.yaml", "uri: s3://bucket/scorer/1.0.0/", "uri")


def test_require_pinned_artifacts_is_met_by_an_override(fleet: Path) -> None:
    write_prod(
        fleet,
        f"policy: {{requirePinnedArtifacts: true}}\nmodels:\n  scorer:\n"
        f"    artifact: {{uri: 's3://bucket/scorer/1.0.0/', sha256: '{SHA}'}}\n",
    )
    scorer = model(validate(fleet), "prod", "scorer")
    assert scorer.spec.artifact is not None and scorer.spec.artifact.sha256 == SHA


def test_baked_artifacts_need_no_pin(fleet: Path) -> None:
    write_prod(
        fleet, "policy: {requirePinnedArtifacts: true}\nmodels:\n  scorer:\n    artifact: {uri: 'image://model'}\n"
    )
    assert model(validate(fleet), "prod", "scorer").spec.artifact is not None


def test_policy_applies_to_its_environment_only(fleet: Path) -> None:
    write_prod(fleet, "policy: {requireDigests: true, requirePinnedArtifacts: true}\n")
    assert {f.message.split(",")[0] for f in findings(fleet)} == {
        "environment prod requires image digests",
        "environment prod requires pinned artifacts",
    }


# ---------------------------------------------------------------- overrides that name nothing


def test_override_of_unknown_model(fleet: Path) -> None:
    write_prod(fleet, "models:\n  scorr:\n    scaling: {maxReplicas: 3}\n")
    finding = one(fleet)
    assert finding.message == "override for unknown model 'scorr'"
    assert finding.hint == "did you mean 'scorer'?"
    assert finding.path == "models.scorr"
    assert finding.location == Location("environments/prod.yaml", 8, 3)  # the key


def test_override_of_unknown_model_lists_the_models(fleet: Path) -> None:
    write_prod(fleet, "models:\n  zzzzz: {}\n")
    assert one(fleet).hint == "allowed here: ranker, scorer"


def test_override_of_unknown_key(fleet: Path) -> None:
    write_prod(fleet, "models:\n  scorer:\n    scaling: {maxReplica: 3}\n")
    finding = one(fleet)
    assert finding.message == "unknown field 'maxReplica'"
    assert finding.hint == "did you mean 'maxReplicas'?"
