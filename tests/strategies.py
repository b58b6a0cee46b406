"""Hypothesis strategies shared by the property tests: VALID fleets (models.yaml, 1-3
environment files and the files they reference) and MUTATIONS of a valid fleet.

A drawn ``Fleet`` holds plain Python data; ``Fleet.write(root)`` dumps it with
``yaml.safe_dump`` (in a drawn style) and creates the build contexts, requirements files,
config files and baked artifacts it names.

The valid-fleet strategy covers the field space of the spec (``generator/spec/``) and then
*repairs* each (environment, model) combination with a small model of the merge rule
(defaults <- model <- environment defaults <- environment override; mappings merge,
lists and scalars replace, ``image`` and ``artifact`` replace whole) so that every
cross-field rule holds: requests within limits, minReplicas <= maxReplicas, scale to zero
only with KEDA and a request-rate target, a GPU update that fits the pool, SLOs whose
burn-rate alerts can fire, latency thresholds on a histogram bucket, and every policy.
Repairs are written into the environment override, the layer that wins.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml
from hypothesis import strategies as st

from generator.build.runtimemetrics import RUNTIME_SLIS
from generator.spec.runtimes import RUNTIMES

Data = dict[str, Any]

# ---------------------------------------------------------------------------------------
# Hostile text: shared with tests/test_injection.py

HOSTILE_FRAGMENTS: tuple[str, ...] = (
    "line one\nline two",
    "\n---\nkind: Secret\n",
    "key: value",
    'a "double" quote',
    "a 'single' quote",
    "{{ .Values.x }}",
    "{% if true %}x{% endif %}",
    "${HOME}",
    "%{x}",
    "$(touch /tmp/pwned)",
    "`id`",
    "line\u2028separator",
    "para\u2029separator",
    "ctl\x01\x07\x08\x0b\x0c\x1b[31mred",
    "cr\rreturn",
    "tab\there",
    "# not a comment",
    "- not a list",
    "&anchor *alias",
    "!!python/object:os.system",
    "|\n  block",
    "\\ back\\slash \\n",
    "end with backslash \\",
    "\ufeffbom",
    "zero\u200bwidth",
    "emoji \U0001f600",
    ' "\n  injected: true\n',
)
# Plain words that YAML 1.1 or 1.2 readers turn into something other than a string.
YAML_TYPE_TRAPS: tuple[str, ...] = (
    "yes", "no", "on", "off", "y", "N", "True", "NULL", "~", "", "0755", "0o17", "0x1F",
    "3.10", "1e3", "1_000", ".inf", "-.nan", "2024-01-01", "12:30:00", "+1", "<<", "=",
)  # fmt: skip
HOSTILE_TEXTS: tuple[str, ...] = (*HOSTILE_FRAGMENTS, *YAML_TYPE_TRAPS)
KITCHEN_SINK = "".join(HOSTILE_FRAGMENTS)


def long_text(size: int = 10_000) -> str:
    """A ``size``-character string that mixes hostile fragments into ordinary text."""
    chunk = "lorem ipsum: {{ x }} ${y} '\"\n---\n\u2028 "
    return (chunk * (size // len(chunk) + 1))[:size]


# Characters `kubectl kustomize` cannot carry: DEL, the C1 controls and U+FFFE/U+FFFF make it
# fail ("yaml: control characters are not allowed"), NEL comes out as a space. The spec refuses
# them (tests/test_fuzz.py::test_characters_kustomize_refuses_are_rejected), so valid fleets
# leave them out and the text mutations put them in.
KUSTOMIZE_UNSAFE = frozenset({*map(chr, range(0x7F, 0xA0)), "\ufffe", "\uffff"})
# Every character except surrogates (which no UTF-8 file can hold) and the above.
ANY_CHAR = st.characters(exclude_categories=["Cs"], exclude_characters="".join(sorted(KUSTOMIZE_UNSAFE)))
NON_SPACE_CHAR = ANY_CHAR.filter(lambda c: not c.isspace())


def free_text(*, min_size: int = 0, max_size: int = 60) -> st.SearchStrategy[str]:
    """Arbitrary text, with a bias towards the hostile strings above."""
    hostile = st.sampled_from(HOSTILE_TEXTS).filter(lambda s: min_size <= len(s) <= max_size)
    mixed = st.lists(st.one_of(st.sampled_from(HOSTILE_FRAGMENTS), st.text(ANY_CHAR, max_size=8)), max_size=4).map(
        "".join
    )
    return st.one_of(
        hostile,
        st.text(ANY_CHAR, min_size=min_size, max_size=max_size),
        mixed.filter(lambda s: min_size <= len(s) <= max_size),
    )


# ---------------------------------------------------------------------------------------
# Scalars of the spec


def _regex(pattern: str) -> st.SearchStrategy[str]:
    return st.from_regex(pattern, fullmatch=True)


# Model names are DNS-1035 labels short enough for `<model>-preview` (the spec's rule; the
# edges are tests/test_fuzz.py::test_model_name_is_a_valid_service_name).
MODEL_NAMES = _regex(r"[a-z][a-z0-9]{0,7}(-[a-z0-9]{1,6}){0,2}")
ENV_NAMES = st.one_of(st.sampled_from(["dev", "staging", "prod", "prod-eu", "qa"]), _regex(r"[a-z][a-z0-9]{0,9}"))
DNS_LABELS = _regex(r"[a-z0-9]([-a-z0-9]{0,20}[a-z0-9])?")
LABEL_VALUES = _regex(r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,30}[A-Za-z0-9])?")
HEX64 = _regex(r"[0-9a-f]{64}")
DIGESTS = HEX64.map(lambda h: f"sha256:{h}")
# A tag becomes the workload's app.kubernetes.io/version label, so the spec wants it to start and
# end with a letter or digit and fit 63 characters (tests/test_fuzz.py::test_tag_must_be_a_label_value).
TAGS = st.one_of(
    st.sampled_from(["1.0.0", "2.3.1", "3.10", "0755", "1e3", "yes", "null", "2024-01-01", "v1", "1_000"]),
    _regex(r"[A-Za-z0-9]([A-Za-z0-9_.-]{0,40}[A-Za-z0-9])?"),
).filter(lambda t: t != "latest")
_REPOSITORY_PATH = r"(/[a-z0-9]{1,8}([._-][a-z0-9]{1,4})?)"
REPOSITORIES = _regex(
    rf"[a-z0-9]{{1,8}}(\.[a-z0-9]{{1,6}})?((:[0-9]{{2,5}})?{_REPOSITORY_PATH}{{1,3}}|{_REPOSITORY_PATH}{{0,3}})"
)
DEBIAN_PACKAGES = _regex(r"[a-z0-9][a-z0-9+.-]{1,12}(=[A-Za-z0-9.+:~-]{1,8})?")
ENV_VAR_NAMES = _regex(r"E_[A-Za-z0-9_]{0,12}")  # plain env: E_*, secrets: S_* (never both)
SECRET_VAR_NAMES = _regex(r"S_[A-Za-z0-9_]{0,12}")
SECRET_NAMES = _regex(r"[a-z0-9]([-a-z0-9]{0,10}[a-z0-9])?(\.[a-z0-9]{1,8}){0,2}")
# The API server refuses '.', '..' and '..x' as keys, and so does the spec
# (tests/test_fuzz.py::test_config_and_secret_keys_the_api_server_rejects).
SECRET_KEYS = _regex(r"[-._a-zA-Z0-9]{1,20}").filter(lambda k: k != "." and not k.startswith(".."))
METRIC_NAMES = _regex(r"[a-zA-Z_:][a-zA-Z0-9_:]{0,20}")
DURATIONS = st.one_of(st.sampled_from(["5m", "1h", "30s", "1h30m", "2d", "500ms"]), _regex(r"[1-9][0-9]{0,2}(s|m|h)"))
PATH_SEGMENTS = _regex(r"[A-Za-z0-9_][A-Za-z0-9_-]{0,10}(\.[a-z]{1,4})?")
URL_TAILS = st.text(NON_SPACE_CHAR, max_size=30)


def urls() -> st.SearchStrategy[str]:
    """http(s) URLs, including ones whose tail holds quotes, braces and control characters."""
    hosts = _regex(r"[a-z][a-z0-9-]{0,10}(\.[a-z]{2,6}){1,2}(:[0-9]{2,5})?")
    return st.builds(lambda s, h, t: f"{s}://{h}/{t}", st.sampled_from(["http", "https"]), hosts, URL_TAILS)


def cpu_quantities() -> st.SearchStrategy[Any]:
    """CPU amounts in every spelling the spec takes, with their value in millicores."""
    return st.one_of(
        st.integers(1, 4000).map(lambda m: (f"{m}m", m)),
        st.integers(1, 16).map(lambda c: (str(c), c * 1000)),
        st.integers(1, 16).map(lambda c: (c, c * 1000)),  # a YAML number
        st.sampled_from([("0.5", 500), (0.25, 250), ("1.5", 1500), (".5", 500), ("2k", 2_000_000), ("1e1", 10_000)]),
    )


def memory_quantities() -> st.SearchStrategy[tuple[Any, int]]:
    """Memory amounts, with their value in bytes."""
    units = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "M": 10**6, "G": 10**9}
    return st.one_of(
        st.builds(lambda n, u: (f"{n}{u}", n * units[u]), st.integers(1, 64), st.sampled_from(["Gi", "G"])),
        st.builds(lambda n, u: (f"{n}{u}", n * units[u]), st.integers(64, 8192), st.sampled_from(["Mi", "M"])),
        st.integers(2**26, 2**33).map(lambda n: (n, n)),
        st.sampled_from([("1.5Gi", 3 * 2**29), ("1e9", 10**9), ("512Mi", 2**29)]),
    )


def _latency_boundaries(runtime: str) -> list[int]:
    """Whole-millisecond bucket boundaries of the runtime's latency histogram."""
    histogram = RUNTIME_SLIS[runtime].latency
    bounds = histogram.boundaries_ms() if histogram is not None else None
    return [int(b) for b in bounds or () if b == b.to_integral_value()]


def _min_objective(window_days: int) -> float:
    """The lowest objective whose fastest burn-rate alert (2 % of the budget in 1 h) can fire."""
    factor = Decimal("0.02") * window_days * 24
    return 95.0 if factor <= 1 else max(95.0, float(100 * (1 - 1 / factor)) + 0.02)


STARTUP_MAX_SECONDS = 7200  # the spec's limit (tests/test_fuzz.py::test_long_startup_renders)

# ---------------------------------------------------------------------------------------
# The fleet


@dataclass
class Fleet:
    """models.yaml, environments/*.yaml (by environment name) and the other files (bytes)."""

    models: Data
    environments: dict[str, Data]
    files: dict[str, bytes] = field(default_factory=dict)
    style: Mapping[str, Any] = field(default_factory=dict)

    def documents(self) -> dict[str, bytes]:
        """Relative path -> YAML bytes of every spec file."""
        out = {"models.yaml": dump(self.models, self.style)}
        for name, doc in sorted(self.environments.items()):
            out[f"environments/{name}.yaml"] = dump(doc, self.style)
        return out

    def write(self, root: Path, replace: Mapping[str, bytes] | None = None) -> None:
        """Write every file under ``root``; ``replace`` overrides some files' bytes."""
        contents = {**self.files, **self.documents(), **(replace or {})}
        for relative, content in contents.items():
            path = root / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)

    def model_names(self) -> list[str]:
        return [m["name"] for m in self.models["models"]]


def dump(data: Any, style: Mapping[str, Any] | None = None) -> bytes:
    """YAML that reads back as ``data``. PyYAML's emitter with allow_unicode writes NEL,
    U+2028 and U+2029 raw into flow scalars, where a reader folds them to a space; then
    fall back to escaping every non-ASCII character."""
    options = {"sort_keys": False, "allow_unicode": True, **(style or {})}
    text: str = yaml.safe_dump(data, **options)
    if options["allow_unicode"] and yaml.safe_load(text) != data:
        text = yaml.safe_dump(data, **{**options, "allow_unicode": False})
    return text.encode("utf-8")


DUMP_STYLES = st.fixed_dictionaries(
    {
        "default_flow_style": st.sampled_from([False, None, True]),
        "allow_unicode": st.booleans(),
        "width": st.sampled_from([80, 4096, 20]),
        "indent": st.sampled_from([2, 4]),
    }
)


# ---------------------------------------------------------------------------------------
# Merge (a model of generator/read/resolve.py's rule, to repair cross-field constraints)

ATOMIC = frozenset({"image", "artifact"})


def merge(target: Data, layer: Mapping[str, Any], top: bool = True) -> Data:
    for key, value in layer.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict) and not (top and key in ATOMIC):
            merge(target[key], value, top=False)
        else:
            target[key] = copy.deepcopy(value)
    return target


def _get(data: Mapping[str, Any], *path: str, default: Any = None) -> Any:
    node: Any = data
    for key in path:
        if not isinstance(node, Mapping) or node.get(key) is None:
            return default
        node = node[key]
    return node


def _set(data: Data, path: tuple[str, ...], value: Any) -> None:
    node = data
    for key in path[:-1]:
        if not isinstance(node.get(key), dict):
            node[key] = {}
        node = node[key]
    node[path[-1]] = value


# Defaults of spec.py that the repairs need (a field left unset takes these).
SPEC_DEFAULTS: Data = {
    "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"memory": "2Gi"}, "gpu": 0},
    "scaling": {"minReplicas": 2, "maxReplicas": 10, "engine": "hpa", "targets": {"cpuUtilization": 70}},
    "rollout": {"strategy": "rolling"},
    "monitoring": {"slo": {"availability": 99.5, "windowDays": 30}},
}


def _resolved(*layers: Data) -> Data:
    """The layers merged as modelfleet resolves them, over the spec's defaults. The default
    scaling.targets ({cpuUtilization: 70}) is a whole object: it applies only when no layer
    sets targets (a layer's targets merge key by key with the other layers', not with it)."""
    merged = copy.deepcopy(SPEC_DEFAULTS)
    if any(_get(layer, "scaling", "targets") is not None for layer in layers):
        del merged["scaling"]["targets"]
    for layer in layers:
        merge(merged, layer)
    return merged


def _cpu_milli(value: Any) -> Decimal:
    text = str(value) if not isinstance(value, float) else repr(value)
    suffixes = {"m": Decimal("0.001"), "k": Decimal(1000)}
    if text[-1:] in suffixes:
        return Decimal(text[:-1]) * suffixes[text[-1]] * 1000
    return Decimal(text) * 1000


def _bytes(value: Any) -> Decimal:
    text = str(value) if not isinstance(value, float) else repr(value)
    units = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "k": 10**3, "M": 10**6, "G": 10**9, "m": 0.001}
    for unit in sorted(units, key=len, reverse=True):
        if text.endswith(unit):
            return Decimal(text[: -len(unit)]) * Decimal(str(units[unit]))
    return Decimal(text)


def _pods(value: int | str, replicas: int, *, up: bool) -> int:
    if isinstance(value, int):
        return value
    share = int(value.rstrip("%")) * replicas / 100
    return math.ceil(share) if up else math.floor(share)


Fix = Callable[[tuple[str, ...], Any], None]


def repair(merged: Data, fix: Fix, policy: Mapping[str, Any]) -> None:
    """Make one resolved model valid; ``fix(path, value)`` records a change in the winning layer
    and must also apply it to ``merged`` so later repairs see it."""
    _repair_resources(merged, fix)
    _repair_scaling(merged, fix)
    _repair_monitoring(merged, fix)
    _repair_updates(merged, fix)
    _repair_policy(merged, fix, policy)


def _repair_resources(m: Data, fix: Fix) -> None:
    """Requests within limits."""
    for kind, measure in (("memory", _bytes), ("cpu", _cpu_milli)):
        request = _get(m, "resources", "requests", kind)
        limit = _get(m, "resources", "limits", kind)
        if request is not None and limit is not None and measure(request) > measure(limit):
            fix(("resources", "limits", kind), request)


def _repair_scaling(m: Data, fix: Fix) -> None:
    """Replicas in order, scale to zero only with KEDA and a demand signal, a latency target
    only with a latency histogram."""
    low, high = m["scaling"]["minReplicas"], m["scaling"]["maxReplicas"]
    targets = _get(m, "scaling", "targets", default={})
    keda = _get(m, "scaling", "engine") == "keda"
    if _get(m, "scaling", "wakeUp") is not None and not keda:
        fix(("scaling", "engine"), "keda")
        keda = True
    if low == 0 and (not keda or _get(m, "scaling", "wakeUp") is None):
        fix(("scaling", "minReplicas"), 1)
        low = 1
    if low > high:
        fix(("scaling", "maxReplicas"), low)
    has_bucket_override = _get(m, "monitoring", "sli", "latencyBucket") is not None
    if targets.get("latencyP95Ms") is not None and not _latency_boundaries(m["runtime"]) and not has_bucket_override:
        fix(("scaling", "targets", "latencyP95Ms"), None)
    # KEDA needs a target to make a trigger of (tests/test_fuzz.py::test_keda_without_targets_is_rejected)
    if not any(v is not None for v in _get(m, "scaling", "targets", default={}).values()):
        fix(("scaling", "targets", "cpuUtilization"), 70)


def _repair_monitoring(m: Data, fix: Fix) -> None:
    """A latency SLO on a bucket boundary, and SLOs whose every burn-rate alert can fire."""
    has_bucket_override = _get(m, "monitoring", "sli", "latencyBucket") is not None
    boundaries = _latency_boundaries(m["runtime"])
    latency = _get(m, "monitoring", "slo", "latency")
    if latency is not None and not has_bucket_override and latency.get("thresholdMs") not in boundaries:
        fix(("monitoring", "slo", "latency"), {**latency, "thresholdMs": boundaries[0]} if boundaries else None)
    floor = _min_objective(_get(m, "monitoring", "slo", "windowDays", default=30))
    if _get(m, "monitoring", "slo", "availability", default=99.5) < floor:
        fix(("monitoring", "slo", "availability"), 99.99)
    latency = _get(m, "monitoring", "slo", "latency")
    if latency is not None and latency["percent"] < floor:
        fix(("monitoring", "slo", "latency", "percent"), 99.99)


def _repair_updates(m: Data, fix: Fix) -> None:
    """Updates that progress and fit a GPU pool."""
    low, high = max(m["scaling"]["minReplicas"], 1), m["scaling"]["maxReplicas"]
    gpu = _get(m, "resources", "gpu", default=0)
    surge = _get(m, "rollout", "rolling", "maxSurge")
    unavailable = _get(m, "rollout", "rolling", "maxUnavailable")
    surge = surge if surge is not None else (0 if gpu else "25%")
    unavailable = unavailable if unavailable is not None else (1 if gpu else 0)
    if _pods(surge, low, up=True) <= 0 and _pods(unavailable, low, up=False) <= 0:
        fix(("rollout", "rolling", "maxUnavailable"), 1)
    if gpu:
        needed = _pods(surge, high, up=True) * gpu
        if _get(m, "rollout", "strategy") == "blueGreen":
            needed = max(needed, gpu * high)
        if needed > _get(m, "resources", "spareGpus", default=0):
            fix(("resources", "spareGpus"), needed)


def _repair_policy(m: Data, fix: Fix, policy: Mapping[str, Any]) -> None:
    if policy.get("requireDigests") and _get(m, "image", "digest") is None:
        fix(("image",), {"digest": "sha256:" + "ab" * 32})
    artifact = m.get("artifact")
    external = artifact is not None and not artifact["uri"].startswith("image://")
    if policy.get("requirePinnedArtifacts") and artifact is not None and external and artifact.get("sha256") is None:
        fix(("artifact",), {**artifact, "sha256": "cd" * 32})


def _layer_fixer(merged: Data, layer: Data) -> Fix:
    def fix(path: tuple[str, ...], value: Any) -> None:
        _set(layer, path, value)
        _set(merged, path, copy.deepcopy(value))

    return fix


# ---------------------------------------------------------------------------------------
# Model pieces


@st.composite
def images(draw: st.DrawFn, model: str, registry: str) -> Data:
    """An image; a repository of its own, under fleet.registry, ends in the model's name, so no two
    models share one (the spec refuses that: test_fuzz.py::test_models_sharing_an_image_repository_are_rejected)."""
    image: Data = draw(st.one_of(TAGS.map(lambda t: {"tag": t}), DIGESTS.map(lambda d: {"digest": d})))
    if draw(st.booleans()):  # images run only from fleet.registry
        path = "/".join([*draw(st.lists(_regex(r"[a-z0-9]{1,8}"), max_size=2)), model])
        image = {"repository": f"{registry}/{path}", **image}
    return image


@st.composite
def artifacts(draw: st.DrawFn, baked_paths: list[str]) -> Data:
    scheme = draw(st.sampled_from(["s3", "gs", "pvc", "oci", "hf", "image"]))
    if scheme == "image":
        path = "/".join(draw(st.lists(PATH_SEGMENTS, min_size=1, max_size=3)))
        baked_paths.append(path)
        uri = f"image://{path}"
    elif scheme == "pvc":
        uri = f"pvc://{draw(DNS_LABELS)}/{draw(st.text(NON_SPACE_CHAR, max_size=20))}"
    else:
        uri = f"{scheme}://{draw(st.text(NON_SPACE_CHAR, min_size=1, max_size=40))}"
    artifact: Data = {"uri": uri}
    if draw(st.booleans()):
        artifact["sha256"] = draw(HEX64)
    return artifact


@st.composite
def resources(draw: st.DrawFn, *, gpu: bool) -> Data:
    cpu, _ = draw(cpu_quantities())
    memory, memory_bytes = draw(memory_quantities())
    limit_bytes = memory_bytes * draw(st.sampled_from([1, 2, 4]))
    out: Data = {"requests": {"cpu": cpu, "memory": memory}, "limits": {"memory": limit_bytes}}
    if draw(st.booleans()):
        out["limits"]["memory"] = f"{math.ceil(limit_bytes / 2**20)}Mi"
    if draw(st.booleans()):
        out["limits"]["cpu"] = "32"
    if gpu:
        out["gpu"] = draw(st.integers(1, 4))
        if draw(st.booleans()):
            out["spareGpus"] = draw(st.integers(0, 8))
    return out


@st.composite
def scalings(draw: st.DrawFn) -> Data:
    engine = draw(st.sampled_from(["hpa", "keda"]))
    high = draw(st.integers(1, 50))
    low = draw(st.integers(0 if engine == "keda" else 1, high))
    targets: Data = {}
    if draw(st.booleans()):
        targets["cpuUtilization"] = draw(st.integers(1, 1000))
    if draw(st.booleans()):
        targets["memoryUtilization"] = draw(st.integers(1, 1000))
    if draw(st.booleans()):
        targets["latencyP95Ms"] = draw(st.integers(1, 10_000))
    if draw(st.booleans()):
        targets["requestsPerSecond"] = draw(st.one_of(st.integers(1, 500), st.floats(0.01, 500, allow_nan=False)))
    if not targets:
        targets["cpuUtilization"] = 70
    scaling: Data = {"minReplicas": low, "maxReplicas": high, "engine": engine, "targets": targets}
    if low == 0:  # a queue wakes it: a signal that exists while the model has no pods
        queue = draw(st.sampled_from(["scoring_queue_length", 'rabbitmq_queue_messages_ready{queue="jobs"}']))
        scaling["wakeUp"] = {"query": f"sum({queue})", "perReplica": draw(st.integers(1, 1000))}
    return scaling


SURGES = st.one_of(st.integers(0, 3), st.sampled_from(["0%", "25%", "50%", "100%", "1%"]))


@st.composite
def rollouts(draw: st.DrawFn) -> Data:
    out: Data = {"strategy": draw(st.sampled_from(["rolling", "canary", "blueGreen"]))}
    if draw(st.booleans()):
        rolling: Data = {}
        if draw(st.booleans()):
            rolling["maxSurge"] = draw(SURGES)
        if draw(st.booleans()):
            rolling["maxUnavailable"] = draw(SURGES)
        out["rolling"] = rolling
    if out["strategy"] == "canary" or draw(st.booleans()):
        steps = sorted(draw(st.sets(st.integers(1, 99), min_size=1, max_size=5)))
        canary: Data = {"steps": steps, "pauseMinutes": draw(st.integers(0, 1440))}
        if draw(st.booleans()):
            canary["analysis"] = {
                "maxErrorRate": draw(st.floats(0.0001, 0.9999, allow_nan=False)),
                "maxLatencyP95Ms": draw(st.integers(1, 60_000)),
                "minRequests": draw(st.integers(0, 10_000)),
            }
        out["canary"] = canary
    if out["strategy"] == "blueGreen" and draw(st.booleans()):
        out["blueGreen"] = {"autoPromote": draw(st.booleans())}
    return out


@st.composite
def objectives(draw: st.DrawFn, window_days: int) -> float:
    low = _min_objective(window_days)
    nice = [v for v in (95.0, 97.5, 99.0, 99.5, 99.9, 99.95, 99.99) if v >= low]
    value: float = draw(st.one_of(st.sampled_from(nice), st.floats(low, 99.99, allow_nan=False)))
    return value


@st.composite
def monitorings(draw: st.DrawFn, runtime: str) -> Data:
    days = draw(st.one_of(st.sampled_from([7, 28, 30]), st.integers(1, 90)))
    slo: Data = {"availability": draw(objectives(days)), "windowDays": days}
    sli: Data = {}
    if draw(st.integers(0, 4)) == 0:
        sli = {
            "requestRate": "sum(rate(app_requests_total{$selector}[$window]))",
            "errorRatio": 'sum(rate(app_requests_total{$selector,code=~"5.."}[$window])) '
            "/ sum(rate(app_requests_total{$selector}[$window]))",
            "latencyBucket": draw(
                st.sampled_from(['app_latency_seconds_bucket{route="/predict"}', "app_latency_milliseconds_bucket"])
            ),
        }
    boundaries = _latency_boundaries(runtime)
    if (boundaries or sli) and draw(st.booleans()):
        threshold = draw(st.sampled_from(boundaries)) if boundaries else draw(st.integers(1, 5000))
        slo["latency"] = {"thresholdMs": threshold, "percent": draw(objectives(days))}
    out: Data = {"slo": slo}
    if sli:
        out["sli"] = sli
    if draw(st.booleans()):
        out["alerts"] = {"podRestarts": {"max": draw(st.integers(1, 50)), "windowMinutes": draw(st.integers(1, 1440))}}
    metrics = draw(st.lists(METRIC_NAMES, max_size=2, unique=True))
    if metrics:
        entries: list[Data] = []
        for name in metrics:
            entry: Data = {"metric": name}
            if draw(st.booleans()):
                entry["alert"] = {
                    "expr": draw(st.sampled_from([f"{name} > 0.5", f"avg_over_time({name}[10m]) < 0.1"])),
                    "for": draw(DURATIONS),
                    "severity": draw(st.sampled_from(["page", "ticket"])),
                }
            entries.append(entry)
        out["modelMetrics"] = entries
    return out


@st.composite
def models(draw: st.DrawFn, name: str, files: dict[str, bytes], registry: str) -> Data:
    runtime = draw(st.sampled_from(RUNTIMES))
    model: Data = {"name": name}
    if draw(st.booleans()):
        model["description"] = draw(free_text(max_size=200))
    model["owner"] = draw(LABEL_VALUES)
    model["runtime"] = runtime
    model["image"] = draw(images(name, registry))
    baked: list[str] = []
    context = f"services/{name}"
    if runtime == "python" or draw(st.integers(0, 4)) == 0:
        requirements = draw(st.sampled_from(["requirements.txt", "reqs/prod.txt", "requirements-lock.txt"]))
        build: Data = {"context": context, "command": draw(st.lists(free_text(min_size=1), min_size=1, max_size=4))}
        if requirements != "requirements.txt" or draw(st.booleans()):
            build["requirements"] = requirements
        if draw(st.booleans()):
            build["pythonVersion"] = draw(st.sampled_from(["3.9", "3.10", "3.11", "3.12", "3.13"]))
        if draw(st.booleans()):
            build["systemPackages"] = draw(st.lists(DEBIAN_PACKAGES, max_size=3))
        model["build"] = build
        files[f"{context}/{requirements}"] = b"fastapi==0.115.5\n"
    if draw(st.integers(0, 3)):
        model["artifact"] = draw(artifacts(baked))
        for path in baked:  # relative to the build context, or to the fleet root without one
            files[f"{context}/{path}" if "build" in model else path] = b"weights"
    if draw(st.booleans()):
        model["port"] = draw(st.one_of(st.sampled_from([80, 8080, 8082, 9000, 65535]), st.integers(1, 65535)))
    if draw(st.booleans()):
        model["resources"] = draw(resources(gpu=draw(st.integers(0, 4)) == 0))
    if draw(st.booleans()):
        model["startup"] = {"maxSeconds": draw(st.integers(10, STARTUP_MAX_SECONDS))}
    if draw(st.booleans()):
        model["env"] = draw(st.dictionaries(ENV_VAR_NAMES, free_text(), max_size=4))
    if draw(st.booleans()):
        names = draw(st.lists(SECRET_VAR_NAMES, min_size=1, max_size=3, unique=True))
        model["secrets"] = [
            {"env": var, "secretRef": {"name": draw(SECRET_NAMES), "key": draw(SECRET_KEYS)}} for var in names
        ]
    if draw(st.booleans()):
        keys = draw(st.lists(PATH_SEGMENTS, min_size=1, max_size=3, unique=True))
        paths = [f"{context}/config/{i}/{key}" for i, key in enumerate(keys)]
        for path in paths:
            files[path] = draw(free_text(max_size=200)).encode("utf-8")
        model["config"] = {"files": paths}
    if draw(st.booleans()):
        model["scaling"] = draw(scalings())
    if draw(st.booleans()):
        model["rollout"] = draw(rollouts())
    if draw(st.booleans()):
        model["monitoring"] = draw(monitorings(runtime))
    if draw(st.booleans()):
        model["logging"] = {"level": draw(st.sampled_from(["debug", "info", "warning", "error"]))}
    return model


@st.composite
def fleet_defaults(draw: st.DrawFn) -> Data:
    out: Data = {}
    if draw(st.booleans()):
        out["resources"] = draw(resources(gpu=False))
    if draw(st.booleans()):
        high = draw(st.integers(1, 20))
        out["scaling"] = {"minReplicas": draw(st.integers(1, high)), "maxReplicas": high}
    if draw(st.booleans()):
        out["rollout"] = {"strategy": draw(st.sampled_from(["rolling", "canary", "blueGreen"]))}
    if draw(st.booleans()):
        days = draw(st.sampled_from([7, 28, 30]))
        out["monitoring"] = {"slo": {"availability": draw(objectives(days)), "windowDays": days}}
    if draw(st.booleans()):
        out["logging"] = {
            "level": draw(st.sampled_from(["debug", "info", "warning", "error"])),
            "format": draw(st.sampled_from(["json", "text"])),
        }
    if draw(st.booleans()):
        out["env"] = draw(st.dictionaries(ENV_VAR_NAMES, free_text(), max_size=2))
    return out


@st.composite
def overrides(draw: st.DrawFn, model: Data, registry: str) -> Data:
    """A per-environment override of ``model``: any subset of the overridable fields."""
    out: Data = {}
    choice = draw(st.sampled_from(["image", "artifact", "resources", "scaling", "rollout", "env", "misc", "off"]))
    if choice == "off":
        return {"enabled": False}
    if choice == "image":
        out["image"] = draw(images(model["name"], registry))
    if choice == "artifact" and "artifact" in model and not model["artifact"]["uri"].startswith("image://"):
        out["artifact"] = draw(artifacts([]).filter(lambda a: not a["uri"].startswith("image://")))
    if choice == "resources":
        out["resources"] = draw(resources(gpu=bool(_get(model, "resources", "gpu"))))
    if choice == "scaling":
        out["scaling"] = {"maxReplicas": draw(st.integers(1, 50))}
        if draw(st.booleans()):
            out["scaling"] = draw(scalings())
    if choice == "rollout":
        out["rollout"] = draw(rollouts())
    if choice == "env":
        out["env"] = draw(st.dictionaries(ENV_VAR_NAMES, free_text(), max_size=3))
    if choice == "misc":
        out["startup"] = {"maxSeconds": draw(st.integers(10, STARTUP_MAX_SECONDS))}
        out["logging"] = {"level": draw(st.sampled_from(["debug", "error"]))}
        if "config" in model:
            out["config"] = {"files": model["config"]["files"][:1]}
    return out


@st.composite
def environment_docs(
    draw: st.DrawFn, name: str, model_names: list[str], models_by_name: Mapping[str, Data], registry: str
) -> Data:
    env: Data = {
        "apiVersion": "modelfleet/v1",
        "kind": "Environment",
        "name": name,
        "namespace": draw(st.one_of(st.just(f"ml-{name}"), DNS_LABELS)),
        "cluster": {"name": draw(DNS_LABELS), "server": draw(urls())},
        "kubernetesVersion": "1.31",
    }
    if draw(st.booleans()):
        env["policy"] = {
            key: draw(st.booleans())
            for key in (
                "requireDigests",
                "requirePinnedArtifacts",
                "requireBaseImageDigests",
                "autoPromote",
                "autoSync",
            )
            if draw(st.booleans())
        }
    if draw(st.integers(0, 3)) == 0:
        env["prometheus"] = {"url": draw(urls())}
    if draw(st.booleans()):
        defaults: Data = {}
        if draw(st.booleans()):
            high = draw(st.integers(1, 30))
            defaults["scaling"] = {"minReplicas": draw(st.integers(1, high)), "maxReplicas": high}
        if draw(st.booleans()):
            defaults["logging"] = {"level": draw(st.sampled_from(["debug", "info", "warning", "error"]))}
        if draw(st.booleans()):
            defaults["monitoring"] = {"slo": {"windowDays": draw(st.sampled_from([7, 28, 30, 90]))}}
        env["defaults"] = defaults
    chosen = draw(st.lists(st.sampled_from(model_names), unique=True, max_size=len(model_names)))
    if chosen:
        env["models"] = {n: draw(overrides(models_by_name[n], registry)) for n in chosen}
    return env


@st.composite
def fleets(draw: st.DrawFn, *, max_models: int = 3, max_environments: int = 3) -> Fleet:
    """A valid fleet: 1..max_models models and 1..max_environments environments."""
    files: dict[str, bytes] = {}
    registry = draw(REPOSITORIES)
    # no model takes the name of another's canary or preview Service
    # (tests/test_fuzz.py::test_derived_service_name_taken_by_another_model_is_rejected)
    names = draw(
        st.lists(MODEL_NAMES, min_size=1, max_size=max_models, unique=True).filter(
            lambda ns: not any(f"{n}{suffix}" in ns for n in ns for suffix in ("-canary", "-preview"))
        )
    )
    model_list = [draw(models(name, files, registry)) for name in names]
    by_name = {m["name"]: m for m in model_list}
    fleet: Data = {
        "name": draw(DNS_LABELS),
        "registry": registry,
        "gitops": {
            "controller": draw(st.sampled_from(["argocd", "flux"])),
            "repoURL": draw(urls()),
        },
        # Prometheus would expand '{{' in every runbook_url, so the spec refuses it there
        # (tests/test_injection.py::test_runbook_url_cannot_hold_a_prometheus_template)
        "alerting": {"runbookBaseURL": draw(urls().filter(lambda url: "{{" not in url))},
    }
    if draw(st.booleans()):
        fleet["gitops"]["targetRevision"] = draw(
            st.one_of(st.sampled_from(["main", "v1.2.3", "a" * 40, "release/2024"]), free_text(min_size=1))
        )
    defaults = draw(fleet_defaults())
    doc: Data = {"apiVersion": "modelfleet/v1", "kind": "ModelFleet", "fleet": fleet}
    if defaults:
        doc["defaults"] = defaults
    doc["models"] = model_list
    env_names = draw(st.lists(ENV_NAMES, min_size=1, max_size=max_environments, unique=True))
    environments = {name: draw(environment_docs(name, names, by_name, registry)) for name in env_names}
    # The shared base (no environment) must be valid by itself, then every environment.
    for model in model_list:
        merged = _resolved(defaults, model)
        repair(merged, _layer_fixer(merged, model), {})
    for env in environments.values():
        for model in model_list:
            override = env.setdefault("models", {}).setdefault(model["name"], {})
            if override.get("enabled") is False:
                continue
            merged = _resolved(defaults, model, env.get("defaults", {}), override)
            repair(merged, _layer_fixer(merged, override), env.get("policy", {}))
            if not override:
                del env["models"][model["name"]]
        if not env["models"]:
            del env["models"]
    if any(_get(env, "policy", "requireBaseImageDigests") for env in environments.values()):
        fleet["baseImages"] = {
            "python": "python:{version}-slim-bookworm@sha256:" + "ef" * 32,
            **{runtime: f"docker.io/example/{runtime}:1.0@sha256:{'12' * 32}" for runtime in RUNTIMES[1:]},
        }
    elif draw(st.booleans()):
        fleet["baseImages"] = {"python": "python:{version}-slim"}
    # an environment that requires digests needs the artifact fetchers pinned too
    pin_fetchers = any(_get(env, "policy", "requireDigests") for env in environments.values())
    if pin_fetchers or draw(st.booleans()):
        fleet["fetcherImages"] = {
            fetcher: f"{registry}/mirror/{fetcher}:1.0" + (f"@sha256:{'34' * 32}" if pin_fetchers else "")
            for fetcher in draw(st.sets(st.sampled_from(["rclone", "oras"]), min_size=2 if pin_fetchers else 0))
        }
    return Fleet(doc, environments, files, draw(DUMP_STYLES))


# ---------------------------------------------------------------------------------------
# Mutations


def paths_of(data: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every path to a value below ``data`` (not ``data`` itself)."""
    if isinstance(data, dict):
        for key, value in data.items():
            yield (*prefix, key)
            yield from paths_of(value, (*prefix, key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            yield (*prefix, index)
            yield from paths_of(value, (*prefix, index))


def _at(data: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        data = data[key]
    return data


SENTINEL = "ZZSENTINELZZ"
ANY_VALUE: st.SearchStrategy[Any] = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(),
        st.text(ANY_CHAR, max_size=10),
        st.sampled_from(HOSTILE_TEXTS),
    ),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=5), inner, max_size=3)),
    max_leaves=6,
)
TEXT_TRAPS = (
    *YAML_TYPE_TRAPS,
    "&a [*a]",  # a list that contains itself (tests/test_fuzz.py::test_recursive_alias_is_a_located_error)
    "!!binary aGVsbG8=",
    "!!set {a, b}",
    "!!python/object/apply:os.system ['true']",
    "!custom x",
    "{a: 1, a: 2}",
    "*undefined",
    "@reserved",
    "`reserved",
    "%",
    "'unterminated",
    '"\\xZZ"',
    "[1, 2",
    "2001-12-14t21:59:43.10-05:00",
    "0b101",
    "? complex key\n: value",
    '"DEL\\x7f"',  # characters kustomize refuses (test_characters_kustomize_refuses_are_rejected)
    '"C1\\x9e"',
    '"NEL\\x85"',
    '"\\uffff"',
    "raw\x85NEL",
)
DATA_MUTATIONS = ("delete", "retype", "unknown_key", "trap", "trap_key", "deepen", "alias", "duplicate_list_item")
TEXT_MUTATIONS = (
    "duplicate_line",
    "truncate",
    "tab",
    "byte_ff",
    "insert_bytes",
    "bom",
    "crlf",
    "cr",
    "nul",
    "empty",
    "document_separator",
    "unicode_break",
    "anchor_bomb",
    "merge_key",
    "directive",
)
FILE_MUTATIONS = ("delete_file", "file_is_directory", "dangling_symlink", "extra_environment", "drop_referenced_file")


@dataclass(frozen=True)
class Mutation:
    """What to do to a written valid fleet: replace/delete files, or make odd file types."""

    kind: str
    description: str
    replace: Mapping[str, bytes] = field(default_factory=dict)
    delete: tuple[str, ...] = ()
    directories: tuple[str, ...] = ()
    symlinks: Mapping[str, str] = field(default_factory=dict)

    def apply(self, root: Path) -> None:
        for relative in self.delete:
            (root / relative).unlink(missing_ok=True)
        for relative, content in self.replace.items():
            path = root / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)
        for relative in self.directories:
            (root / relative).unlink(missing_ok=True)
            (root / relative).mkdir(parents=True)
        for relative, target in self.symlinks.items():
            (root / relative).unlink(missing_ok=True)
            (root / relative).symlink_to(target)


def _mutate_data(draw: st.DrawFn, data: Data, kind: str, style: Mapping[str, Any]) -> bytes:
    data = copy.deepcopy(data)
    paths = list(paths_of(data))
    path = draw(st.sampled_from(paths))
    parent, key = _at(data, path[:-1]), path[-1]
    trap: str | None = None
    if kind == "delete":
        del parent[key]
    elif kind == "retype":
        parent[key] = draw(ANY_VALUE)
    elif kind == "unknown_key":
        mappings = [p for p in [(), *paths] if isinstance(_at(data, p), dict)]
        target = _at(data, draw(st.sampled_from(mappings)))
        target[draw(st.text(ANY_CHAR, min_size=1, max_size=12))] = draw(ANY_VALUE)
    elif kind == "trap":
        parent[key] = SENTINEL
        trap = draw(st.sampled_from(TEXT_TRAPS))
    elif kind == "trap_key":
        mappings = [p for p in [(), *paths] if isinstance(_at(data, p), dict) and _at(data, p)]
        target = _at(data, draw(st.sampled_from(mappings)))
        old = draw(st.sampled_from(sorted(target)))
        target[SENTINEL] = target.pop(old)
        trap = draw(st.sampled_from([*YAML_TYPE_TRAPS, "[a]", "{a: b}", "? [x]"]))
    elif kind == "deepen":
        value = parent[key]
        for _ in range(draw(st.integers(1, 60))):
            value = [value] if draw(st.booleans()) else {"nested": value}
        parent[key] = value
    elif kind == "alias":
        # not an ancestor of the replaced value (that would make a cycle, which no fleet file holds)
        containers = [p for p in paths if isinstance(_at(data, p), dict | list) and path[: len(p)] != p]
        if containers:
            parent[key] = _at(data, draw(st.sampled_from(containers)))  # dumped as &id001 / *id001
        else:
            parent[key] = None
    else:  # duplicate_list_item
        lists = [p for p in [(), *paths] if isinstance(_at(data, p), list) and _at(data, p)]
        if lists:
            target = _at(data, draw(st.sampled_from(lists)))
            target.append(copy.deepcopy(target[draw(st.integers(0, len(target) - 1))]))
    text = dump(data, style)
    if trap is not None:
        text = text.replace(SENTINEL.encode(), trap.encode("utf-8"), 1)
    return text


def _mutate_text(draw: st.DrawFn, raw: bytes, kind: str) -> bytes:
    position = draw(st.integers(0, len(raw)))
    lines = raw.split(b"\n")
    line = draw(st.integers(0, max(len(lines) - 1, 0)))
    if kind == "duplicate_line":
        lines.insert(line, lines[line])
        return b"\n".join(lines)
    if kind == "truncate":
        return raw[:position]
    if kind == "tab":
        if draw(st.booleans()):
            return raw[:position] + b"\t" + raw[position:]
        lines[line] = b"\t" + lines[line].lstrip(b" ")
        return b"\n".join(lines)
    if kind == "byte_ff":
        return raw[:position] + b"\xff" + raw[position + 1 :]
    if kind == "insert_bytes":
        return raw[:position] + draw(st.binary(min_size=1, max_size=8)) + raw[position:]
    if kind == "bom":
        return b"\xef\xbb\xbf" + raw
    if kind == "crlf":
        return raw.replace(b"\n", b"\r\n")
    if kind == "cr":
        return raw.replace(b"\n", b"\r")
    if kind == "nul":
        return raw[:position] + b"\x00" + raw[position:]
    if kind == "empty":
        return draw(st.sampled_from([b"", b"\n", b"# only a comment\n", b"---\n", b"~\n", b"[]\n", b"just a string\n"]))
    if kind == "document_separator":
        return raw + draw(st.sampled_from([b"---\n", b"---\nkind: Secret\n", b"...\n", b"--- |\n  x\n"]))
    if kind == "unicode_break":
        char = draw(st.sampled_from(["\u2028", "\u2029", "\u0085", "\x0b", "\x0c"])).encode("utf-8")
        return raw[:position] + char + raw[position:] if _utf8_boundary(raw, position) else raw + char
    if kind == "anchor_bomb":
        bomb = b'bomb: &a0 ["x","x","x","x","x","x","x","x","x","x"]\n'
        bomb += b"".join(b"b%d: &a%d [" % (i, i) + b", ".join([b"*a%d" % (i - 1)] * 10) + b"]\n" for i in range(1, 9))
        return bomb + raw
    if kind == "merge_key":
        return raw + b"extra: &base {a: 1}\nmerged:\n  <<: *base\n"
    # directive
    return draw(st.sampled_from([b"%YAML 1.1\n---\n", b"%YAML 1.2\n---\n", b"%TAG ! tag:x,2000:\n---\n"])) + raw


def _utf8_boundary(raw: bytes, position: int) -> bool:
    return position >= len(raw) or (raw[position] & 0xC0) != 0x80


@st.composite
def mutations(draw: st.DrawFn, fleet: Fleet) -> Mutation:
    """One random damage to ``fleet`` (already valid): data, text or file level."""
    documents = fleet.documents()
    target = draw(st.sampled_from(sorted(documents)))
    level = draw(st.sampled_from(["data", "text", "file"]))
    data = fleet.models if target == "models.yaml" else fleet.environments[Path(target).stem]
    if level == "data":
        kind = draw(st.sampled_from(DATA_MUTATIONS))
        return Mutation(kind, f"{kind} in {target}", replace={target: _mutate_data(draw, data, kind, fleet.style)})
    if level == "text":
        kind = draw(st.sampled_from(TEXT_MUTATIONS))
        return Mutation(kind, f"{kind} in {target}", replace={target: _mutate_text(draw, documents[target], kind)})
    kind = draw(st.sampled_from(FILE_MUTATIONS))
    if kind == "delete_file":
        return Mutation(kind, f"delete {target}", delete=(target,))
    if kind == "file_is_directory":
        return Mutation(kind, f"{target} is a directory", directories=(target,))
    if kind == "dangling_symlink":
        return Mutation(kind, f"{target} is a dangling symlink", symlinks={target: "does-not-exist.yaml"})
    if kind == "extra_environment":
        name = draw(st.one_of(st.sampled_from(["Prod", "x_y", "a" * 70, "dev.v2", "-x", "x-"]), ENV_NAMES))
        content = draw(st.sampled_from(sorted(documents.values())))
        return Mutation(kind, f"extra environments/{name}.yaml", replace={f"environments/{name}.yaml": content})
    referenced = sorted(fleet.files)
    if not referenced:
        return Mutation(kind, f"delete {target}", delete=(target,))
    victim = draw(st.sampled_from(referenced))
    how = draw(st.sampled_from(["delete", "directory", "symlink_out", "binary"]))
    if how == "delete":
        return Mutation(kind, f"delete {victim}", delete=(victim,))
    if how == "directory":
        return Mutation(kind, f"{victim} is a directory", directories=(victim,))
    if how == "symlink_out":
        return Mutation(kind, f"{victim} links outside the root", symlinks={victim: "/etc/hostname"})
    return Mutation(kind, f"{victim} is binary", replace={victim: b"\xff\xfe\x00\x01" * 8})
