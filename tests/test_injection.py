"""Injection (issue 7, point 3): a hostile string in a free-text field of the spec cannot add,
remove or reshape an object, a Dockerfile instruction, an HCL block or a runbook heading.

Every string field of the spec models (``generator/spec/``), and what proves it safe:

FREE text (any string; the properties below are checked for every hostile payload):
  models[].description (at most 1000 characters: longer is rejected), env values (in
  models.yaml and in an environment override), build.command items, config file contents,
  fleet.gitops.targetRevision (Argo CD and Flux), monitoring.modelMetrics[].alert.expr and
  monitoring.sli.requestRate / errorRatio / latencyBucket (PromQL: the payload rides in a
  PromQL string literal or comment, since the expression itself must parse; ``$`` outside
  $window/$selector and braces in latencyBucket are rejected by design).
URL-like text, any non-whitespace string after the scheme (payloads with white space are
  rejected, the others must keep the structure): fleet.gitops.repoURL,
  fleet.alerting.runbookBaseURL, cluster.server, prometheus.url, artifact.uri.
CONSTRAINED by a validator, so tested by rejection (exit 1 with a located message; a payload
  the validator lets through must still keep the structure): names (fleet, model,
  environment, namespace, cluster), owner, image.repository / tag / digest, fleet.registry,
  fleet.baseImages, build.context, build.requirements (checked at render time),
  build.pythonVersion, build.systemPackages, artifact.sha256, env and secret variable names,
  secretRef.name / key, config.files paths, modelMetrics[].metric and alert.for,
  kubernetesVersion, fleet.gitops project, namespace and path (and an environment's
  gitops project and namespace).
Enumerated choices and numbers (runtime, controller, strategy, engine, logging, ...) hold
no text.

Properties, comparing each hostile render with a benign one (distinct markers per field):
(i) the same files, the same number of YAML documents per file; (ii) every document parses
to the same shape (keys in order, list lengths, scalar types), embedded JSON included;
(iii) every scalar that held the benign marker holds exactly the payload there (as the
field's carrier spells it); (iv) Dockerfiles keep their instructions and exec-form arrays,
docker-bake.hcl its blocks, attributes and interpolations; (v) runbooks gain no heading;
(vi) no payload adds a template action where a consumer expands templates (PrometheusRule
labels and annotations: Go templates; AnalysisTemplate queries: Argo Rollouts ``{{args}}``).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import strategies
import yaml

from generator.cli import main
from generator.errors import ModelfleetError
from generator.pipeline import render

pytestmark = pytest.mark.slow  # left out of `make test-fast`

Data = dict[str, Any]
FULL = int(os.environ.get("MODELFLEET_FUZZ_EXAMPLES", "0") or 0) > 0  # `make fuzz`: every payload

# ---------------------------------------------------------------------------------------
# Payloads

PAYLOADS: tuple[str, ...] = (
    strategies.KITCHEN_SINK,
    strategies.long_text(10_000),
    "\n---\napiVersion: v1\nkind: Secret\nmetadata: {name: x}\n",
    "key: value\n- item",
    "\"quoted\" 'single'",
    "{{ .Values.x }} {% if x %}{% endif %} ${x} %{x}",
    "{{x}}${x}%{x}",  # the same without white space, for URL-like fields
    "{{ .Values.x }}",  # and without '$', which PromQL overrides reject
    "a\u2028b\u2029c\re\x0bf\x0cg",
    "ctl\x01\x02\x1b[31m\x1f",
    "nel\u0085del\x7fc1\x9enon\ufffe",  # characters kustomize refuses: every field rejects them
    "yes",
    "0755",
    "3.10",
    "~",
    "",
    "*alias",
    "&anchor",
    "!!binary",
    "#x",
    "|",
    '"}',
    "\\",
    "`id`$(id)",
)
EXTRA_PAYLOADS: tuple[str, ...] = tuple(p for p in strategies.HOSTILE_TEXTS if p not in PAYLOADS)
ALL_PAYLOADS = PAYLOADS + EXTRA_PAYLOADS if FULL else PAYLOADS
PAYLOAD_IDS = [f"p{i}" for i in range(len(ALL_PAYLOADS))]


def promql_string(text: str) -> str:
    """``text`` as the body of a double-quoted PromQL string literal (Go escapes for the
    control characters, quote and backslash; everything else as itself)."""
    return json.dumps(text, ensure_ascii=False)[1:-1]


def promql_comment(text: str) -> str:
    """``text`` as PromQL comment lines after the expression: a comment ends at CR or LF, so
    each line of ``text`` gets its own '#'."""
    return "\n# ".join(re.split(r"\r\n|\r|\n", text))


# ---------------------------------------------------------------------------------------
# The fleet and its fields


def base_fleet(controller: str = "argocd") -> tuple[Data, dict[str, Data], dict[str, bytes]]:
    """A small fleet in which every free-text field is emitted somewhere."""
    models: Data = {
        "apiVersion": "modelfleet/v1",
        "kind": "ModelFleet",
        "fleet": {
            "name": "inj",
            "registry": "registry.example.com/ml",
            "gitops": {"controller": controller, "repoURL": "https://git.example.com/ml/deploy.git"},
            "alerting": {"runbookBaseURL": "https://runbooks.example.com/ml"},
        },
        "models": [
            {
                "name": "scorer",
                "description": "Scores things",
                "owner": "team-a",
                "runtime": "python",
                "image": {"tag": "1.0.0"},
                "build": {
                    "context": "services/scorer",
                    "requirements": "requirements.txt",
                    "command": ["uvicorn", "app:app", "--port", "8080"],
                },
                "artifact": {"uri": "s3://bucket/scorer/"},
                "env": {"MODEL_MODE": "fast"},
                "secrets": [{"env": "API_TOKEN", "secretRef": {"name": "scorer-secrets", "key": "token"}}],
                "config": {"files": ["services/scorer/config/settings.yaml"]},
                "scaling": {
                    "engine": "keda",
                    "minReplicas": 1,
                    "maxReplicas": 4,
                    "targets": {"cpuUtilization": 70, "requestsPerSecond": 10},
                },
                "rollout": {"strategy": "canary"},
                "monitoring": {
                    "sli": {
                        "requestRate": "sum(rate(app_requests_total{$selector}[$window]))",
                        "errorRatio": 'sum(rate(app_requests_total{$selector,code=~"5.."}[$window])) '
                        "/ sum(rate(app_requests_total{$selector}[$window]))",
                        "latencyBucket": "app_latency_seconds_bucket",
                    },
                    "modelMetrics": [
                        {"metric": "score_drift", "alert": {"expr": "score_drift > 0.5", "for": "10m"}},
                        {"metric": "score_mean", "alert": {"expr": "score_mean < 0.1"}},
                    ],
                },
            }
        ],
    }
    env: Data = {
        "apiVersion": "modelfleet/v1",
        "kind": "Environment",
        "name": "dev",
        "namespace": "ml-dev",
        "cluster": {"name": "dev-1", "server": "https://dev-1.example.com"},
        "kubernetesVersion": "1.31",
        "prometheus": {"url": "http://prometheus.monitoring.svc:9090"},
        "models": {"scorer": {"env": {"MODEL_TIER": "gold"}}},
    }
    files = {
        "services/scorer/requirements.txt": b"fastapi==0.115.5\n",
        "services/scorer/config/settings.yaml": b"threshold: 0.5\n",
    }
    return models, {"dev": env}, files


Putter = Callable[[Data, dict[str, Data], dict[str, bytes], Any], None]


@dataclass(frozen=True)
class Field:
    """One string field: where it lives, how a payload is carried into it, and how the
    payload then reads inside the carrier (``encode``)."""

    name: str
    kind: str  # "free" | "nospace" | "constrained"
    put: Putter
    carrier: Callable[[str], Any] = lambda payload: payload
    encode: Callable[[str], str] = lambda payload: payload
    rejects: Callable[[str], bool] = lambda payload: False  # payloads the spec rejects by design
    controller: str = "argocd"
    skips: Callable[[str], bool] = lambda payload: False  # payloads that mean "unset", not text
    renames: bool = False  # a constrained value that names files or objects (structure follows it)

    def expected_rejection(self, payload: str) -> bool:
        if self.kind == "nospace" and any(c.isspace() for c in payload):
            return True
        if not strategies.KUSTOMIZE_UNSAFE.isdisjoint(payload):
            return True
        return self.rejects(payload)


def _model(models: Data) -> Data:
    result: Data = models["models"][0]
    return result


def _set_path(*path: str | int) -> Putter:
    def put(models: Data, envs: dict[str, Data], files: dict[str, bytes], value: Any) -> None:
        node: Any = models
        if path[0] == "env":
            node, rest = envs["dev"], path[1:]
        else:
            rest = path
        for key in rest[:-1]:
            node = node.setdefault(key, {}) if isinstance(node, dict) else node[key]
        node[rest[-1]] = value

    return put


def _put_config(models: Data, envs: dict[str, Data], files: dict[str, bytes], value: Any) -> None:
    files["services/scorer/config/settings.yaml"] = value.encode("utf-8")


M = ("models", 0)
FREE_FIELDS: tuple[Field, ...] = (
    Field(
        "description",
        "free",
        _set_path(*M, "description"),
        rejects=lambda p: len(p) > 1000,
        skips=lambda p: p == "",  # an empty description is no description: no annotation
    ),
    Field("env value", "free", _set_path(*M, "env", "MODEL_MODE")),
    Field("env value (environment override)", "free", _set_path("env", "models", "scorer", "env", "MODEL_TIER")),
    Field("build.command item", "free", _set_path(*M, "build", "command", 1), rejects=lambda p: p == ""),
    Field("config file content", "free", _put_config),
    Field(
        "gitops.targetRevision (argocd)",
        "free",
        _set_path("fleet", "gitops", "targetRevision"),
        rejects=lambda p: p == "",
    ),
    Field(
        "gitops.targetRevision (flux)",
        "free",
        _set_path("fleet", "gitops", "targetRevision"),
        rejects=lambda p: p == "",
        controller="flux",
    ),
    Field(
        "modelMetrics.alert.expr (string literal)",
        "free",
        _set_path(*M, "monitoring", "modelMetrics", 0, "alert", "expr"),
        carrier=lambda p: f'score_drift{{model="{promql_string(p)}"}} > 0.5',
        encode=promql_string,
    ),
    Field(
        "modelMetrics.alert.expr (comment)",
        "free",
        _set_path(*M, "monitoring", "modelMetrics", 1, "alert", "expr"),
        carrier=lambda p: f"score_mean < 0.1\n# {promql_comment(p)}",
        encode=promql_comment,
    ),
    Field(
        "sli.requestRate",
        "free",
        _set_path(*M, "monitoring", "sli", "requestRate"),
        carrier=lambda p: f'sum(rate(app_requests_total{{$selector,route="{promql_string(p)}"}}[$window]))',
        encode=promql_string,
        rejects=lambda p: "$" in p or "{{" in p,  # '{{' is Argo Rollouts' argument syntax
    ),
    Field(
        "sli.errorRatio",
        "free",
        _set_path(*M, "monitoring", "sli", "errorRatio"),
        carrier=lambda p: (
            f'sum(rate(app_errors_total{{$selector,route="{promql_string(p)}"}}[$window])) '
            "/ sum(rate(app_requests_total{$selector}[$window]))"
        ),
        encode=promql_string,
        rejects=lambda p: "$" in p or "{{" in p,  # '{{' is Argo Rollouts' argument syntax
    ),
    Field(
        "sli.latencyBucket",
        "free",
        _set_path(*M, "monitoring", "sli", "latencyBucket"),
        carrier=lambda p: f'app_latency_seconds_bucket{{route="{promql_string(p)}"}}',
        encode=promql_string,
        rejects=lambda p: bool(set(promql_string(p)) & set("{}$")),
    ),
)
def _put_wake_up_query(models: Data, envs: dict[str, Data], files: dict[str, bytes], value: Any) -> None:
    targets = {"cpuUtilization": 70}
    wake_up = {"query": value, "perReplica": 10}
    scaling = {"engine": "keda", "minReplicas": 0, "maxReplicas": 4, "targets": targets, "wakeUp": wake_up}
    _model(models)["scaling"] = scaling


FREE_FIELDS += (
    Field(
        "platform annotation value",
        "free",
        _set_path("fleet", "platform"),
        carrier=lambda p: {"serviceAccount": {"annotations": {"example.com/note": p}}},
    ),
    Field(
        "scaling.wakeUp.query (string literal)",
        "free",
        _put_wake_up_query,
        carrier=lambda p: f'sum(scoring_queue_length{{queue="{promql_string(p)}"}})',
        encode=promql_string,
    ),
)
NOSPACE_FIELDS: tuple[Field, ...] = (
    Field("gitops.repoURL", "nospace", _set_path("fleet", "gitops", "repoURL"),
          carrier=lambda p: f"https://git.example.com/a{p}z"),
    Field("alerting.runbookBaseURL", "nospace", _set_path("fleet", "alerting", "runbookBaseURL"),
          carrier=lambda p: f"https://runbooks.example.com/a{p}z",
          rejects=lambda p: "{{" in p),  # '{{' would be expanded by Prometheus' templating
    Field("cluster.server", "nospace", _set_path("env", "cluster", "server"),
          carrier=lambda p: f"https://dev-1.example.com/a{p}z"),
    Field("prometheus.url", "nospace", _set_path("env", "prometheus", "url"),
          carrier=lambda p: f"http://prometheus.example:9090/a{p}z"),
    Field("artifact.uri", "nospace", _set_path(*M, "artifact", "uri"), carrier=lambda p: f"s3://bucket/a{p}z"),
)  # fmt: skip


def _put_env_name(models: Data, envs: dict[str, Data], files: dict[str, bytes], value: Any) -> None:
    _model(models)["env"] = {value: "x"}


def _routed(router: Data, expose: Data | None = None, scaling: Data | None = None) -> Putter:
    """Put a traffic router into dev and expose the first model there (``expose`` and the
    router's settings may hold the value: a callable of it)."""

    def put(models: Data, envs: dict[str, Data], files: dict[str, bytes], value: Any) -> None:
        def fill(node: Any) -> Any:
            if callable(node):
                return node(value)
            if isinstance(node, dict):
                return {k: fill(v) for k, v in node.items()}
            return node

        envs["dev"]["traffic"] = fill(router)
        override = envs["dev"].setdefault("models", {}).setdefault(_model(models)["name"], {})
        override["expose"] = fill(expose or {"host": "scorer.dev.example.com"})
        if scaling is not None:
            override["scaling"] = fill(scaling)

    return put


def _value(value: Any) -> Any:
    return value


def _constrained(
    name: str,
    put: Putter,
    carrier: Callable[[str], Any] = lambda p: p,
    *,
    renames: bool = False,
) -> Field:
    return Field(name, "constrained", put, carrier=carrier, renames=renames)


CONSTRAINED_FIELDS: tuple[Field, ...] = (
    _constrained("fleet.name", _set_path("fleet", "name"), renames=True),
    _constrained("fleet.registry", _set_path("fleet", "registry")),
    _constrained("fleet.gitops.project", _set_path("fleet", "gitops", "project")),
    _constrained("fleet.gitops.namespace", _set_path("fleet", "gitops", "namespace")),
    _constrained("fleet.gitops.path", _set_path("fleet", "gitops", "path")),
    _constrained("environment gitops.project", _set_path("env", "gitops", "project")),
    _constrained("fleet.baseImages.python", _set_path("fleet", "baseImages"),
                 lambda p: {"python": f"python:{{version}}-{p}"}),
    _constrained("model name", _set_path(*M, "name"), renames=True),
    _constrained("owner", _set_path(*M, "owner")),
    _constrained("image.tag", _set_path(*M, "image", "tag")),
    _constrained("image.repository", _set_path(*M, "image", "repository")),
    _constrained("image.digest", _set_path(*M, "image"), lambda p: {"digest": p}),
    _constrained("build.context", _set_path(*M, "build", "context"), renames=True),
    _constrained("build.requirements", _set_path(*M, "build", "requirements")),
    _constrained("build.pythonVersion", _set_path(*M, "build", "pythonVersion")),
    _constrained("build.systemPackages item", _set_path(*M, "build", "systemPackages"), lambda p: [p]),
    _constrained("artifact.sha256", _set_path(*M, "artifact", "sha256")),
    _constrained("secretRef.name", _set_path(*M, "secrets", 0, "secretRef", "name")),
    _constrained("secretRef.key", _set_path(*M, "secrets", 0, "secretRef", "key")),
    _constrained("secrets.env", _set_path(*M, "secrets", 0, "env"), renames=True),
    _constrained("env variable name", _put_env_name, renames=True),
    _constrained("config.files path", _set_path(*M, "config", "files"), lambda p: [p], renames=True),
    _constrained("modelMetrics.metric", _set_path(*M, "monitoring", "modelMetrics", 0, "metric"), renames=True),
    _constrained("modelMetrics.alert.for", _set_path(*M, "monitoring", "modelMetrics", 0, "alert", "for")),
    _constrained("resources quantity", _set_path(*M, "resources"), lambda p: {"requests": {"cpu": p}}),
    _constrained("rollout.rolling.maxSurge", _set_path(*M, "rollout", "rolling"), lambda p: {"maxSurge": p}),
    _constrained("environment namespace", _set_path("env", "namespace"), renames=True),
    _constrained("cluster.name", _set_path("env", "cluster", "name"), renames=True),
    _constrained("kubernetesVersion", _set_path("env", "kubernetesVersion")),
    _constrained("fleet.allowSecrets item", _set_path("fleet", "allowSecrets"), lambda p: [p]),
    _constrained("platform label value", _set_path("fleet", "platform"),
                 lambda p: {"pods": {"labels": {"example.com/tier": p}}}, renames=True),
    _constrained("platform label key", _set_path("fleet", "platform"),
                 lambda p: {"services": {"labels": {p: "x"}}}, renames=True),
    _constrained("platform annotation key", _set_path("fleet", "platform"),
                 lambda p: {"serviceAccount": {"annotations": {p: "x"}}}, renames=True),
    _constrained("platform dashboards namespace", _set_path("fleet", "platform"),
                 lambda p: {"dashboards": {"namespace": p}}, renames=True),
    _constrained("expose.host", _routed({"router": "nginx"}, {"host": _value}), renames=True),
    _constrained("expose.path", _routed({"router": "nginx"}, {"host": "s.example.com", "path": _value}), renames=True),
    _constrained("traffic.nginx.ingressClassName",
                 _routed({"router": "nginx", "nginx": {"ingressClassName": _value}}), renames=True),
    _constrained("traffic.nginx.namespaceLabel",
                 _routed({"router": "nginx", "nginx": {"namespaceLabel": _value}}, None,
                         {"engine": "keda", "minReplicas": 0, "targets": {"requestsPerSecond": 5},
                          "wakeUp": {"router": True}}), renames=True),
    _constrained("traffic.gatewayAPI.gateway",
                 _routed({"router": "gatewayAPI", "gatewayAPI": {"gateway": {"name": "public", "namespace": "gw",
                                                                          "sectionName": _value}}}), renames=True),
)  # fmt: skip


def marker(index: int) -> str:
    return f"BENIGN{index}MARK"


def build(
    fields: Mapping[int, Field], values: Mapping[int, str], controller: str
) -> tuple[Data, dict[str, Data], dict[str, bytes]]:
    models, envs, files = base_fleet(controller)
    for index, spec in fields.items():
        spec.put(models, envs, files, spec.carrier(values[index]))
    return models, envs, files


def write(root: Path, fleet: tuple[Data, dict[str, Data], dict[str, bytes]]) -> None:
    models, envs, files = fleet
    contents = {
        "models.yaml": strategies.dump(models),
        **{f"environments/{n}.yaml": strategies.dump(e) for n, e in envs.items()},
        **files,
    }
    for relative, content in contents.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)


@contextlib.contextmanager
def fleet_dir(fleet: tuple[Data, dict[str, Data], dict[str, bytes]]) -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write(root, fleet)
        yield root


def run_cli(*args: str) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        code = main(list(args))
    return code, err.getvalue()


LOCATED = re.compile(r"^(models\.yaml|environments/[^:]+\.yaml|services/[^:]+)(:\d+:\d+)?: error: ", re.MULTILINE)


def assert_rejected_cleanly(root: Path, what: str) -> None:
    """validate (or, when validate passes, render) exits 1 with a message located in the spec."""
    code, err = run_cli("--root", str(root), "validate")
    if code == 0:
        code, err = run_cli("--root", str(root), "render")
    assert code == 1, f"{what}: exit {code}\n{err}"
    assert "Traceback" not in err and "internal error" not in err, f"{what}:\n{err}"
    assert LOCATED.search(err), f"{what}: no finding located in the spec:\n{err}"


# ---------------------------------------------------------------------------------------
# Structure of the rendered files

YAML_SUFFIXES = (".yaml", ".yml")
INSTRUCTIONS = frozenset(
    (
        "FROM", "RUN", "CMD", "LABEL", "MAINTAINER", "EXPOSE", "ENV", "ADD", "COPY", "ENTRYPOINT", "VOLUME", "USER",
        "WORKDIR", "ARG", "ONBUILD", "STOPSIGNAL", "HEALTHCHECK", "SHELL",
    )
)  # fmt: skip


def _expand(node: Any, json_paths: set[tuple[Any, ...]] | None, path: tuple[Any, ...]) -> Any:
    """Parse strings that hold JSON (dashboards) so that they are compared as data. With
    ``json_paths`` None, record where JSON was found; otherwise parse exactly there."""
    if isinstance(node, dict):
        return {k: _expand(v, json_paths, (*path, k)) for k, v in node.items()}
    if isinstance(node, list):
        return [_expand(v, json_paths, (*path, i)) for i, v in enumerate(node)]
    if isinstance(node, str) and node[:1] in "{[":
        if json_paths is not None and path not in json_paths:
            return node
        try:
            parsed = json.loads(node)
        except ValueError:
            assert json_paths is None, f"{path}: embedded JSON no longer parses"
            return node
        if json_paths is None and isinstance(parsed, dict | list):
            return {"__json__": _expand(parsed, None, path)}
        return {"__json__": _expand(parsed, json_paths, path)}
    return node


def _json_paths(node: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(node, dict):
        if set(node) == {"__json__"}:
            yield path
            return
        for k, v in node.items():
            yield from _json_paths(v, (*path, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _json_paths(v, (*path, i))


def _shape(node: Any) -> Any:
    if isinstance(node, dict):
        return {"{}": [(k, _shape(v)) for k, v in node.items()]}
    if isinstance(node, list):
        return [_shape(v) for v in node]
    return type(node).__name__


def _scalars(node: Any, path: tuple[Any, ...], out: dict[tuple[Any, ...], Any]) -> None:
    if isinstance(node, dict):
        for k, v in node.items():
            _scalars(v, (*path, k), out)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            _scalars(v, (*path, i), out)
    else:
        out[path] = node


def _strings_blanked(text: str) -> str:
    """``text`` with the contents of every double-quoted string (backslash escapes) removed."""
    return re.sub(r'"(?:[^"\\\n]|\\.)*"', '""', text)


def dockerfile_shape(text: str) -> tuple[list[str], list[str], list[list[str]]]:
    """The instruction keywords in order (continuations joined, comments dropped), their
    arguments with quoted strings blanked, and the exec-form JSON arrays."""
    logical: list[str] = []
    current = ""
    for line in text.split("\n"):
        if not current and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.endswith("\\"):
            current += line[:-1]
            continue
        logical.append(current + line)
        current = ""
    assert not current, "a continuation runs off the end of the Dockerfile"
    keywords: list[str] = []
    blanked: list[str] = []
    arrays: list[list[str]] = []
    for line in logical:
        word = line.split(maxsplit=1)[0].upper()
        assert word in INSTRUCTIONS, f"not an instruction: {line[:80]!r}"
        keywords.append(word)
        blanked.append(_strings_blanked(line.split(maxsplit=1)[1] if " " in line.strip() else ""))
        rest = line.split(maxsplit=1)[1].strip() if " " in line.strip() else ""
        if word in {"CMD", "ENTRYPOINT", "RUN", "SHELL"} and rest.startswith("["):
            parsed = json.loads(rest)
            assert isinstance(parsed, list) and all(isinstance(x, str) for x in parsed), line
            arrays.append(parsed)
    return keywords, blanked, arrays


def hcl_shape(text: str) -> list[str]:
    """docker-bake.hcl without its string contents and comments: blocks, attributes, braces.
    Fails on a raw line break inside a string or an unescaped ${ / %{ interpolation."""
    shape: list[str] = []
    for line in text.split("\n"):
        if line.lstrip().startswith("#"):
            continue
        blanked = _strings_blanked(line)
        assert blanked.count('"') % 2 == 0, f"unterminated string in HCL line {line[:80]!r}"
        for body in re.findall(r'"((?:[^"\\]|\\.)*)"', line):
            unescaped = body.replace("$${", "").replace("%%{", "")
            assert "${" not in unescaped and "%{" not in unescaped, f"HCL interpolation in {line[:80]!r}"
        shape.append(blanked)
    return shape


def markdown_headings(text: str) -> list[str]:
    """ATX and setext headings outside fenced code blocks (CommonMark ends a line at LF, CR
    or CRLF)."""
    headings: list[str] = []
    fence: str | None = None
    previous = ""
    for line in re.split(r"\r\n|\r|\n", text):
        opener = re.match(r"^ {0,3}(`{3,}|~{3,})", line)
        if fence is not None:
            if (
                opener
                and opener.group(1)[0] == fence[0]
                and len(opener.group(1)) >= len(fence)
                and not line.strip(" `~")
            ):
                fence = None
            previous = ""
            continue
        if opener:
            fence = opener.group(1)
            previous = ""
            continue
        if re.match(r"^ {0,3}#{1,6}(\s|$)", line):
            headings.append(line)
        elif re.match(r"^ {0,3}(=+|-+)\s*$", line) and previous.strip():
            headings.append(f"{previous} / {line}")
        previous = line
    return headings


@dataclass
class Tree:
    files: dict[str, bytes]
    scalars: dict[tuple[Any, ...], Any]
    shapes: dict[str, Any]
    json_paths: dict[str, set[tuple[Any, ...]]]


def analyse(files: Mapping[str, bytes], json_paths: Mapping[str, set[tuple[Any, ...]]] | None = None) -> Tree:
    scalars: dict[tuple[Any, ...], Any] = {}
    shapes: dict[str, Any] = {}
    found: dict[str, set[tuple[Any, ...]]] = {}
    for name, raw in sorted(files.items()):
        text = raw.decode("utf-8")
        if name.endswith(YAML_SUFFIXES):
            docs = list(yaml.safe_load_all(text))
            expanded = []
            for index, doc in enumerate(docs):
                where = None if json_paths is None else json_paths.get(name, set())
                node = _expand(doc, {p[1:] for p in where if p[0] == index} if where is not None else None, ())
                found.setdefault(name, set()).update((index, *p) for p in _json_paths(node))
                expanded.append(node)
                _scalars(node, (name, index), scalars)
            shapes[name] = [_shape(d) for d in expanded]
        elif name.endswith("Dockerfile"):
            keywords, blanked, arrays = dockerfile_shape(text)
            shapes[name] = {"instructions": keywords, "arguments": blanked, "arrays": [len(a) for a in arrays]}
            for index, array in enumerate(arrays):
                _scalars(array, (name, "exec", index), scalars)
        elif name.endswith(".hcl"):
            shapes[name] = hcl_shape(text)
        elif name.endswith(".md"):
            shapes[name] = markdown_headings(text)
        else:
            shapes[name] = len(text.split("\n"))
    return Tree(dict(files), scalars, shapes, found)


# What a consumer of a rendered file makes of a string: Docker Compose interpolates `$VAR`
# and `${VAR}` everywhere in a compose file (`$$` is a literal `$`); Prometheus expands Go
# templates (`{{ }}`) in rule labels and annotations; Argo Rollouts expands `{{args.x}}`
# in AnalysisTemplate queries. ``consumed`` gives the value the consumer sees and the
# number of template actions in it: a payload must never add one.
_COMPOSE_ESCAPE = "\x00dollar\x00"


def consumed(path: tuple[Any, ...], value: str, kinds: Mapping[tuple[str, int], Any]) -> tuple[str, int, str]:
    name, index, *rest = path
    if name.startswith("compose/"):
        text = value.replace("$$", _COMPOSE_ESCAPE)
        return text.replace(_COMPOSE_ESCAPE, "$"), text.count("$"), "Docker Compose interpolation"
    kind = kinds.get((name, index))
    if kind == "PrometheusRule" and "rules" in rest and ("annotations" in rest or "labels" in rest):
        return value, value.count("{{"), "Prometheus Go template"
    if kind == "AnalysisTemplate" and rest[-1:] == ["query"]:
        return value, value.count("{{"), "Argo Rollouts template"
    return value, 0, ""


def compare(benign: Tree, hostile: Tree, replacements: Mapping[str, str], what: str, *, bare: bool = False) -> None:
    """``bare``: the value is a validated one that templates may emit unquoted (a FROM image,
    a COPY path), so Dockerfile arguments may differ; instructions and arrays may not."""
    assert sorted(hostile.files) == sorted(benign.files), f"{what}: the set of rendered files changed"
    for name, shape in benign.shapes.items():
        mine, other = shape, hostile.shapes[name]
        if bare and isinstance(mine, dict):
            mine, other = {**mine, "arguments": None}, {**other, "arguments": None}
        assert other == mine, f"{what}: the structure of {name} changed"
    kinds = {p[:2]: v for p, v in benign.scalars.items() if len(p) == 3 and p[2] == "kind"}
    for path, before in benign.scalars.items():
        if not isinstance(before, str) or not any(m in before for m in replacements):
            continue
        seen, actions, engine = consumed(path, before, kinds)
        expected = seen
        for mark, value in replacements.items():
            expected = expected.replace(mark, value)
        got, got_actions, _ = consumed(path, hostile.scalars[path], kinds)
        location = "/".join(map(str, path))
        assert got == expected, f"{what}: {location} does not hold the value exactly:\n{got!r}\n!=\n{expected!r}"
        assert got_actions == actions, f"{what}: {location} gained a {engine} action:\n{got!r}"


def render_tree(root: Path, json_paths: Mapping[str, set[tuple[Any, ...]]] | None = None) -> Tree:
    return analyse(render(root).plan.files, json_paths)


# ---------------------------------------------------------------------------------------
# Tests


_BENIGN: dict[tuple[str, ...], Tree] = {}


def _benign(fields: Mapping[int, Field], controller: str) -> Tree:
    key = (controller, *(f"{i}:{f.name}" for i, f in sorted(fields.items())))
    if key not in _BENIGN:
        with fleet_dir(build(fields, {i: marker(i) for i in fields}, controller)) as root:
            _BENIGN[key] = render_tree(root)
    return _BENIGN[key]


def _check_fields(fields: Mapping[int, Field], payload: str, controller: str) -> None:
    """Render with ``payload`` in every field that takes it; reject-check the others."""
    benign = _benign(fields, controller)
    accepted = {
        i: f
        for i, f in fields.items()
        if not f.expected_rejection(payload) and not f.skips(payload)
    }
    for index, spec in fields.items():
        if spec.expected_rejection(payload):
            values = {i: marker(i) for i in fields} | {index: payload}
            with fleet_dir(build(fields, values, controller)) as root:
                assert_rejected_cleanly(root, f"{spec.name} = {payload[:40]!r}")
    values = {i: marker(i) for i in fields} | dict.fromkeys(accepted, payload)
    with fleet_dir(build(fields, values, controller)) as root:
        try:
            hostile = render_tree(root, benign.json_paths)
        except ModelfleetError as exc:
            pytest.fail(f"{payload[:60]!r} was rejected in {', '.join(f.name for f in accepted.values())}: {exc}")
    replacements = {marker(i): f.encode(payload) for i, f in accepted.items()}
    compare(benign, hostile, replacements, f"payload {payload[:60]!r}")


def _grouped(fields: tuple[Field, ...], controller: str) -> dict[int, Field]:
    return {i: f for i, f in enumerate(fields) if f.controller == controller}


@pytest.mark.parametrize("payload", ALL_PAYLOADS, ids=PAYLOAD_IDS)
@pytest.mark.parametrize("controller", ["argocd", "flux"])
def test_free_text_cannot_reshape_output(payload: str, controller: str) -> None:
    _check_fields(_grouped(FREE_FIELDS, controller), payload, controller)


@pytest.mark.parametrize("payload", ALL_PAYLOADS, ids=PAYLOAD_IDS)
def test_url_like_text_cannot_reshape_output(payload: str) -> None:
    _check_fields(dict(enumerate(NOSPACE_FIELDS)), payload, "argocd")


@pytest.mark.parametrize("spec", CONSTRAINED_FIELDS, ids=[f.name for f in CONSTRAINED_FIELDS])
def test_constrained_field_rejects_hostile_text_cleanly(spec: Field) -> None:
    """Exit 1 with a located message; whatever the validator lets through renders files that
    parse, with the structure of the benign render unless the value names things."""
    benign = None if spec.renames else _constrained_benign(spec)
    for payload in ALL_PAYLOADS:
        with fleet_dir(build({0: spec}, {0: payload}, "argocd")) as root:
            code, err = run_cli("--root", str(root), "validate")
            what = f"{spec.name} = {payload[:40]!r}"
            assert code in (0, 1) and "Traceback" not in err and "internal error" not in err, f"{what}:\n{err}"
            if code == 1:
                assert LOCATED.search(err), f"{what}: unlocated\n{err}"
                continue
            try:
                hostile = render_tree(root)
            except ModelfleetError:
                assert_rejected_cleanly(root, what)
                continue
        if benign is not None:
            compare(benign, hostile, {}, what, bare=True)


# Values of constrained fields that the base fleet leaves unset.
CONSTRAINED_BENIGN = {
    "fleet.baseImages.python": "slim",
    "rollout.rolling.maxSurge": "25%",
    "build.systemPackages item": "libgomp1",
}


def _constrained_benign(spec: Field) -> Tree:
    models, envs, files = base_fleet()
    if spec.name in CONSTRAINED_BENIGN:
        spec.put(models, envs, files, spec.carrier(CONSTRAINED_BENIGN[spec.name]))
    with fleet_dir((models, envs, files)) as root:
        return render_tree(root)


def test_runbook_url_cannot_hold_a_prometheus_template() -> None:
    """runbookBaseURL is copied into every alert's runbook_url annotation, which Prometheus
    expands as a Go template: '{{' there is refused, with the fix in the hint."""
    fields = {0: next(f for f in NOSPACE_FIELDS if f.name == "alerting.runbookBaseURL")}
    with fleet_dir(build(fields, {0: "{{x}}"}, "argocd")) as root:
        code, err = run_cli("--root", str(root), "validate")
    assert code == 1, err
    assert "runbookBaseURL: 'https://runbooks.example.com/a{{x}}z' holds '{{'" in err
    assert "%7B%7B" in err


@pytest.mark.parametrize("name", ["sli.requestRate", "sli.errorRatio"])
def test_sli_override_cannot_hold_an_argo_template(name: str) -> None:
    """SLI overrides are copied into AnalysisTemplate queries, where Argo Rollouts resolves
    {{...}} as its own arguments: '{{' there is refused."""
    fields = {0: next(f for f in FREE_FIELDS if f.name == name)}
    with fleet_dir(build(fields, {0: "{{ .Values.x }}"}, "argocd")) as root:
        code, err = run_cli("--root", str(root), "validate")
    assert code == 1, err
    assert f"monitoring.{name}: the query holds '{{{{'" in err


def test_every_string_field_of_the_spec_is_classified() -> None:
    """A new string field of a spec model must be added to one of the groups above."""
    import importlib
    import pkgutil

    from pydantic import BaseModel

    import generator.spec

    covered = {
        "description", "env", "command", "targetRevision", "expr", "requestRate", "errorRatio", "latencyBucket",
        "repoURL", "runbookBaseURL", "server", "url", "uri", "name", "registry", "baseImages", "owner", "tag",
        "repository", "digest", "context", "requirements", "pythonVersion", "systemPackages", "sha256", "key",
        "files", "metric", "for_", "namespace", "project", "kubernetesVersion", "cpu", "memory", "maxSurge",
        "maxUnavailable",
        "models",  # environment overrides by model name
        "allowSecrets", "host", "path", "query", "ingressClassName", "namespaceLabel", "sectionName",
        "labels", "annotations",  # platform metadata
    }  # fmt: skip
    found: set[str] = set()
    for module_info in pkgutil.iter_modules(generator.spec.__path__, "generator.spec."):
        spec_module = importlib.import_module(module_info.name)
        for obj in vars(spec_module).values():
            if isinstance(obj, type) and issubclass(obj, BaseModel) and obj.__module__ == spec_module.__name__:
                for name, info in obj.model_fields.items():
                    if "str" in repr(info.annotation) and "Literal" not in repr(info.annotation):
                        found.add(name)
    assert found <= covered, f"unclassified string fields: {sorted(found - covered)}"


def test_benign_markers_are_emitted() -> None:
    """Each free and URL-like field reaches the output (else its round-trip check is empty)."""
    for group in (FREE_FIELDS, NOSPACE_FIELDS):
        for controller in ("argocd", "flux"):
            fields = {i: f for i, f in enumerate(group) if f.controller == controller}
            tree = _benign(fields, controller)
            emitted = " ".join(str(v) for v in tree.scalars.values()) + " ".join(
                raw.decode() for raw in tree.files.values()
            )
            for index, spec in fields.items():
                assert marker(index) in emitted, f"{spec.name} is emitted nowhere"
