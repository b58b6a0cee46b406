"""What the live test reads from the rendered example fleet (never from the generator's internals).

Objects come from ``kubectl kustomize rendered/overlays/<env>`` (what Argo CD applies), the
prometheus-adapter rules from ``rendered/platform/<env>/``, the rule groups from
``rendered/tests/<env>/*.rules.yaml`` and resolved spec values from ``modelfleet explain``.
"""

from __future__ import annotations

import functools
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
Obj = dict[str, Any]


class RenderedTreeError(AssertionError):
    """The rendered tree lacks something the live test needs."""


@functools.cache
def overlay(env: str) -> tuple[Obj, ...]:
    """Every object of ``rendered/overlays/<env>`` after kustomize, as Argo CD would apply them."""
    kubectl = shutil.which("kubectl") or str(REPO / ".venv" / "bin" / "kubectl")
    out = subprocess.run(
        [kubectl, "kustomize", str(REPO / "rendered" / "overlays" / env)],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    return tuple(doc for doc in yaml.safe_load_all(out) if doc)


def objects(env: str, kind: str) -> dict[str, Obj]:
    return {o["metadata"]["name"]: o for o in overlay(env) if o["kind"] == kind}


def podmonitors(env: str) -> list[Obj]:
    """The rendered PodMonitors of ``env``; their absence is a failure, never a fallback."""
    found = list(objects(env, "PodMonitor").values())
    if not found:
        raise RenderedTreeError(
            f"rendered/overlays/{env} holds no PodMonitor: the live test scrapes each model through the "
            "PodMonitor the generator renders (rendered/base/<model>/podmonitor.yaml); render the fleet first"
        )
    return found


def podmonitor_for(env: str, model: str) -> Obj:
    for pm in podmonitors(env):
        if pm["metadata"]["name"] == model:
            return pm
    raise RenderedTreeError(f"rendered/overlays/{env} has no PodMonitor named {model}")


def workload(env: str, model: str) -> Obj:
    """The model's Rollout or Deployment in ``env``."""
    for kind in ("Rollout", "Deployment"):
        if model in objects(env, kind):
            return objects(env, kind)[model]
    raise RenderedTreeError(f"rendered/overlays/{env} has no Rollout or Deployment named {model}")


def pod_template(env: str, model: str) -> Obj:
    return dict(workload(env, model)["spec"]["template"])


def literal_env(container: Mapping[str, Any]) -> dict[str, str]:
    """The container's env vars that have a literal value (secrets and fieldRefs are left out)."""
    return {e["name"]: str(e["value"]) for e in container.get("env") or [] if "value" in e}


# ------------------------------------------------------------------ Argo Rollouts analysis


@dataclass(frozen=True)
class AnalysisRef:
    template: str
    args: tuple[Mapping[str, Any], ...]  # the Rollout's args as written (value or valueFrom)


def analysis_refs(rollout: Mapping[str, Any]) -> list[AnalysisRef]:
    """Every analysis the Rollout runs: canary background and step analyses, blue-green pre/post."""
    strategy = rollout["spec"].get("strategy") or {}
    blocks: list[Mapping[str, Any]] = []
    canary = strategy.get("canary") or {}
    if canary.get("analysis"):
        blocks.append(canary["analysis"])
    blocks += [step["analysis"] for step in canary.get("steps") or [] if "analysis" in step]
    blue_green = strategy.get("blueGreen") or {}
    blocks += [blue_green[k] for k in ("prePromotionAnalysis", "postPromotionAnalysis") if blue_green.get(k)]
    refs: list[AnalysisRef] = []
    for block in blocks:
        for template in block.get("templates") or []:
            ref = AnalysisRef(template["templateName"], tuple(block.get("args") or []))
            if ref not in refs:
                refs.append(ref)
    return refs


def resolve_args(args: Sequence[Mapping[str, Any]], namespace: str, hashes: Mapping[str, str]) -> dict[str, str]:
    """Argo Rollouts' argument values: ``value``, ``fieldRef: metadata.namespace`` and
    ``podTemplateHashValue`` (``Latest``: the newest ReplicaSet, the canary or preview; ``Stable``)."""
    values: dict[str, str] = {}
    for arg in args:
        if "value" in arg:
            values[arg["name"]] = str(arg["value"])
            continue
        source = arg.get("valueFrom") or {}
        if source.get("fieldRef", {}).get("fieldPath") == "metadata.namespace":
            values[arg["name"]] = namespace
        elif source.get("podTemplateHashValue") in hashes:
            values[arg["name"]] = hashes[source["podTemplateHashValue"]]
        else:
            raise RenderedTreeError(f"analysis argument {arg} cannot be resolved by the live test")
    return values


_ARG = re.compile(r"\{\{\s*args\.([A-Za-z0-9_.-]+?)\s*\}\}")


def substitute_args(query: str, values: Mapping[str, str]) -> str:
    def one(match: re.Match[str]) -> str:
        if match.group(1) not in values:
            raise RenderedTreeError(
                f"analysis query uses {{{{args.{match.group(1)}}}}}, which the Rollout does not pass"
            )
        return values[match.group(1)]

    return _ARG.sub(one, query)


@dataclass(frozen=True)
class AnalysisQuery:
    model: str
    metric: str
    query: str  # with the arguments substituted


def analysis_queries(env: str, model: str, hashes: Mapping[str, str]) -> list[AnalysisQuery]:
    rollout = workload(env, model)
    namespace = rollout["metadata"]["namespace"]
    templates = objects(env, "AnalysisTemplate")
    out: list[AnalysisQuery] = []
    for ref in analysis_refs(rollout):
        values = resolve_args(ref.args, namespace, hashes)
        for metric in templates[ref.template]["spec"]["metrics"]:
            query = metric["provider"]["prometheus"]["query"]
            out.append(AnalysisQuery(model, metric["name"], substitute_args(query, values)))
    return out


# ------------------------------------------------------------------ scaling signals


@dataclass(frozen=True)
class ScalingQuery:
    model: str
    source: str  # "adapter <metric name>" or "keda <ScaledObject>/<trigger>"
    query: str


def adapter_queries(env: str) -> list[ScalingQuery]:
    """The prometheus-adapter ``rules.external`` queries of ``env`` as the adapter runs them for the
    HPA of the namespace: ``<<.Series>>``/``<<.LabelMatchers>>`` filled the way BuildExternal does
    (pkg/naming/metrics_query.go: the namespace matcher only through LabelMatchers)."""
    path = REPO / "rendered" / "platform" / env / "prometheus-adapter-values.yaml"
    values = yaml.safe_load(path.read_text(encoding="utf-8"))
    namespace = str(yaml.safe_load((REPO / "environments" / f"{env}.yaml").read_text(encoding="utf-8"))["namespace"])
    out: list[ScalingQuery] = []
    for rule in values["rules"]["external"]:
        name = rule["name"]["as"]
        service = re.search(r'service="([^"]+)"', rule["seriesQuery"])
        if service is None:
            raise RenderedTreeError(f"adapter rule {name}: no service matcher in {rule['seriesQuery']}")
        query = rule["metricsQuery"]
        series = rule["seriesQuery"].split("{", 1)[0]
        query = query.replace("<<.Series>>", series).replace("<<.LabelMatchers>>", f'namespace="{namespace}"')
        if "<<" in query:
            raise RenderedTreeError(f"adapter rule {name}: template field the live test does not fill: {query}")
        out.append(ScalingQuery(service.group(1), f"adapter {name}", query))
    return out


def keda_queries(env: str) -> list[ScalingQuery]:
    """The queries of the ``prometheus`` triggers of every ScaledObject of ``env``."""
    out: list[ScalingQuery] = []
    for name, scaled in objects(env, "ScaledObject").items():
        for trigger in scaled["spec"]["triggers"]:
            if trigger["type"] == "prometheus":
                source = f"keda {name}/{trigger.get('name', trigger['type'])}"
                out.append(ScalingQuery(scaled["spec"]["scaleTargetRef"]["name"], source, trigger["metadata"]["query"]))
    return out


# ------------------------------------------------------------------ rules


def rule_files(env: str) -> list[Path]:
    files = sorted((REPO / "rendered" / "tests" / env).glob("*.rules.yaml"))
    if not files:
        raise RenderedTreeError(f"rendered/tests/{env} holds no *.rules.yaml")
    return files


@dataclass(frozen=True)
class Record:
    name: str  # e.g. modelfleet:sli_error_ratio:rate5m
    kind: str  # error_ratio, latency_bad_ratio, requests
    window_seconds: int
    labels: Mapping[str, str]
    expr: str

    @property
    def selector(self) -> str:
        matchers = ",".join(f'{k}="{v}"' for k, v in sorted(self.labels.items()))
        return f"{self.name}{{{matchers}}}"


_SLI_RECORD = re.compile(r"^modelfleet:sli_(error_ratio|latency_bad_ratio|requests):rate(\d+)([smhd])$")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def sli_records(env: str, model: str) -> list[Record]:
    out: list[Record] = []
    for path in rule_files(env):
        for group in yaml.safe_load(path.read_text(encoding="utf-8"))["groups"]:
            for rule in group["rules"]:
                match = _SLI_RECORD.match(rule.get("record", ""))
                if match and (rule.get("labels") or {}).get("model") == model:
                    seconds = int(match.group(2)) * _UNIT[match.group(3)]
                    out.append(Record(rule["record"], match.group(1), seconds, dict(rule["labels"]), rule["expr"]))
    return out


def latency_threshold_seconds(record: Record) -> float:
    """The ``le`` bound of a latency good-ratio record (``le="0.2"`` or ``le=~"0.2|0.2[.]0"``)."""
    match = re.search(r'le=~?"([0-9.]+)', record.expr)
    if not match:
        raise RenderedTreeError(f"{record.name}: no le bound in {record.expr}")
    return float(match.group(1))


def explain(env: str, model: str, path: str) -> str:
    """A resolved spec value, as ``modelfleet explain`` reports it."""
    out = subprocess.run(
        [sys.executable, "-m", "generator", "--root", str(REPO), "explain", env, model, path],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    head = out.splitlines()[0]
    prefix = f"{env} {model} {path}: "
    if not head.startswith(prefix):
        raise RenderedTreeError(f"unexpected `modelfleet explain` output: {head!r}")
    return head[len(prefix) :]
