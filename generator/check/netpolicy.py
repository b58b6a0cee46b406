"""Which NetworkPolicies isolate a pod for ingress: LabelSelector matching, and the policies
of a namespace indexed by a label they require."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from generator.check.objectfields import MISSING, as_list, as_map, field_at


def _selects(selector: Any, labels: Mapping[str, Any]) -> bool:
    """Whether a LabelSelector selects ``labels`` (an empty selector selects everything)."""
    if not isinstance(selector, Mapping):
        return False
    if any(labels.get(k) != v for k, v in as_map(selector.get("matchLabels")).items()):
        return False
    for item in as_list(selector.get("matchExpressions")):
        expr = as_map(item)
        key, op, values = str(expr.get("key")), str(expr.get("operator")), as_list(expr.get("values"))
        present = key in labels
        ok = {
            "In": present and labels.get(key) in values,
            "NotIn": not present or labels.get(key) not in values,
            "Exists": present,
            "DoesNotExist": not present,
        }.get(op, False)
        if not ok:
            return False
    return True


def _isolates_ingress(policy: Mapping[str, Any]) -> bool:
    types = field_at(policy, ("spec", "policyTypes"))
    return types is MISSING or not types or "Ingress" in as_list(types)


def _hashable(value: Any) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


class IngressPolicies:
    """The NetworkPolicies that isolate ingress, indexed so that finding the ones that may
    select a pod does not scan every policy of the namespace (one per model: a scan per pod
    made the check quadratic in the number of models).

    A policy whose podSelector requires some label ``k: v`` (the first of its matchLabels)
    is filed under (namespace, k, v) and only considered for pods with that label; one
    requiring no label (or a None or unhashable value) is considered for every pod of its
    namespace. :func:`_selects` then decides.
    """

    def __init__(self, policies: Sequence[Mapping[str, Any]]) -> None:
        self._by_label: dict[tuple[str | None, Any, Any], list[Any]] = {}
        self._others: dict[str | None, list[Any]] = {}
        for policy in policies:
            namespace = field_at(policy, ("metadata", "namespace"))
            namespace = None if namespace is MISSING else namespace
            selector = field_at(policy, ("spec", "podSelector"))
            # A pod's namespace is a string or None: a policy of any other never applies.
            if not (namespace is None or isinstance(namespace, str)) or not _isolates_ingress(policy):
                continue
            if not isinstance(selector, Mapping):
                continue  # selects nothing
            required = as_map(selector.get("matchLabels"))
            first = next(iter(required.items()), None)
            # A None value also matches pods without the label (labels.get gives None).
            if first is not None and first[1] is not None and _hashable(first[1]):
                self._by_label.setdefault((namespace, *first), []).append(selector)
            else:
                self._others.setdefault(namespace, []).append(selector)

    def select(self, namespace: str | None, labels: Mapping[str, Any]) -> bool:
        """Whether some policy of ``namespace`` selects pods labelled ``labels`` for ingress."""
        if any(_selects(selector, labels) for selector in self._others.get(namespace, ())):
            return True
        for key, value in labels.items():
            if not _hashable(value):
                continue  # equals no hashable matchLabels value
            for selector in self._by_label.get((namespace, key, value), ()):
                if _selects(selector, labels):
                    return True
        return False
