"""Tests for generator.check.crdschema: custom resources against vendored upstream CRD schemas."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft7Validator
from jsonschema.validators import validator_for

from generator.check import crdschema
from generator.check.crdschema import crd_errors, crd_kinds, has_schema, validate_custom_objects
from generator.check.schemaengine import KubeError
from generator.errors import Location

REPO = Path(__file__).resolve().parent.parent
CRD_DIR = REPO / "schemas" / "crds"
NAME = "fraud-detector"
LABELS = {"app.kubernetes.io/name": NAME}


def meta(name: str = NAME) -> dict[str, Any]:
    return {"name": name, "namespace": "ml-prod", "labels": dict(LABELS)}


def rollout() -> dict[str, Any]:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "metadata": meta(),
        "spec": {
            "selector": {"matchLabels": dict(LABELS)},
            "progressDeadlineSeconds": 900,
            "revisionHistoryLimit": 3,
            "template": {
                "metadata": {"labels": dict(LABELS)},
                "spec": {
                    "containers": [
                        {
                            "name": "model",
                            "image": "registry.acme.example/ml/fraud-detector:2.3.1",
                            "ports": [{"containerPort": 8080, "name": "http"}],
                            "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"memory": "2Gi"}},
                        }
                    ]
                },
            },
            "strategy": {
                "canary": {
                    "canaryService": f"{NAME}-canary",
                    "stableService": f"{NAME}-stable",
                    "analysis": {
                        "templates": [{"templateName": f"{NAME}-slo"}],
                        "startingStep": 1,
                        "args": [{"name": "service", "value": NAME}],
                    },
                    "steps": [
                        {"setWeight": 10},
                        {"pause": {"duration": "5m"}},
                        {"setWeight": 50},
                        {"pause": {}},
                    ],
                }
            },
        },
    }


def analysis_template() -> dict[str, Any]:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "AnalysisTemplate",
        "metadata": meta(f"{NAME}-slo"),
        "spec": {
            "args": [{"name": "service"}],
            "metrics": [
                {
                    "name": "error-ratio",
                    "interval": "1m",
                    "count": 5,
                    "failureLimit": 1,
                    "consecutiveErrorLimit": 4,
                    "inconclusiveLimit": 2,
                    "successCondition": "len(result) == 0 || result[0] <= 0.01",
                    "failureCondition": "len(result) > 0 && result[0] > 0.01",
                    "provider": {
                        "prometheus": {
                            "address": "http://prometheus.monitoring.svc:9090",
                            "query": 'sum(rate(http_requests_total{service="{{args.service}}",code=~"5.."}[5m]))',
                        }
                    },
                }
            ],
        },
    }


def scaled_object() -> dict[str, Any]:
    return {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": meta(),
        "spec": {
            "scaleTargetRef": {"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "name": NAME},
            "minReplicaCount": 0,
            "maxReplicaCount": 6,
            "cooldownPeriod": 300,
            "pollingInterval": 15,
            "advanced": {
                "horizontalPodAutoscalerConfig": {
                    "behavior": {
                        "scaleDown": {
                            "stabilizationWindowSeconds": 300,
                            "policies": [{"type": "Percent", "value": 50, "periodSeconds": 60}],
                        }
                    }
                }
            },
            "triggers": [
                {
                    "type": "prometheus",
                    "metadata": {
                        "serverAddress": "http://prometheus.monitoring.svc:9090",
                        "query": "sum(rate(http_requests_total[2m]))",
                        "threshold": "100",
                        "activationThreshold": "1",
                    },
                },
                {"type": "cpu", "metricType": "Utilization", "metadata": {"value": "70"}},
            ],
        },
    }


def trigger_authentication() -> dict[str, Any]:
    return {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "TriggerAuthentication",
        "metadata": meta(),
        "spec": {"secretTargetRef": [{"parameter": "bearerToken", "name": "prometheus-token", "key": "token"}]},
    }


def service_monitor() -> dict[str, Any]:
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "ServiceMonitor",
        "metadata": meta(),
        "spec": {
            "selector": {"matchLabels": dict(LABELS)},
            "namespaceSelector": {"matchNames": ["ml-prod"]},
            "endpoints": [{"port": "http", "path": "/metrics", "interval": "30s", "scrapeTimeout": "10s"}],
        },
    }


def prometheus_rule() -> dict[str, Any]:
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": meta(),
        "spec": {
            "groups": [
                {
                    "name": f"{NAME}.rules",
                    "interval": "30s",
                    "rules": [
                        {"record": "model:request_rate:rate5m", "expr": "sum(rate(http_requests_total[5m]))"},
                        {
                            "alert": "FraudDetectorErrorBudgetBurn",
                            "expr": "model:error_ratio:rate1h > (14.4 * 0.001)",
                            "for": "2m",
                            "labels": {"severity": "page", "team": "risk"},
                            "annotations": {"summary": "burning", "runbook_url": "https://runbooks.example/x"},
                        },
                    ],
                }
            ]
        },
    }


def application() -> dict[str, Any]:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": "fleet-prod", "namespace": "argocd"},
        "spec": {
            "project": "default",
            "source": {
                "repoURL": "https://git.acme.example/ml/fleet.git",
                "targetRevision": "main",
                "path": "rendered/overlays/prod",
            },
            "destination": {"server": "https://kubernetes.default.svc", "namespace": "ml-prod"},
            "syncPolicy": {
                "automated": {"prune": True, "selfHeal": True},
                "syncOptions": ["CreateNamespace=true", "ServerSideApply=true"],
                "retry": {"limit": 5, "backoff": {"duration": "5s", "factor": 2, "maxDuration": "3m"}},
            },
        },
    }


def git_repository() -> dict[str, Any]:
    return {
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "GitRepository",
        "metadata": {"name": "fleet", "namespace": "flux-system"},
        "spec": {
            "interval": "1m",
            "timeout": "60s",
            "url": "https://git.acme.example/ml/fleet.git",
            "ref": {"branch": "main"},
        },
    }


def kustomization() -> dict[str, Any]:
    return {
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
        "kind": "Kustomization",
        "metadata": {"name": "fleet-prod", "namespace": "flux-system"},
        "spec": {
            "interval": "10m",
            "path": "./rendered/overlays/prod",
            "prune": True,
            "wait": True,
            "timeout": "15m",
            "sourceRef": {"kind": "GitRepository", "name": "fleet"},
            "healthChecks": [
                {"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "name": NAME, "namespace": "ml-prod"}
            ],
        },
    }


@dataclass(frozen=True)
class Case:
    """A valid object, where an unknown field goes, and a field to give the wrong type."""

    make: Callable[[], dict[str, Any]]
    unknown_at: tuple[str | int, ...]  # parent path; the unknown field is added under it
    unknown: str
    unknown_message: str
    wrong_at: tuple[str | int, ...]
    wrong_value: object
    wrong_message: str

    @property
    def id(self) -> str:
        return str(self.make().get("kind"))


CASES = [
    Case(
        rollout,
        ("spec", "strategy", "canary"),
        "stepz",
        "unknown field 'stepz'; did you mean 'steps'?",
        ("spec", "strategy", "canary", "steps", 0, "setWeight"),
        "10%",
        "'10%' is not of type 'integer'",
    ),
    Case(
        analysis_template,
        ("spec", "metrics", 0, "provider", "prometheus"),
        "adress",
        "unknown field 'adress'; did you mean 'address'? (allowed fields: address, query)",
        ("spec", "metrics", 0, "successCondition"),
        True,
        "True is not of type 'string'",
    ),
    Case(
        scaled_object,
        ("spec", "triggers", 1),
        "metricTyp",
        "unknown field 'metricTyp'; did you mean 'metricType'? "
        "(allowed fields: authenticationRef, metadata, metricType, name, type, useCachedMetrics)",
        ("spec", "minReplicaCount"),
        "0",
        "'0' is not of type 'integer'",
    ),
    Case(
        trigger_authentication,
        ("spec", "secretTargetRef", 0),
        "keys",
        "unknown field 'keys'; did you mean 'key'? (allowed fields: key, name, parameter)",
        ("spec", "secretTargetRef"),
        {"parameter": "bearerToken"},
        "{'parameter': 'bearerToken'} is not of type 'array'",
    ),
    Case(
        service_monitor,
        ("spec", "endpoints", 0),
        "scrapeInterval",
        "unknown field 'scrapeInterval'; did you mean 'interval'?",
        ("spec", "endpoints", 0, "port"),
        8080,
        "8080 is not of type 'string'",
    ),
    Case(
        prometheus_rule,
        ("spec", "groups", 0, "rules", 1),
        "severity",
        "unknown field 'severity' (allowed fields: alert, annotations, expr, for, keep_firing_for, labels, record)",
        ("spec", "groups", 0, "rules", 1, "labels"),
        ["severity=page"],
        "['severity=page'] is not of type 'object'",
    ),
    Case(
        application,
        ("spec", "syncPolicy", "automated"),
        "selfheal",
        "unknown field 'selfheal'; did you mean 'selfHeal'? (allowed fields: allowEmpty, prune, selfHeal)",
        ("spec", "syncPolicy", "automated", "prune"),
        "yes",
        "'yes' is not of type 'boolean'",
    ),
    Case(
        git_repository,
        ("spec", "ref"),
        "branchh",
        "unknown field 'branchh'; did you mean 'branch'? (allowed fields: branch, commit, name, semver, tag)",
        ("spec", "interval"),
        60,
        "60 is not of type 'string'",
    ),
    Case(
        kustomization,
        ("spec", "sourceRef"),
        "namespac",
        "unknown field 'namespac'; did you mean 'namespace'? (allowed fields: apiVersion, kind, name, namespace)",
        ("spec", "prune"),
        "true",
        "'true' is not of type 'boolean'",
    ),
]
IDS = [case.id for case in CASES]


def dig(obj: Any, path: tuple[str | int, ...]) -> Any:
    for part in path:
        obj = obj[part]
    return obj


def dotted(path: tuple[str | int, ...]) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else (f".{p}" if i else p) for i, p in enumerate(path))


# ------------------------------------------------------------------------ the kinds


def test_the_kinds_the_issues_need_have_schemas() -> None:
    assert set(crd_kinds()) == {
        ("argoproj.io/v1alpha1", "Rollout"),
        ("argoproj.io/v1alpha1", "AnalysisTemplate"),
        ("argoproj.io/v1alpha1", "Application"),
        ("argoproj.io/v1alpha1", "ApplicationSet"),
        ("keda.sh/v1alpha1", "ScaledObject"),
        ("keda.sh/v1alpha1", "TriggerAuthentication"),
        ("monitoring.coreos.com/v1", "ServiceMonitor"),
        ("monitoring.coreos.com/v1", "PodMonitor"),
        ("monitoring.coreos.com/v1", "PrometheusRule"),
        ("source.toolkit.fluxcd.io/v1", "GitRepository"),
        ("kustomize.toolkit.fluxcd.io/v1", "Kustomization"),
        ("gateway.networking.k8s.io/v1", "HTTPRoute"),
    }
    assert list(crd_kinds()) == sorted(crd_kinds())


def test_has_schema() -> None:
    assert has_schema("argoproj.io/v1alpha1", "Rollout")
    assert not has_schema("argoproj.io/v1alpha2", "Rollout")
    assert not has_schema("apps/v1", "Deployment")
    assert not has_schema("argoproj.io/v1alpha1", "rollout")


def test_validators_are_built_once_per_kind() -> None:
    first = crdschema._validator("argoproj.io/v1alpha1", "Rollout")
    assert first is not None
    assert crdschema._validator("argoproj.io/v1alpha1", "Rollout") is first


# ---------------------------------------------------------------------- validation


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_minimal_valid_object_passes(case: Case) -> None:
    assert crd_errors(case.make()) == []


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_unknown_field_deep_inside_is_reported_with_its_path(case: Case) -> None:
    obj = case.make()
    dig(obj, case.unknown_at)[case.unknown] = "x"
    parts = (*case.unknown_at, case.unknown)
    assert crd_errors(obj) == [KubeError(dotted(parts), case.unknown_message, "", parts)]


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_wrong_type_is_reported_with_its_path(case: Case) -> None:
    obj = case.make()
    dig(obj, case.wrong_at[:-1])[case.wrong_at[-1]] = case.wrong_value
    assert crd_errors(obj) == [KubeError(dotted(case.wrong_at), case.wrong_message, "", case.wrong_at)]


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_metadata_is_strict_object_meta(case: Case) -> None:
    obj = case.make()
    obj["metadata"]["label"] = {"a": "b"}
    obj["metadata"]["annotations"] = {"a": 1}
    assert crd_errors(obj) == [
        KubeError("metadata.annotations.a", "1 is not of type 'string', 'null'", "", ("metadata", "annotations", "a")),
        KubeError("metadata.label", "unknown field 'label'; did you mean 'labels'?", "", ("metadata", "label")),
    ]


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_unknown_top_level_field_and_missing_spec(case: Case) -> None:
    obj = case.make()
    obj["sepc"] = obj.pop("spec")
    errors = crd_errors(obj)
    unknown = [e for e in errors if e.path == "sepc"]
    assert len(unknown) == 1
    assert unknown[0].message.startswith(
        "unknown field 'sepc'; did you mean 'spec'? (allowed fields: apiVersion, kind,"
    )
    # and, where the CRD requires a spec, that it is missing; nothing else
    assert {(e.path, e.message) for e in errors if e.path != "sepc"} <= {("", "missing required field 'spec'")}


def test_null_is_rejected_where_a_value_is_expected() -> None:
    obj = rollout()
    obj["spec"]["strategy"]["canary"]["canaryService"] = None
    assert crd_errors(obj) == [
        KubeError(
            "spec.strategy.canary.canaryService",
            "None is not of type 'string'",
            "",
            ("spec", "strategy", "canary", "canaryService"),
        )
    ]


def test_maps_and_preserved_fields_stay_open() -> None:
    app = application()
    app["spec"]["source"]["helm"] = {"valuesObject": {"anything": {"goes": [1, 2]}}}
    assert crd_errors(app) == []
    scaled = scaled_object()
    scaled["spec"]["triggers"][0]["metadata"]["unsafeSsl"] = "true"  # trigger metadata is a string map
    assert crd_errors(scaled) == []


def test_missing_required_fields() -> None:
    obj = scaled_object()
    del obj["spec"]["scaleTargetRef"]["name"]
    del obj["spec"]["triggers"][0]["type"]
    assert crd_errors(obj) == [
        KubeError("spec.scaleTargetRef", "missing required field 'name'", "", ("spec", "scaleTargetRef")),
        KubeError("spec.triggers[0]", "missing required field 'type'", "", ("spec", "triggers", 0)),
    ]


def test_enum_and_pattern_constraints_apply() -> None:
    obj = kustomization()
    obj["spec"]["sourceRef"]["kind"] = "HelmRepository"
    obj["spec"]["interval"] = "10 minutes"
    messages = {e.path: e.message for e in crd_errors(obj)}
    assert set(messages) == {"spec.interval", "spec.sourceRef.kind"}
    assert "does not match" in messages["spec.interval"]
    assert "is not one of" in messages["spec.sourceRef.kind"]


def test_go_inline_flags_are_rewritten_for_python_regular_expressions() -> None:
    # upstream: ^(?i)(abort|warn)?$ -- RE2 syntax that Python's re rejects
    obj = prometheus_rule()
    obj["spec"]["groups"][0]["partial_response_strategy"] = "WARN"
    assert crd_errors(obj) == []
    obj["spec"]["groups"][0]["partial_response_strategy"] = "drop"
    assert [e.path for e in crd_errors(obj)] == ["spec.groups[0].partial_response_strategy"]


def test_int_or_string_fields_accept_both() -> None:
    obj = rollout()
    obj["spec"]["strategy"]["canary"]["maxSurge"] = "25%"
    obj["spec"]["strategy"]["canary"]["maxUnavailable"] = 0
    assert crd_errors(obj) == []
    obj["spec"]["strategy"]["canary"]["maxSurge"] = 1.5
    assert crd_errors(obj) == [
        KubeError(
            "spec.strategy.canary.maxSurge",
            "1.5 is not of type 'integer', 'string'",
            "",
            ("spec", "strategy", "canary", "maxSurge"),
        )
    ]


# ---------------------------------------------------------------- malformed input


def test_malformed_objects_are_reported_not_raised() -> None:
    assert crd_errors([1]) == [KubeError("", "expected a Kubernetes object (a mapping), got list")]  # type: ignore[arg-type]
    assert crd_errors({"kind": "Rollout"}) == [KubeError("", "missing required field 'apiVersion'")]
    assert crd_errors({"apiVersion": 1, "kind": "Rollout"}) == [
        KubeError("apiVersion", "1 is not of type 'string'", "", ("apiVersion",))
    ]


def test_a_kind_without_a_schema_names_the_ones_there_are() -> None:
    assert crd_errors({"apiVersion": "argoproj.io/v1alpha2", "kind": "Rollout"}) == [
        KubeError(
            "",
            "no vendored CRD schema for argoproj.io/v1alpha2 Rollout",
            "schemas/crds has argoproj.io/v1alpha1 Rollout",
        )
    ]
    assert crd_errors({"apiVersion": "example.com/v1", "kind": "Widget"}) == [
        KubeError(
            "",
            "no vendored CRD schema for example.com/v1 Widget",
            "add the kind to tools/vendor_crds.py and run `make crds`",
        )
    ]


# ------------------------------------------------------------------------ pipeline


def test_validate_custom_objects_skips_core_and_unknown_kinds() -> None:
    bad = rollout()
    bad["spec"]["strategy"]["canary"]["stepz"] = []
    objects = [
        ("rendered/base/fraud-detector/deployment.yaml", {"apiVersion": "apps/v1", "kind": "Deployment", "bogus": 1}),
        ("rendered/base/x.yaml", {"apiVersion": "example.com/v1", "kind": "Widget"}),
        ("rendered/base/x.yaml", [1]),
        ("rendered/overlays/prod/rollout.yaml", bad),
        ("rendered/overlays/staging/rollout.yaml", copy.deepcopy(bad)),
        ("rendered/overlays/prod/scaledobject.yaml", scaled_object()),
    ]
    findings = validate_custom_objects(objects)  # type: ignore[arg-type]
    assert [(f.location, f.path, f.message) for f in findings] == [
        (
            Location(f"rendered/overlays/{env}/rollout.yaml"),
            "Rollout/fraud-detector: spec.strategy.canary.stepz",
            "unknown field 'stepz'; did you mean 'steps'?",
        )
        for env in ("prod", "staging")
    ]


def test_identical_invalid_objects_are_explained_once(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[object] = []
    real = crdschema.crd_errors

    def counting(obj: Any) -> list[KubeError]:
        calls.append(obj)
        return real(obj)

    monkeypatch.setattr(crdschema, "crd_errors", counting)
    broken = rollout()
    broken["spec"]["replicas"] = "3"
    validate_custom_objects(
        [("a.yaml", broken), ("b.yaml", copy.deepcopy(broken)), ("c.yaml", rollout()), ("d.yaml", scaled_object())]
    )
    assert calls == [broken]  # the copy shares its messages; valid objects never get that far


# -------------------------------------------------------------- the vendored files


def schema_files() -> Iterator[Path]:
    yield from sorted(CRD_DIR.glob("*.json"))


@pytest.mark.parametrize("path", list(schema_files()), ids=lambda p: p.name)
def test_vendored_file_is_a_valid_schema_with_provenance(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    schema = json.loads(text)
    # what tools/vendor_crds.py writes: sorted keys, two-space indent, one trailing newline
    assert text == json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    validator_for(schema, default=Draft7Validator).check_schema(schema)
    provenance = schema["x-modelfleet-provenance"]
    comment = schema["$comment"]
    assert f"{provenance['package']}@{provenance['version']}" in comment
    assert f"{provenance['upstream']} {provenance['upstreamVersion']}" in comment
    assert re.fullmatch(r"[0-9a-f]{64}", provenance["sha256"])
    [gvk] = schema["x-kubernetes-group-version-kind"]
    assert path.name == f"{gvk['group']}_{gvk['version']}_{gvk['kind']}.json"
    assert schema["required"][:2] == ["apiVersion", "kind"]


@pytest.mark.parametrize("path", list(schema_files()), ids=lambda p: p.name)
def test_every_object_that_lists_fields_forbids_others(path: Path) -> None:
    def walk(node: Any, where: str) -> Iterator[str]:
        if isinstance(node, dict):
            if node.get("properties") and "additionalProperties" not in node:
                yield where
            for key, value in node.items():
                yield from walk(value, f"{where}/{key}")
        elif isinstance(node, list):
            for index, value in enumerate(node):
                yield from walk(value, f"{where}/{index}")

    assert list(walk(json.loads(path.read_text(encoding="utf-8")), "#")) == []


def test_provenance_lists_every_file_with_its_package() -> None:
    provenance = (CRD_DIR / "PROVENANCE.md").read_text(encoding="utf-8")
    files = list(schema_files())
    assert len(files) == len(crd_kinds())
    for path in files:
        info = json.loads(path.read_text(encoding="utf-8"))["x-modelfleet-provenance"]
        row = next((line for line in provenance.splitlines() if f"`{path.name}`" in line), "")
        assert f"`{info['package']}@{info['version']}`" in row, path.name
        assert info["upstreamVersion"] in row
        assert info["sha256"] in provenance
    assert "additionalProperties: false" in provenance
    assert "vendoring time" in provenance


# ------------------------------------------------------- PodMonitor and HTTPRoute


def pod_monitor() -> dict[str, Any]:
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PodMonitor",
        "metadata": {"name": NAME, "labels": dict(LABELS)},
        "spec": {
            "selector": {"matchLabels": dict(LABELS)},
            "podTargetLabels": ["rollouts-pod-template-hash"],
            "podMetricsEndpoints": [
                {
                    "port": "http",
                    "path": "/metrics",
                    "interval": "30s",
                    "scrapeTimeout": "10s",
                    "relabelings": [{"action": "replace", "targetLabel": "service", "replacement": NAME}],
                }
            ],
        },
    }


def http_route() -> dict[str, Any]:
    return {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": NAME},
        "spec": {
            "parentRefs": [{"name": "public", "namespace": "gateway-system"}],
            "hostnames": ["fraud.acme.example"],
            "rules": [
                {
                    "matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
                    "backendRefs": [
                        {"name": NAME, "port": 8080, "weight": 100},
                        {"name": f"{NAME}-canary", "port": 8080, "weight": 0},
                    ],
                }
            ],
        },
    }


@pytest.mark.parametrize("make", [pod_monitor, http_route], ids=["PodMonitor", "HTTPRoute"])
def test_pod_monitor_and_http_route_pass(make: Callable[[], dict[str, Any]]) -> None:
    obj = make()
    assert has_schema(obj["apiVersion"], obj["kind"])
    assert crd_errors(obj) == []
    assert validate_custom_objects([("rendered/base/x.yaml", obj)]) == []


def test_pod_monitor_and_http_route_reject_typos() -> None:
    monitor = pod_monitor()
    monitor["spec"]["podMetricEndpoints"] = monitor["spec"].pop("podMetricsEndpoints")
    assert crd_errors(monitor) == [
        KubeError(
            "spec.podMetricEndpoints",
            "unknown field 'podMetricEndpoints'; did you mean 'podMetricsEndpoints'?",
            "",
            ("spec", "podMetricEndpoints"),
        )
    ]
    route = http_route()
    route["spec"]["rules"][0]["backendRef"] = route["spec"]["rules"][0].pop("backendRefs")
    assert crd_errors(route) == [
        KubeError(
            "spec.rules[0].backendRef",
            "unknown field 'backendRef'; did you mean 'backendRefs'? "
            "(allowed fields: backendRefs, filters, matches, timeouts)",
            "",
            ("spec", "rules", 0, "backendRef"),
        )
    ]


def test_http_route_constraints_and_experimental_fields() -> None:
    route = http_route()
    route["spec"]["hostnames"] = ["Fraud.acme.example"]
    route["spec"]["rules"][0]["matches"][0]["path"]["type"] = "Prefix"
    route["spec"]["rules"][0]["backendRefs"][0]["port"] = 70000
    route["spec"]["rules"][0]["backendRefs"][1]["weight"] = "0"
    messages = {e.path: e.message for e in crd_errors(route)}
    assert set(messages) == {
        "spec.hostnames[0]",
        "spec.rules[0].matches[0].path.type",
        "spec.rules[0].backendRefs[0].port",
        "spec.rules[0].backendRefs[1].weight",
    }
    assert "does not match" in messages["spec.hostnames[0]"]
    assert "is not one of" in messages["spec.rules[0].matches[0].path.type"]
    assert messages["spec.rules[0].backendRefs[0].port"] == "70000 is greater than the maximum of 65535"
    assert messages["spec.rules[0].backendRefs[1].weight"] == "'0' is not of type 'integer'"
    # HTTPRoute v1 is Gateway API v1.0.0's experimental channel (PROVENANCE.md): it lists these
    route = http_route()
    route["spec"]["parentRefs"][0]["port"] = 443
    route["spec"]["rules"][0]["timeouts"] = {"request": "10s", "backendRequest": "5s"}
    assert crd_errors(route) == []
