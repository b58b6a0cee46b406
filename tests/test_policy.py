"""The secure-output policy: Pod Security 'restricted', resources, probes, images and
NetworkPolicies, on a compliant workload mutated one rule at a time."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from generator.check.policy import image_allowlist, policy_findings
from generator.errors import Location
from generator.pipeline import Rendered

REGISTRY = "registry.acme.example/ml"
IMAGE = f"{REGISTRY}/churn-model@sha256:{'ab' * 32}"
LABELS = {"app.kubernetes.io/name": "churn-model", "app.kubernetes.io/instance": "churn-model"}
allowed = image_allowlist(REGISTRY, ["docker.io/rclone/rclone:1.68.2"])

SECURE = {
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "readOnlyRootFilesystem": True,
    "runAsNonRoot": True,
    "seccompProfile": {"type": "RuntimeDefault"},
}
PROBE = {"httpGet": {"path": "/healthz", "port": "http"}}


def container(name: str = "model", image: str = IMAGE) -> dict[str, Any]:
    return {
        "name": name,
        "image": image,
        "ports": [{"name": "http", "containerPort": 8080}],
        "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"memory": "2Gi"}},
        "readinessProbe": PROBE,
        "livenessProbe": PROBE,
        "securityContext": copy.deepcopy(SECURE),
    }


def deployment(kind: str = "Deployment") -> dict[str, Any]:
    init = container("fetch-model", "docker.io/rclone/rclone:1.68.2")
    del init["readinessProbe"], init["livenessProbe"], init["ports"]
    return {
        "apiVersion": "argoproj.io/v1alpha1" if kind == "Rollout" else "apps/v1",
        "kind": kind,
        "metadata": {"name": "churn-model", "namespace": "ml-prod", "labels": dict(LABELS)},
        "spec": {
            "selector": {"matchLabels": dict(LABELS)},
            "template": {
                "metadata": {"labels": {**LABELS, "app.kubernetes.io/component": "model-server"}},
                "spec": {
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": 10001,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "initContainers": [init],
                    "containers": [container()],
                    "volumes": [
                        {"name": "tmp", "emptyDir": {}},
                        {"name": "config", "configMap": {"name": "churn-model-config"}},
                        {"name": "models", "persistentVolumeClaim": {"claimName": "churn-models"}},
                    ],
                },
            },
        },
    }


def network_policy(selector: dict[str, Any] | None = None, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": "churn-model", "namespace": "ml-prod"},
        "spec": {"podSelector": {"matchLabels": dict(LABELS)} if selector is None else selector, **spec},
    }


def findings(*objects: dict[str, Any], require_digests: bool = False) -> list[tuple[str, str]]:
    result = policy_findings("prod", list(objects), allowed, require_digests=require_digests)
    for finding in result:
        assert finding.location == Location("rendered/overlays/prod")
        assert finding.hint
    return [(f.path, f.message) for f in result]


def test_compliant_workload_passes() -> None:
    assert findings(deployment(), network_policy()) == []
    assert findings(deployment("Rollout"), network_policy(), require_digests=False) == []


Mutation = Callable[[dict[str, Any]], None]
POD = "Deployment/churn-model: spec.template.spec"
C0 = f"{POD}.containers[0]"
I0 = f"{POD}.initContainers[0]"


def pod(d: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = d["spec"]["template"]["spec"]
    return spec


def sc(d: dict[str, Any], index: int = 0) -> dict[str, Any]:
    context: dict[str, Any] = pod(d)["containers"][index]["securityContext"]
    return context


def both(key: str, value: Any) -> Mutation:
    """Set ``key`` in the pod's and the model container's securityContext."""

    def mutate(d: dict[str, Any]) -> None:
        pod(d)["securityContext"][key] = value
        sc(d)[key] = value

    return mutate


def unset_in_pod_and_container(key: str) -> Mutation:
    def mutate(d: dict[str, Any]) -> None:
        del pod(d)["securityContext"][key]
        del sc(d)[key]

    return mutate


# (rule, mutation, expected path, words the message must contain)
RULES: list[tuple[str, Mutation, str, str]] = [
    ("hostNetwork", lambda d: pod(d).update(hostNetwork=True), f"{POD}.hostNetwork", "hostNetwork must not be true"),
    ("hostPID", lambda d: pod(d).update(hostPID=True), f"{POD}.hostPID", "hostPID must not be true"),
    ("hostIPC", lambda d: pod(d).update(hostIPC=True), f"{POD}.hostIPC", "hostIPC must not be true"),
    (
        "hostPath volume",
        lambda d: pod(d)["volumes"].append({"name": "host", "hostPath": {"path": "/var/run"}}),
        f"{POD}.volumes[3].hostPath",
        "is of type hostPath",
    ),
    (
        "nfs volume",
        lambda d: pod(d)["volumes"].append({"name": "n", "nfs": {"server": "x", "path": "/"}}),
        f"{POD}.volumes[3].nfs",
        "is of type nfs",
    ),
    ("privileged", lambda d: sc(d).update(privileged=True), f"{C0}.securityContext.privileged", "privileged"),
    (
        "privilege escalation unset",
        lambda d: sc(d).pop("allowPrivilegeEscalation"),
        f"{C0}.securityContext.allowPrivilegeEscalation",
        "allowPrivilegeEscalation must be false, not unset",
    ),
    (
        "privilege escalation true",
        lambda d: sc(d).update(allowPrivilegeEscalation=True),
        f"{C0}.securityContext.allowPrivilegeEscalation",
        "must be false, not True",
    ),
    (
        "capabilities not dropped",
        lambda d: sc(d).pop("capabilities"),
        f"{C0}.securityContext.capabilities.drop",
        "must contain ALL",
    ),
    (
        "capability added",
        lambda d: sc(d)["capabilities"].update(add=["NET_BIND_SERVICE", "SYS_ADMIN"]),
        f"{C0}.securityContext.capabilities.add",
        "not SYS_ADMIN",
    ),
    (
        "runAsNonRoot unset everywhere",
        unset_in_pod_and_container("runAsNonRoot"),
        f"{C0}.securityContext.runAsNonRoot",
        "runAsNonRoot must be true in the pod's or this container's",
    ),
    (
        "runAsNonRoot false in container",
        lambda d: sc(d).update(runAsNonRoot=False),
        f"{C0}.securityContext.runAsNonRoot",
        "runAsNonRoot must not be false",
    ),
    (
        "root user in pod",
        lambda d: pod(d)["securityContext"].update(runAsUser=0),
        f"{POD}.securityContext.runAsUser",
        "runAsUser must not be 0",
    ),
    (
        "root user in container",
        lambda d: sc(d).update(runAsUser=0),
        f"{C0}.securityContext.runAsUser",
        "runAsUser must not be 0",
    ),
    (
        "seccomp unset everywhere",
        unset_in_pod_and_container("seccompProfile"),
        f"{C0}.securityContext.seccompProfile.type",
        "seccompProfile.type must be RuntimeDefault or Localhost in the pod's",
    ),
    (
        "seccomp unconfined",
        both("seccompProfile", {"type": "Unconfined"}),
        f"{POD}.securityContext.seccompProfile.type",
        "must not be Unconfined",
    ),
    (
        "hostPort",
        lambda d: pod(d)["containers"][0]["ports"][0].update(hostPort=8080),
        f"{C0}.ports[0].hostPort",
        "hostPort must not be set",
    ),
    ("procMount", lambda d: sc(d).update(procMount="Unmasked"), f"{C0}.securityContext.procMount", "procMount"),
    (
        "unsafe sysctl",
        lambda d: pod(d)["securityContext"].update(sysctls=[{"name": "kernel.msgmax", "value": "1"}]),
        f"{POD}.securityContext.sysctls",
        "unsafe sysctl(s) kernel.msgmax",
    ),
    (
        "AppArmor unconfined",
        lambda d: sc(d).update(appArmorProfile={"type": "Unconfined"}),
        f"{C0}.securityContext.appArmorProfile.type",
        "appArmorProfile.type must be",
    ),
    (
        "AppArmor annotation",
        lambda d: d["spec"]["template"]["metadata"].update(
            annotations={"container.apparmor.security.beta.kubernetes.io/model": "unconfined"}
        ),
        "Deployment/churn-model: spec.template.spec",
        "AppArmor annotation",
    ),
    (
        "SELinux custom type",
        lambda d: sc(d).update(seLinuxOptions={"type": "spc_t"}),
        f"{C0}.securityContext.seLinuxOptions",
        "'spc_t' is not a container type",
    ),
    (
        "SELinux user",
        lambda d: pod(d)["securityContext"].update(seLinuxOptions={"user": "system_u"}),
        f"{POD}.securityContext.seLinuxOptions",
        "must not set user or role",
    ),
    (
        "hostProcess",
        lambda d: sc(d).update(windowsOptions={"hostProcess": True}),
        f"{C0}.securityContext.windowsOptions.hostProcess",
        "hostProcess must not be true",
    ),
    (
        "init container escalates",
        lambda d: pod(d)["initContainers"][0]["securityContext"].update(allowPrivilegeEscalation=True),
        f"{I0}.securityContext.allowPrivilegeEscalation",
        "allowPrivilegeEscalation must be false",
    ),
    (
        "no cpu request",
        lambda d: pod(d)["containers"][0]["resources"]["requests"].pop("cpu"),
        f"{C0}.resources.requests.cpu",
        "resources.requests.cpu is missing",
    ),
    (
        "no memory request",
        lambda d: pod(d)["containers"][0]["resources"]["requests"].pop("memory"),
        f"{C0}.resources.requests.memory",
        "resources.requests.memory is missing",
    ),
    (
        "no memory limit",
        lambda d: pod(d)["containers"][0]["resources"].pop("limits"),
        f"{C0}.resources.limits.memory",
        "resources.limits.memory is missing",
    ),
    (
        "init container without resources",
        lambda d: pod(d)["initContainers"][0].pop("resources"),
        f"{I0}.resources.requests.cpu",
        "resources.requests.cpu is missing",
    ),
    (
        "no readiness probe",
        lambda d: pod(d)["containers"][0].pop("readinessProbe"),
        f"{C0}.readinessProbe",
        "readinessProbe is missing",
    ),
    (
        "no liveness probe",
        lambda d: pod(d)["containers"][0].pop("livenessProbe"),
        f"{C0}.livenessProbe",
        "livenessProbe is missing",
    ),
    (
        "image from elsewhere",
        lambda d: pod(d)["containers"][0].update(image="docker.io/evil/miner:1.0"),
        f"{C0}.image",
        "'docker.io/evil/miner:1.0' is neither from the fleet registry nor a pinned official image",
    ),
    (
        "registry prefix is not a path boundary",
        lambda d: pod(d)["containers"][0].update(image="registry.acme.example/ml-evil/x:1"),
        f"{C0}.image",
        "neither from the fleet registry",
    ),
    (
        "init container image from elsewhere",
        lambda d: pod(d)["initContainers"][0].update(image="docker.io/rclone/rclone:latest"),
        f"{I0}.image",
        "neither from the fleet registry",
    ),
    ("no image", lambda d: pod(d)["containers"][0].pop("image"), f"{C0}.image", "the container has no image"),
]


@pytest.mark.parametrize(("rule", "mutate", "path", "words"), RULES, ids=[r[0] for r in RULES])
def test_each_rule_is_enforced(rule: str, mutate: Mutation, path: str, words: str) -> None:
    obj = deployment()
    mutate(obj)
    found = findings(obj, network_policy())
    assert found, rule
    assert any(p == path and words in m for p, m in found), found


def test_init_containers_need_no_probes() -> None:
    assert findings(deployment(), network_policy()) == []  # the rclone init container has none


def test_pod_level_settings_cover_every_container() -> None:
    obj = deployment()
    for name in ("containers", "initContainers"):
        for item in pod(obj)[name]:
            del item["securityContext"]["runAsNonRoot"], item["securityContext"]["seccompProfile"]
    assert findings(obj, network_policy()) == []


def test_container_level_settings_suffice_without_pod_level() -> None:
    obj = deployment()
    del pod(obj)["securityContext"]
    assert findings(obj, network_policy()) == []


def test_digests_are_checked_only_when_required() -> None:
    obj = deployment()
    assert findings(obj, network_policy()) == []
    found = findings(obj, network_policy(), require_digests=True)
    assert found == [
        (
            f"{I0}.image",
            "image 'docker.io/rclone/rclone:1.68.2' is not pinned by digest, "
            "and this environment's policy requires digests",
        )
    ]
    pod(obj)["initContainers"][0]["image"] = f"docker.io/rclone/rclone:1.68.2@sha256:{'cd' * 32}"
    assert findings(obj, network_policy(), require_digests=True) == []


@pytest.mark.parametrize(
    "policies",
    [
        [],
        [network_policy({"matchLabels": {"app.kubernetes.io/name": "other"}})],
        [network_policy(policyTypes=["Egress"])],
        [{**network_policy(), "metadata": {"name": "churn-model", "namespace": "ml-dev"}}],
        [
            network_policy(
                {
                    "matchExpressions": [
                        {"key": "app.kubernetes.io/name", "operator": "NotIn", "values": ["churn-model"]}
                    ]
                }
            )
        ],
    ],
    ids=["none", "other labels", "egress only", "other namespace", "expression excludes"],
)
def test_workload_without_matching_network_policy(policies: list[dict[str, Any]]) -> None:
    assert findings(deployment(), *policies) == [
        (
            "Deployment/churn-model: spec.template.spec",
            "no NetworkPolicy of the namespace selects this workload's pods for ingress",
        )
    ]


@pytest.mark.parametrize(
    "selector",
    [
        {},
        {"matchLabels": {"app.kubernetes.io/name": "churn-model"}},
        {"matchExpressions": [{"key": "app.kubernetes.io/component", "operator": "In", "values": ["model-server"]}]},
        {"matchExpressions": [{"key": "app.kubernetes.io/instance", "operator": "Exists"}]},
        {"matchExpressions": [{"key": "team", "operator": "DoesNotExist"}]},
    ],
    ids=["all pods", "subset", "In", "Exists", "DoesNotExist"],
)
def test_network_policy_selectors(selector: dict[str, Any]) -> None:
    assert findings(deployment(), network_policy(selector)) == []


def test_cronjob_and_pod_templates_are_found() -> None:
    template = deployment()["spec"]["template"]
    cron: dict[str, Any] = {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": "nightly", "namespace": "ml-prod"},
        "spec": {"schedule": "@daily", "jobTemplate": {"spec": {"template": copy.deepcopy(template)}}},
    }
    bare: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p", "namespace": "ml-prod", **template["metadata"]},
    }
    bare["spec"] = copy.deepcopy(template["spec"])
    assert findings(cron, bare, network_policy()) == []
    cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["hostNetwork"] = True
    bare["spec"]["hostPID"] = True
    assert findings(cron, bare, network_policy()) == [
        (
            "CronJob/nightly: spec.jobTemplate.spec.template.spec.hostNetwork",
            "hostNetwork must not be true (Pod Security 'restricted')",
        ),
        ("Pod/p: spec.hostPID", "hostPID must not be true (Pod Security 'restricted')"),
    ]


def test_objects_without_pod_templates_are_ignored() -> None:
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"}, "spec": {"ports": [{"port": 80}]}}
    assert findings(service) == []


@pytest.mark.parametrize(
    ("image", "ok"),
    [
        (f"{REGISTRY}/churn-model:1.4.2", True),
        (f"{REGISTRY}/team/churn-model@sha256:{'ab' * 32}", True),
        ("docker.io/rclone/rclone:1.68.2", True),
        (f"docker.io/rclone/rclone:1.68.2@sha256:{'ab' * 32}", True),
        ("docker.io/rclone/rclone:1.69.0", False),
        (f"{REGISTRY}-evil/churn-model:1", False),
        ("registry.acme.example/churn-model:1", False),
        (f"{REGISTRY}/Churn:1", False),
        (f"{REGISTRY}/../x:1", False),
        (f"{REGISTRY}/x:1\nimage: evil", False),
        ("", False),
    ],
)
def test_image_allowlist(image: str, ok: bool) -> None:
    assert allowed(image) is ok


def test_example_fleet_policy(example_render: Rendered) -> None:
    """The committed example fleet, as the check stage sees it: no finding in any environment,
    prod (which requires digests) included, so its fetcher images are pinned too."""
    rendered = example_render
    check = image_allowlist(rendered.resolution.fleet.registry, rendered.resolution.fleet.fetcher_images())
    for output in rendered.environments:
        env = next(e for e in rendered.resolution.environments if e.spec.name == output.name)
        found = policy_findings(output.name, output.objects, check, require_digests=env.spec.policy.requireDigests)
        assert found == [], [(f.path, f.message) for f in found]
    prod = next(e for e in rendered.resolution.environments if e.spec.name == "prod")
    assert prod.spec.policy.requireDigests
    assert all("@sha256:" in image for image in rendered.resolution.fleet.fetcher_images())


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=20,
)
KEYS = ["spec", "template", "metadata", "containers", "initContainers", "securityContext", "volumes", "ports", "labels"]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.dictionaries(
            st.sampled_from(["kind", "apiVersion", "metadata", "spec", *KEYS]),
            json_values | st.dictionaries(st.sampled_from(KEYS), json_values, max_size=4),
            max_size=4,
        ),
        max_size=3,
    )
)
def test_malformed_objects_never_crash(objects: list[dict[str, Any]]) -> None:
    for obj in objects:
        obj.setdefault("kind", "Deployment")
    assert isinstance(policy_findings("dev", objects, allowed), list)


def test_malformed_pod_spec_is_reported_not_raised() -> None:
    obj = deployment()
    pod(obj).update(volumes={"a": 1}, containers=[{"name": "x", "ports": 8080, "securityContext": "nope"}, 7])
    found = findings(obj, network_policy({"matchLabels": "x", "matchExpressions": [3]}))
    assert any(p == f"{C0}.image" for p, _ in found)
