"""parse: loaded documents to spec layers, and pydantic errors translated into findings
that say where, what and how to fix it."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import pytest

from generator.errors import Finding, Location, ModelfleetError
from generator.read.load import parse_text
from generator.read.parse import (
    allowed_keys,
    annotation_at,
    did_you_mean,
    parse_environment_document,
    parse_fleet_document,
)
from generator.spec.environment import EnvironmentFile
from generator.spec.fleet import FleetFile
from generator.spec.workload import Image

FLEET = """\
apiVersion: modelfleet/v1
kind: ModelFleet
fleet:
  name: f
  registry: registry.example.com/ml
  gitops: {repoURL: https://git.example.com/x.git}
  alerting: {runbookBaseURL: https://rb.example.com}
models:
  - name: m
    owner: team
    runtime: python
    image: {tag: "1.0"}
"""

ENV = """\
apiVersion: modelfleet/v1
kind: Environment
name: dev
namespace: ml-dev
cluster: {name: dev-1, server: https://dev-1.example.com}
kubernetesVersion: "1.31"
"""


def fleet(text: str, tmp_path: Path) -> FleetFile:
    return parse_fleet_document(parse_text(text, "models.yaml"), tmp_path)


def environment(text: str, tmp_path: Path, display: str = "environments/dev.yaml") -> EnvironmentFile:
    return parse_environment_document(parse_text(text, display), tmp_path)


def fleet_findings(text: str, tmp_path: Path) -> list[Finding]:
    with pytest.raises(ModelfleetError) as info:
        fleet(text, tmp_path)
    return info.value.findings


def env_findings(text: str, tmp_path: Path, display: str = "environments/dev.yaml") -> list[Finding]:
    with pytest.raises(ModelfleetError) as info:
        environment(text, tmp_path, display)
    return info.value.findings


def one(findings: list[Finding]) -> Finding:
    assert len(findings) == 1, findings
    return findings[0]


# ---------------------------------------------------------------- helpers


def test_did_you_mean_close_match() -> None:
    assert did_you_mean("scalng", ["scaling", "rollout"]) == "did you mean 'scaling'?"


def test_did_you_mean_ignores_case() -> None:
    assert did_you_mean("MinReplicas", ["minReplicas", "maxReplicas"]) == "did you mean 'minReplicas'?"


def test_did_you_mean_lists_sorted_choices_when_nothing_is_close() -> None:
    assert did_you_mean("zzz", ["rollout", "env"]) == "allowed here: env, rollout"


def test_did_you_mean_without_choices_is_empty() -> None:
    assert did_you_mean("x", []) == ""


def test_annotation_at_walks_models_lists_and_dicts() -> None:
    assert annotation_at(FleetFile, ("models", 0, "scaling", "engine")) == Literal["hpa", "keda"]
    assert annotation_at(EnvironmentFile, ("models", "any-name", "image")) is Image
    assert annotation_at(FleetFile, ("fleet", "nope")) is None
    assert annotation_at(FleetFile, ("fleet", "name", "deeper")) is None


def test_allowed_keys_use_aliases() -> None:
    assert allowed_keys(FleetFile, ()) == ["apiVersion", "kind", "fleet", "defaults", "models"]
    assert allowed_keys(FleetFile, ("models", 3, "monitoring", "modelMetrics", 0, "alert")) == [
        "expr",
        "for",
        "severity",
    ]
    assert allowed_keys(FleetFile, ("fleet", "name")) == []


# ---------------------------------------------------------------- translated errors


def test_valid_fleet_parses(tmp_path: Path) -> None:
    parsed = fleet(FLEET, tmp_path)
    assert parsed.fleet.name == "f"
    assert len(parsed.models) == 1


def test_extra_key_did_you_mean(tmp_path: Path) -> None:
    finding = one(fleet_findings(FLEET + "    scalng: {minReplicas: 3}\n", tmp_path))
    assert finding.message == "unknown field 'scalng'"
    assert finding.hint == "did you mean 'scaling'?"
    assert finding.path == "models[0].scalng"
    assert finding.location == Location("models.yaml", 13, 5)  # the key, not its value


def test_extra_key_lists_allowed_keys_when_nothing_is_close(tmp_path: Path) -> None:
    finding = one(fleet_findings(FLEET + "defaults: {image: {tag: '1'}}\n", tmp_path))
    assert finding.message == "unknown field 'image'"
    assert finding.hint == (
        "allowed here: config, env, expose, logging, monitoring, owner, port, resources, rollout, runtime, "
        "scaling, secrets, startup"
    )


def test_literal_did_you_mean(tmp_path: Path) -> None:
    finding = one(fleet_findings(FLEET.replace("runtime: python", "runtime: pyton"), tmp_path))
    assert finding.message == "'pyton' is not one of: python, mlserver, triton, torchserve, tfserving, vllm"
    assert finding.hint == "did you mean 'python'?"
    assert finding.location == Location("models.yaml", 11, 14)
    assert finding.path == "models[0].runtime"


def test_literal_wrong_case(tmp_path: Path) -> None:
    finding = one(fleet_findings(FLEET + "    rollout: {strategy: Canary}\n", tmp_path))
    assert finding.message == "'Canary' is not one of: rolling, canary, blueGreen"
    assert finding.hint == "did you mean 'canary'?"


def test_missing_field(tmp_path: Path) -> None:
    finding = one(fleet_findings(FLEET.replace("  registry: registry.example.com/ml\n", ""), tmp_path))
    assert finding.message == "missing required field 'registry'"
    assert finding.hint == "add 'registry:' here"
    assert finding.path == "fleet.registry"
    assert finding.location == Location("models.yaml", 4, 3)  # the mapping that lacks it


def test_plaintext_secret_is_called_out(tmp_path: Path) -> None:
    findings = fleet_findings(FLEET + "    secrets: [{env: TOKEN, value: hunter2}]\n", tmp_path)
    messages = {f.path: f.message for f in findings}
    assert messages["models[0].secrets[0].value"] == "plaintext secret values are not allowed in the spec"


@pytest.mark.parametrize(
    ("extra", "plain", "read_as", "column"),
    [
        ("    description: no\n", "no", "false", 18),
        ("    env: {LEVEL: on}\n", "on", "true", 18),
        ("    env: {UMASK: 0755}\n", "0755", "493", 18),
        ("    env: {RATIO: 1:20}\n", "1:20", "80", 18),
        ("    build: {context: ., pythonVersion: 3.10, command: [x]}\n", "3.10", "3.1", 40),
    ],
)
def test_quote_it_hint_for_yaml11_coercions(extra: str, plain: str, read_as: str, column: int, tmp_path: Path) -> None:
    finding = one(fleet_findings(FLEET + extra, tmp_path))
    assert finding.message == f"{plain} was read by YAML as {read_as}, not as the text '{plain}'"
    assert finding.hint == f'quote it: "{plain}"'
    assert finding.location == Location("models.yaml", 13, column)


def test_quote_it_hint_at_the_owner_label(tmp_path: Path) -> None:
    finding = one(fleet_findings(FLEET.replace("owner: team", "owner: no"), tmp_path))
    assert finding.path == "models[0].owner"
    assert finding.location == Location("models.yaml", 10, 12)


def test_quote_it_hint_for_float_version(tmp_path: Path) -> None:
    finding = one(env_findings(ENV.replace('"1.31"', "1.30"), tmp_path))
    assert finding.message == "1.30 was read by YAML as 1.3, not as the text '1.30'"
    assert finding.hint == 'quote it: "1.30"'
    assert finding.location == Location("environments/dev.yaml", 6, 20)


def test_boolean_where_a_number_is_expected(tmp_path: Path) -> None:
    finding = one(fleet_findings(FLEET + "    scaling: {minReplicas: no}\n", tmp_path))
    assert finding.message == "no was read by YAML as false"
    assert finding.path == "models[0].scaling.minReplicas"


def test_quoted_values_parse_as_text(tmp_path: Path) -> None:
    parsed = fleet(FLEET + "    env: {LEVEL: 'on', UMASK: \"0755\"}\n", tmp_path)
    assert parsed.models[0].env == {"LEVEL": "on", "UMASK": "0755"}  # type: ignore[attr-defined]


# ---------------------------------------------------------------- strict types


def test_int_where_text_is_expected_fails(tmp_path: Path) -> None:
    finding = one(fleet_findings(FLEET + "    env: {RETRIES: 12}\n", tmp_path))
    assert finding.path == "models[0].env.RETRIES"
    assert finding.hint == 'quote it: "12"'


def test_text_where_a_number_is_expected_fails(tmp_path: Path) -> None:
    finding = one(fleet_findings(FLEET + "    port: '8080'\n", tmp_path))
    assert finding.message == "expected a whole number, got '8080'"


def test_float_where_an_int_is_expected_fails(tmp_path: Path) -> None:
    finding = one(fleet_findings(FLEET + "    port: 8080.0\n", tmp_path))
    assert finding.message == "expected a whole number, got 8080.0"


def test_text_where_a_boolean_is_expected_fails(tmp_path: Path) -> None:
    finding = one(fleet_findings(FLEET + "    enabled: 'true'\n", tmp_path))
    assert finding.message == "expected true or false, got 'true'"


@pytest.mark.parametrize(("written", "stored"), [("1", "1"), ("2", "2"), ("0.5", "0.5"), ("'1500m'", "1500m")])
def test_quantity_accepts_numbers(written: str, stored: str, tmp_path: Path) -> None:
    parsed = fleet(FLEET + f"    resources: {{requests: {{cpu: {written}}}}}\n", tmp_path)
    assert parsed.models[0].resources.requests.cpu == stored  # type: ignore[attr-defined]


def test_quantity_rejects_a_malformed_unit(tmp_path: Path) -> None:
    finding = one(fleet_findings(FLEET + "    resources: {requests: {memory: 2GB}}\n", tmp_path))
    assert finding.message == "'2GB' is not a Kubernetes quantity"
    assert finding.hint == "write CPU as '500m' or '2', memory as '512Mi' or '4Gi'"
    assert finding.path == "models[0].resources.requests.memory"
    assert finding.location == Location("models.yaml", 13, 36)


def test_quantity_rejects_a_negative_request(tmp_path: Path) -> None:
    finding = one(fleet_findings(FLEET + "    resources: {requests: {cpu: '-1'}}\n", tmp_path))
    assert finding.path == "models[0].resources.requests.cpu"


def test_quantity_rejects_a_boolean(tmp_path: Path) -> None:
    finding = one(fleet_findings(FLEET + "    resources: {requests: {cpu: yes}}\n", tmp_path))
    assert finding.path == "models[0].resources.requests.cpu"
    assert finding.hint == 'quote it: "yes"'


# ---------------------------------------------------------------- layers


def test_model_entry_layer_may_omit_fields_the_defaults_can_fill(tmp_path: Path) -> None:
    parsed = fleet(FLEET.replace("    owner: team\n", ""), tmp_path)
    assert parsed.models[0].owner is None  # type: ignore[attr-defined]


def test_layer_keeps_cross_field_rules_for_later(tmp_path: Path) -> None:
    # minReplicas 20 > the built-in maxReplicas 10, but a layer is not the merged result
    parsed = fleet(FLEET + "defaults: {scaling: {minReplicas: 20}}\n", tmp_path)
    assert parsed.defaults.scaling.minReplicas == 20  # type: ignore[attr-defined]
    assert parsed.defaults.scaling.maxReplicas is None  # type: ignore[attr-defined]


def test_override_layer_accepts_any_subset(tmp_path: Path) -> None:
    env = environment(ENV + "models:\n  m:\n    scaling: {minReplicas: 20}\n    enabled: false\n", tmp_path)
    override = env.models["m"]
    assert override.enabled is False  # type: ignore[attr-defined]
    assert override.scaling.minReplicas == 20  # type: ignore[attr-defined]
    assert override.image is None  # type: ignore[attr-defined]


def test_override_layer_keeps_per_field_checks(tmp_path: Path) -> None:
    finding = one(env_findings(ENV + "models:\n  m:\n    resources: {requests: {memory: 2GB}}\n", tmp_path))
    assert finding.message == "'2GB' is not a Kubernetes quantity"
    assert finding.path == "models.m.resources.requests.memory"
    assert finding.location == Location("environments/dev.yaml", 9, 36)


def test_override_layer_checks_image_as_a_whole(tmp_path: Path) -> None:
    digest = "sha256:" + "a" * 64
    text = ENV + f"models:\n  m:\n    image: {{tag: '1', digest: '{digest}'}}\n"
    finding = one(env_findings(text, tmp_path))
    assert finding.message == "image needs exactly one of 'tag' or 'digest' (both are set)"
    assert finding.path == "models.m.image"


def test_override_layer_rejects_fields_an_environment_cannot_change(tmp_path: Path) -> None:
    finding = one(env_findings(ENV + "models:\n  m:\n    owner: other\n", tmp_path))
    assert finding.message == "unknown field 'owner'"
    assert finding.location == Location("environments/dev.yaml", 9, 5)


# ---------------------------------------------------------------- whole files


def test_valid_environment_parses(tmp_path: Path) -> None:
    env = environment(ENV, tmp_path)
    assert (env.name, env.namespace, env.kubernetesVersion) == ("dev", "ml-dev", "1.31")
    assert env.policy.requireDigests is False
    assert env.models == {}


def test_environment_name_must_match_file_name(tmp_path: Path) -> None:
    finding = one(env_findings(ENV, tmp_path, "environments/prod.yaml"))
    assert finding.message == "environment name 'dev' does not match its file name 'prod.yaml'"
    assert finding.hint == "rename the file to environments/dev.yaml or set name: prod"
    assert finding.location == Location("environments/prod.yaml", 3, 7)


def test_environment_typo_in_policy(tmp_path: Path) -> None:
    finding = one(env_findings(ENV + "policy: {requireDigest: true}\n", tmp_path))
    assert finding.message == "unknown field 'requireDigest'"
    assert finding.hint == "did you mean 'requireDigests'?"
    assert finding.location == Location("environments/dev.yaml", 7, 10)


def test_wrong_kind(tmp_path: Path) -> None:
    finding = one(fleet_findings(FLEET.replace("kind: ModelFleet", "kind: Environment"), tmp_path))
    assert finding.message == "expected kind ModelFleet, found 'Environment'"
    assert finding.location == Location("models.yaml", 2, 7)


def test_unsupported_api_version(tmp_path: Path) -> None:
    finding = one(env_findings(ENV.replace("modelfleet/v1", "modelfleet/v2"), tmp_path))
    assert finding.message == "unsupported apiVersion 'modelfleet/v2'"
    assert finding.hint == "write apiVersion: modelfleet/v1"


def test_duplicate_model_names(tmp_path: Path) -> None:
    text = FLEET + "  - name: m\n    owner: t\n    runtime: python\n    image: {tag: '1'}\n"
    finding = one(fleet_findings(text, tmp_path))
    assert finding.message == "model name 'm' is used twice (first at line 9)"
    assert finding.location == Location("models.yaml", 13, 11)


def test_a_file_check_passed_once_is_not_repeated_but_a_failure_is_reported_everywhere(tmp_path: Path) -> None:
    """The file-system checks of one validation are remembered only once passed (spec.paths):
    every model that names a bad config file gets its own finding, at its own line."""
    from generator.read.load import load_fleet
    from generator.validation import validate_sources

    (tmp_path / "svc").mkdir()
    (tmp_path / "svc" / "good.json").write_text("{}\n")
    (tmp_path / "svc" / "bad.json").write_bytes(b"\xff\xfe not text\n")
    models = "".join(
        f"  - name: m{i}\n    owner: team\n    runtime: python\n    image: {{tag: \"1.0\"}}\n"
        f"    config: {{files: [svc/good.json, {name}]}}\n"
        for i, name in enumerate(["svc/bad.json", "svc/good.json", "svc/bad.json"])
    )
    (tmp_path / "models.yaml").write_text(FLEET.split("models:\n", maxsplit=1)[0] + "models:\n" + models)
    (tmp_path / "environments").mkdir()
    (tmp_path / "environments" / "dev.yaml").write_text(ENV)
    with pytest.raises(ModelfleetError) as info:
        validate_sources(load_fleet(tmp_path), known_clean=frozenset())
    bad = [f for f in info.value.findings if "bad.json" in f.message]
    assert sorted({(f.path, f.location.line if f.location else 0) for f in bad}) == [
        ("models[0].config.files[1]", 13),
        ("models[2].config.files[1]", 23),
    ]
    assert all("is not UTF-8 text" in f.message for f in bad)
