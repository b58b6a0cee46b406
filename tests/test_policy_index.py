"""netpolicy.IngressPolicies finds exactly the pods the former scan over every policy found."""

from __future__ import annotations

import itertools
import random
from collections.abc import Mapping, Sequence
from typing import Any

from generator.check.netpolicy import IngressPolicies, _isolates_ingress, _selects
from generator.check.objectfields import MISSING, field_at

NAMESPACES: list[Any] = [MISSING, None, "ml-prod", "ml-dev", 5, ["ml-prod"]]
SELECTORS: list[Any] = [
    MISSING,
    "not a mapping",
    {},
    {"matchLabels": {}},
    {"matchLabels": {"app": "x"}},
    {"matchLabels": {"app": "x", "tier": "web"}},
    {"matchLabels": {"tier": "web", "app": "x"}},
    {"matchLabels": {"app": ["x"]}},
    {"matchLabels": {"n": 1}},
    {"matchLabels": {"app": None}},
    {"matchExpressions": [{"key": "app", "operator": "In", "values": ["x", "y"]}]},
    {"matchExpressions": [{"key": "app", "operator": "DoesNotExist"}]},
    {"matchLabels": {"app": "y"}, "matchExpressions": [{"key": "tier", "operator": "Exists"}]},
]
POLICY_TYPES: list[Any] = [MISSING, [], ["Egress"], ["Ingress"], ["Egress", "Ingress"], "Ingress"]
LABELS: list[Mapping[str, Any]] = [
    {},
    {"app": "x"},
    {"app": "x", "tier": "web"},
    {"app": "y"},
    {"app": "y", "tier": "db"},
    {"app": ["x"]},
    {"app": None},
    {"n": 1.0},
    {"n": True},
    {"other": "x"},
]
POD_NAMESPACES: list[str | None] = [None, "ml-prod", "ml-dev"]


def policy(namespace: Any, selector: Any, types: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {}, "spec": {}}
    if namespace is not MISSING:
        obj["metadata"]["namespace"] = namespace
    if selector is not MISSING:
        obj["spec"]["podSelector"] = selector
    if types is not MISSING:
        obj["spec"]["policyTypes"] = types
    return obj


def scan(policies: Sequence[Mapping[str, Any]], namespace: str | None, labels: Mapping[str, Any]) -> bool:
    """The check as it was: every policy, for every pod."""
    for item in policies:
        policy_namespace = field_at(item, ("metadata", "namespace"))
        if (
            (None if policy_namespace is MISSING else policy_namespace) == namespace
            and _isolates_ingress(item)
            and _selects(field_at(item, ("spec", "podSelector")), labels)
        ):
            return True
    return False


ALL = [policy(*combo) for combo in itertools.product(NAMESPACES, SELECTORS, POLICY_TYPES)]


def test_each_policy_alone_selects_the_same_pods() -> None:
    compared = selected = 0
    for item in ALL:
        index = IngressPolicies([item])
        for namespace, labels in itertools.product(POD_NAMESPACES, LABELS):
            expected = scan([item], namespace, labels)
            assert index.select(namespace, labels) == expected, (item, namespace, labels)
            compared += 1
            selected += expected
    assert compared > 10_000 and 0 < selected < compared


def test_random_sets_of_policies_select_the_same_pods() -> None:
    rng = random.Random(8)
    for _ in range(300):
        chosen = rng.sample(ALL, rng.randint(0, 12))
        index = IngressPolicies(chosen)
        for namespace, labels in itertools.product(POD_NAMESPACES, LABELS):
            assert index.select(namespace, labels) == scan(chosen, namespace, labels), (chosen, namespace, labels)
