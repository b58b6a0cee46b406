"""Tests for generator.check.kubeschema: strict Kubernetes schema validation."""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import jsonschema
import jsonschema_rs
import pytest

from generator.check import kubeschema
from generator.check.kubeschema import KubeValidator, validate_objects
from generator.check.schemaengine import KubeError
from generator.errors import Finding, Location
from generator.spec import kubernetes as kubeversions
from generator.spec.kubernetes import UnknownVersion, schema_version_for, supported_versions


def deployment(name: str = "fraud-detector") -> dict[str, Any]:
    labels = {"app.kubernetes.io/name": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": dict(labels)},
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": dict(labels)},
            "template": {
                "metadata": {"labels": dict(labels)},
                "spec": {
                    "containers": [
                        {
                            "name": "model",
                            "image": "registry.acme.example/ml/fraud-detector:2.3.1",
                            "ports": [{"containerPort": 8080, "name": "http"}],
                            "resources": {
                                "requests": {"cpu": "500m", "memory": "1Gi"},
                                "limits": {"memory": "2Gi"},
                            },
                            "startupProbe": {
                                "httpGet": {"path": "/ready", "port": "http"},
                                "failureThreshold": 60,
                            },
                        }
                    ]
                },
            },
        },
    }


def container(obj: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = obj["spec"]["template"]["spec"]["containers"][0]
    return result


RANGE = f"supported: {supported_versions()[0]} to {supported_versions()[-1]}"


@pytest.fixture(scope="module")
def v131() -> KubeValidator:
    return KubeValidator("1.31")


# ---------------------------------------------------------------------------- versions


def test_supported_versions_are_the_shipped_minor_versions_sorted_numerically() -> None:
    versions = supported_versions()
    assert {"1.30", "1.31", "1.37"} <= set(versions)
    as_numbers = [tuple(int(p) for p in v.split(".")) for v in versions]
    assert as_numbers == sorted(as_numbers)


@pytest.mark.parametrize(
    ("requested", "expected"),
    [("1.31", "1.31"), ("1.31.2", "1.31"), ("v1.31", "1.31"), ("v1.31.2-eks-1234", "1.31")],
)
def test_schema_version_for_accepts_common_spellings(requested: str, expected: str) -> None:
    assert schema_version_for(requested) == expected


def test_schema_version_for_the_newest_and_oldest_shipped() -> None:
    versions = supported_versions()
    assert schema_version_for(versions[0]) == versions[0]
    assert schema_version_for(versions[-1]) == versions[-1]


@pytest.mark.parametrize(
    ("requested", "message"),
    [
        (
            "1.x",
            f"'1.x' is not a Kubernetes version; write it as a quoted MAJOR.MINOR string such as \"1.31\" ({RANGE})",
        ),
        (
            "",
            f"'' is not a Kubernetes version; write it as a quoted MAJOR.MINOR string such as \"1.31\" ({RANGE})",
        ),
        (
            "2.0",
            f"Kubernetes 2.0 is newer than the newest version with schemas ({RANGE}); upgrade kubernetes-validate",
        ),
        (
            "1.3",
            f"Kubernetes 1.3 is older than the oldest version with schemas ({RANGE})",
        ),
        # The trap in kubernetes_validate: as strings, "1.4" > "1.37", so it calls 1.4
        # newer than every shipped version. As numbers it is far older.
        (
            "1.4",
            f"Kubernetes 1.4 is older than the oldest version with schemas ({RANGE})",
        ),
    ],
)
def test_schema_version_for_rejects_with_the_supported_range(requested: str, message: str) -> None:
    with pytest.raises(UnknownVersion) as caught:
        schema_version_for(requested)
    assert str(caught.value) == message


def test_unknown_version_is_a_value_error_so_pydantic_validators_can_raise_it() -> None:
    assert issubclass(UnknownVersion, ValueError)


def test_a_yaml_float_is_not_a_version() -> None:
    with pytest.raises(UnknownVersion, match="not a Kubernetes version"):
        schema_version_for(1.3)  # type: ignore[arg-type]


@pytest.fixture
def fake_schema_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    for name in [
        "v1.9.0-local-strict",
        "v1.10.0-local-strict",
        "v1.100.0-local-strict",
        "v1.100.1-local-strict",
        "v1.50.0-local",  # not strict: not used
        "README.md",
    ]:
        if name.endswith(".md"):
            (tmp_path / name).write_text("not a version\n", encoding="utf-8")
        else:
            (tmp_path / name).mkdir()
    monkeypatch.setattr(kubeversions, "schema_root", lambda: tmp_path)
    kubeversions.strict_dirs.cache_clear()
    yield tmp_path
    caches = (
        kubeversions.strict_dirs,
        kubeschema._kind_validator,
        kubeschema._rs_kind_validator,
        kubeschema._kinds_named,
    )
    for cache in caches:
        cache.cache_clear()


@pytest.mark.usefixtures("fake_schema_dirs")
def test_versions_compare_as_numbers_not_strings() -> None:
    assert supported_versions() == ("1.9", "1.10", "1.100")
    assert schema_version_for("1.10") == "1.10"
    assert schema_version_for("1.50") == "1.10"  # newest shipped not newer than 1.50
    assert schema_version_for("1.100.3") == "1.100"
    with pytest.raises(UnknownVersion, match=r"1\.8 is older .*supported: 1\.9 to 1\.100"):
        schema_version_for("1.8")
    with pytest.raises(UnknownVersion, match=r"1\.101 is newer"):
        schema_version_for("1.101")


@pytest.mark.usefixtures("fake_schema_dirs")
def test_messages_name_the_schema_version_when_it_differs_from_the_requested() -> None:
    validator = KubeValidator("1.50.1")
    assert (validator.version, validator.schema_version) == ("1.50", "1.10")
    assert validator.errors({"apiVersion": "apps/v1", "kind": "Deployment"}) == [
        KubeError("", "no schema for apps/v1 Deployment in Kubernetes 1.50 (schemas of 1.10)")
    ]


def test_validator_for_an_unknown_version_raises() -> None:
    with pytest.raises(UnknownVersion):
        KubeValidator("1.x")


# --------------------------------------------------------------------------- validation


def test_valid_deployment_has_no_errors(v131: KubeValidator) -> None:
    assert v131.errors(deployment()) == []


def test_other_kinds_and_groups_validate(v131: KubeValidator) -> None:
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "fraud-detector"},
        "spec": {"ports": [{"port": 80, "targetPort": "http"}], "selector": {"a": "b"}},
    }
    role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": "reader"},
        "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}],
    }
    hpa = {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "fraud-detector"},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "x"},
            "minReplicas": 2,
            "maxReplicas": 10,
        },
    }
    assert v131.errors(service) == []
    assert v131.errors(role) == []
    assert v131.errors(hpa) == []


def test_unknown_field_deep_in_pod_spec(v131: KubeValidator) -> None:
    obj = deployment()
    container(obj)["resources"]["limitz"] = {"memory": "2Gi"}
    assert v131.errors(obj) == [
        KubeError(
            path="spec.template.spec.containers[0].resources.limitz",
            message="unknown field 'limitz'; did you mean 'limits'? (allowed fields: claims, limits, requests)",
            parts=("spec", "template", "spec", "containers", 0, "resources", "limitz"),
        )
    ]


def test_unknown_field_without_a_close_match_or_short_list(v131: KubeValidator) -> None:
    obj = deployment()
    container(obj)["gpu"] = 1
    [error] = v131.errors(obj)
    assert error.path == "spec.template.spec.containers[0].gpu"
    assert error.message == "unknown field 'gpu'"


def test_each_unknown_field_is_its_own_error(v131: KubeValidator) -> None:
    obj = deployment()
    obj["extra"] = 1
    obj["spec"]["bogus"] = True
    assert [(e.path, e.message) for e in v131.errors(obj)] == [
        (
            "extra",
            "unknown field 'extra' (allowed fields: apiVersion, kind, metadata, spec, status)",
        ),
        (
            "spec.bogus",
            "unknown field 'bogus' (allowed fields: minReadySeconds, paused, "
            "progressDeadlineSeconds, replicas, revisionHistoryLimit, selector, strategy, "
            "template)",
        ),
    ]


def test_wrong_type(v131: KubeValidator) -> None:
    obj = deployment()
    obj["spec"]["replicas"] = "3"
    assert v131.errors(obj) == [
        KubeError(
            path="spec.replicas",
            message="'3' is not of type 'integer', 'null'",
            parts=("spec", "replicas"),
        )
    ]


def test_wrong_type_for_int_or_string_and_quantity(v131: KubeValidator) -> None:
    obj = deployment()
    container(obj)["resources"]["limits"]["memory"] = [2, "Gi"]
    container(obj)["startupProbe"]["httpGet"]["port"] = {"name": "http"}
    assert [(e.path, e.message) for e in v131.errors(obj)] == [
        (
            "spec.template.spec.containers[0].resources.limits.memory",
            "[2, 'Gi'] is not of type 'string', 'number'",
        ),
        (
            "spec.template.spec.containers[0].startupProbe.httpGet.port",
            "{'name': 'http'} is not of type 'string', 'integer'",
        ),
    ]


def test_missing_required_field(v131: KubeValidator) -> None:
    obj = deployment()
    del container(obj)["name"]
    assert v131.errors(obj) == [
        KubeError(
            path="spec.template.spec.containers[0]",
            message="missing required field 'name'",
            parts=("spec", "template", "spec", "containers", 0),
        )
    ]


def test_every_problem_is_reported_sorted_by_path(v131: KubeValidator) -> None:
    obj = deployment()
    obj["spec"]["replicas"] = "3"
    del obj["spec"]["selector"]
    containers = obj["spec"]["template"]["spec"]["containers"]
    for index in range(1, 12):
        extra = copy.deepcopy(containers[0])
        extra["name"] = f"c{index}"
        containers.append(extra)
    containers[2]["imagePullPolicyy"] = "Always"
    containers[11]["imagePullPolicyy"] = "Always"
    assert [e.path for e in v131.errors(obj)] == [
        "spec",
        "spec.replicas",
        "spec.template.spec.containers[2].imagePullPolicyy",
        "spec.template.spec.containers[11].imagePullPolicyy",
    ]


def test_keys_with_dots_are_quoted_in_paths(v131: KubeValidator) -> None:
    obj = deployment()
    obj["metadata"]["annotations"] = {"prometheus.io/port": 8080}
    [error] = v131.errors(obj)
    assert error.path == 'metadata.annotations["prometheus.io/port"]'
    assert error.parts == ("metadata", "annotations", "prometheus.io/port")
    assert error.message == "8080 is not of type 'string', 'null'"


def test_huge_instances_are_shortened_in_messages(v131: KubeValidator) -> None:
    obj = deployment()
    container(obj)["env"] = [{"name": "BIG", "value": {"data": list(range(1000))}}]
    [error] = v131.errors(obj)
    assert error.path == "spec.template.spec.containers[0].env[0].value"
    assert error.message == "{'data': [0, 1, 2, 3, ...]} is not of type 'string', 'null'"


def test_unknown_kind(v131: KubeValidator) -> None:
    obj = deployment()
    obj["kind"] = "ModelDeployment"
    assert v131.errors(obj) == [KubeError(path="", message="no schema for apps/v1 ModelDeployment in Kubernetes 1.31")]


def test_removed_api_version_names_the_served_one(v131: KubeValidator) -> None:
    obj = deployment()
    obj["apiVersion"] = "extensions/v1beta1"
    assert v131.errors(obj) == [
        KubeError(
            path="",
            message="no schema for extensions/v1beta1 Deployment in Kubernetes 1.31",
            hint="Kubernetes 1.31 has apps/v1 Deployment",
        )
    ]


def test_kind_is_case_sensitive(v131: KubeValidator) -> None:
    obj = deployment()
    obj["kind"] = "deployment"
    assert v131.errors(obj) == [
        KubeError(
            path="",
            message="no schema for apps/v1 deployment in Kubernetes 1.31",
            hint="Kubernetes 1.31 has apps/v1 Deployment",
        )
    ]


def test_group_domain_must_match_not_only_its_first_label(v131: KubeValidator) -> None:
    # kubernetes-validate files ClusterRole under "rbac", dropping the domain.
    role = {"apiVersion": "rbac.example.com/v1", "kind": "ClusterRole", "metadata": {"name": "r"}}
    [error] = v131.errors(role)
    assert error.message == "no schema for rbac.example.com/v1 ClusterRole in Kubernetes 1.31"
    assert error.hint == "Kubernetes 1.31 has rbac.authorization.k8s.io/v1 ClusterRole"


def test_schema_follows_the_requested_version() -> None:
    policy = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": "p"},
        "spec": {"validations": [{"expression": "true"}]},
    }
    assert KubeValidator("1.30").errors(policy) == []
    [error] = KubeValidator("1.29").errors(policy)
    assert error.message == (
        "no schema for admissionregistration.k8s.io/v1 ValidatingAdmissionPolicy in Kubernetes 1.29"
    )


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        ([], [("", "expected a Kubernetes object (a mapping), got list")]),
        ("kind: Pod", [("", "expected a Kubernetes object (a mapping), got string")]),
        (None, [("", "expected a Kubernetes object (a mapping), got null")]),
        (
            {"kind": 3},
            [("", "missing required field 'apiVersion'"), ("kind", "3 is not of type 'string'")],
        ),
        (
            {},
            [("", "missing required field 'apiVersion'"), ("", "missing required field 'kind'")],
        ),
        (
            {"apiVersion": "v1", "kind": "../../_definitions"},
            [("", "no schema for v1 ../../_definitions in Kubernetes 1.31")],
        ),
        (
            {"apiVersion": "../v1", "kind": "Pod"},
            [("", "no schema for ../v1 Pod in Kubernetes 1.31")],
        ),
        (
            {"apiVersion": "v1", "kind": "Pod", 7: "x", "metadata": []},
            [
                (
                    '["7"]',
                    "unknown field '7' (allowed fields: apiVersion, kind, metadata, spec, status)",
                ),
                ("metadata", "[] is not of type 'object', 'null'"),
            ],
        ),
    ],
)
def test_malformed_input_gives_errors_not_exceptions(
    v131: KubeValidator, obj: Any, expected: list[tuple[str, str]]
) -> None:
    assert [(e.path, e.message) for e in v131.errors(obj)] == expected


def test_validator_is_built_once_per_kind_and_definitions_read_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Counted where the work happens: validators built by each engine, and reads of the
    1.3 MB _definitions.json, over 200 valid and 20 broken objects of one kind."""
    for cache in (
        kubeschema._kind_validator,
        kubeschema._rs_kind_validator,
        kubeschema._definitions,
        kubeschema._definitions_registry,
        kubeschema._rs_definitions_registry,
    ):
        cache.cache_clear()  # a cold start: nothing built or read yet in this process
    built: list[str] = []
    reads: list[str] = []

    def counting(engine: str, real: Any) -> Any:
        def build(*args: Any, **kwargs: Any) -> Any:
            built.append(engine)
            return real(*args, **kwargs)

        return build

    monkeypatch.setattr(jsonschema_rs, "Draft202012Validator", counting("rs", jsonschema_rs.Draft202012Validator))
    monkeypatch.setattr(jsonschema, "Draft202012Validator", counting("jsonschema", jsonschema.Draft202012Validator))
    read_text = Path.read_text

    def counting_read(path: Path, *args: Any, **kwargs: Any) -> str:
        if path.name == "_definitions.json":
            reads.append(path.parent.name)
        return read_text(path, *args, **kwargs)

    monkeypatch.setattr(Path, "read_text", counting_read)

    validator = KubeValidator("1.31")
    objects = [deployment(f"model-{index}") for index in range(200)]
    assert all(validator.errors(obj) == [] for obj in objects)
    assert KubeValidator("1.31.4").errors(objects[0]) == []
    # One fast validator for 201 valid objects; they never reach jsonschema.
    assert built == ["rs"]

    broken = [deployment(f"model-{index}") for index in range(20)]
    for obj in broken:
        obj["spec"]["replicas"] = "3"
    assert all(len(validator.errors(obj)) == 1 for obj in broken)
    assert built == ["rs", "jsonschema"]  # one jsonschema validator explains all 20
    assert len(reads) == 1  # read once, shared by both engines
    assert validator.validator_for("apps/v1", "Deployment") is validator.validator_for("apps/v1", "Deployment")
    rs_validator = validator.fast_validator_for("apps/v1", "Deployment")
    assert rs_validator is not None and validator.fast_validator_for("apps/v1", "Deployment") is rs_validator


# ---------------------------------------------------------------------- validate_objects


def test_validate_objects_reports_findings_with_file_and_object() -> None:
    good = deployment("churn-model")
    bad = deployment()
    bad["spec"]["replicas"] = "3"
    del container(bad)["name"]
    findings = validate_objects(
        [
            ("rendered/base/churn-model/deployment.yaml", good),
            ("rendered/base/fraud-detector/deployment.yaml", bad),
        ],
        "1.31",
    )
    where = Location("rendered/base/fraud-detector/deployment.yaml")
    assert findings == [
        Finding(
            message="'3' is not of type 'integer', 'null'",
            location=where,
            path="Deployment/fraud-detector: spec.replicas",
        ),
        Finding(
            message="missing required field 'name'",
            location=where,
            path="Deployment/fraud-detector: spec.template.spec.containers[0]",
        ),
    ]


def test_validate_objects_object_level_errors_and_malformed_objects() -> None:
    old = deployment()
    old["apiVersion"] = "extensions/v1beta1"
    findings = validate_objects(
        [("a.yaml", old), ("b.yaml", [])],  # type: ignore[list-item]
        "v1.31.2",
    )
    assert findings == [
        Finding(
            message="no schema for extensions/v1beta1 Deployment in Kubernetes 1.31",
            location=Location("a.yaml"),
            path="Deployment/fraud-detector",
            hint="Kubernetes 1.31 has apps/v1 Deployment",
        ),
        Finding(
            message="expected a Kubernetes object (a mapping), got list",
            location=Location("b.yaml"),
            path="?",
        ),
    ]


def test_validate_objects_explains_identical_invalid_objects_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[Mapping[str, Any]] = []
    real = KubeValidator.errors

    def counting(self: KubeValidator, obj: Mapping[str, Any]) -> list[KubeError]:
        calls.append(obj)
        return real(self, obj)

    monkeypatch.setattr(KubeValidator, "errors", counting)
    bad = deployment()
    bad["spec"]["replicas"] = "3"
    reordered = dict(reversed(list(copy.deepcopy(bad).items())))  # same canonical JSON
    other = deployment("churn-model")
    findings = validate_objects(
        [
            ("overlays/dev/fraud-detector.yaml", bad),
            ("overlays/prod/fraud-detector.yaml", reordered),
            ("overlays/dev/churn-model.yaml", other),
            ("overlays/prod/churn-model.yaml", copy.deepcopy(other)),
        ],
        "1.31",
    )
    assert calls == [bad]  # the copy shares its messages; valid objects never get that far
    assert [(f.location, f.path) for f in findings] == [
        (Location("overlays/dev/fraud-detector.yaml"), "Deployment/fraud-detector: spec.replicas"),
        (Location("overlays/prod/fraud-detector.yaml"), "Deployment/fraud-detector: spec.replicas"),
    ]


def test_objects_json_cannot_represent_are_not_shared(monkeypatch: pytest.MonkeyPatch) -> None:
    # {1: ...} and {"1": ...} dump to the same JSON but do not validate the same way.
    calls: list[Mapping[str, Any]] = []
    real = KubeValidator.errors

    def counting(self: KubeValidator, obj: Mapping[str, Any]) -> list[KubeError]:
        calls.append(obj)
        return real(self, obj)

    monkeypatch.setattr(KubeValidator, "errors", counting)
    first = deployment()
    first["metadata"]["labels"] = {1: "x"}
    second = deployment()
    second["metadata"]["labels"] = {"1": "x"}
    for obj in (first, second):
        obj["spec"]["replicas"] = "3"  # invalid, so neither is settled by the fast engine
    validate_objects([("a.yaml", first), ("b.yaml", second)], "1.31")
    assert calls == [first, second]
