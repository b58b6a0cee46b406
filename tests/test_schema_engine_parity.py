"""jsonschema-rs and jsonschema accept and reject the same objects, over the project's corpus.

The strict check asks jsonschema-rs whether an object is valid and only runs jsonschema (for
its messages) on an object jsonschema-rs does not accept. That is exact as long as
jsonschema-rs never accepts an object jsonschema rejects. The corpus: every object the
example fleet renders (each environment's objects and GitOps objects, core kinds and CRDs),
each as rendered and in many deliberately broken variants: an unknown field in every
mapping, every scalar replaced by values of the wrong type, every field removed in turn,
strings that no enum, pattern or format of the schemas allows, and values JSON has no exact
counterpart for (which jsonschema-rs refuses to read, so jsonschema decides).
"""

from __future__ import annotations

import copy
import datetime as dt
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest
from jsonschema.protocols import Validator

from generator import pipeline
from generator.build import compose
from generator.check import crdschema
from generator.check.kubeschema import KubeValidator
from generator.check.schemaengine import KubeError, accepts, object_errors
from generator.fastschema import fast_accepts
from generator.read import rawschema

pytestmark = pytest.mark.slow  # left out of `make test-fast`

REPO = Path(__file__).resolve().parent.parent

Path_ = tuple[str | int, ...]


class Text(str):
    """A str subclass: valid JSON to jsonschema, not readable by jsonschema-rs."""

    __slots__ = ()


@dataclass(frozen=True)
class Engines:
    """Both engines for one object's schema, and the checker the pipeline uses."""

    slow: Validator
    fast: jsonschema_rs.Validator
    errors: Callable[[Any], list[KubeError]]  # the pipeline's: fast verdict, then jsonschema
    slow_errors: Callable[[Any], list[KubeError]]  # jsonschema alone


@dataclass(frozen=True)
class Case:
    version: str
    label: str
    obj: Any


@pytest.fixture
def rendered(example_render: pipeline.Rendered) -> pipeline.Rendered:
    return example_render


def _engines(version: str, obj: dict[str, Any]) -> Engines:
    api_version, kind = obj["apiVersion"], obj["kind"]
    if crdschema.has_schema(api_version, kind):
        slow = crdschema._validator(api_version, kind)
        fast = crdschema._fast_validator(api_version, kind)
        assert slow is not None and fast is not None
        return Engines(
            slow,
            fast,
            crdschema.crd_errors,
            lambda o: object_errors(o, crdschema._validator, crdschema._no_schema, lambda a, k: None),
        )
    validator = KubeValidator(version)
    kube_slow = validator.validator_for(api_version, kind)
    kube_fast = validator.fast_validator_for(api_version, kind)
    assert kube_slow is not None and kube_fast is not None, (api_version, kind)
    return Engines(
        kube_slow,
        kube_fast,
        validator.errors,
        lambda o: object_errors(o, validator.validator_for, validator._no_schema, lambda a, k: None),
    )


def _nodes(node: Any, path: Path_ = ()) -> Iterator[tuple[Path_, Any]]:
    yield path, node
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _nodes(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _nodes(value, (*path, index))


def _replaced(obj: dict[str, Any], path: Path_, change: Callable[[Any, str | int], None]) -> dict[str, Any]:
    broken = copy.deepcopy(obj)
    parent: Any = broken
    for part in path[:-1]:
        parent = parent[part]
    change(parent, path[-1])
    return broken


def _set(value: Any) -> Callable[[Any, str | int], None]:
    def change(parent: Any, key: str | int) -> None:
        parent[key] = copy.deepcopy(value)

    return change


def _delete(parent: Any, key: str | int) -> None:
    del parent[key]


# Wrong types and values no enum, pattern or format of the schemas allows. Each scalar is
# replaced by two of them in turn (rotating, so every kind of replacement meets every kind of
# field across the corpus), strings also get a trailing newline.
SCALAR_REPLACEMENTS: list[tuple[str, Any]] = [
    ("mapping", {"not": "a scalar"}),
    ("list", ["x"]),
    ("null", None),
    ("true", True),
    ("integer", 7),
    ("negative", -1),
    ("float", 1.5),
    ("integral float", 3.0),
    ("huge integer", 2**70),
    ("empty string", ""),
    ("odd string", "Not_An-Enum value!"),
    ("trailing newline", "1s\n"),
    ("number string", "12"),
    ("quantity string", "100Mi"),
    ("date-time string", "not-a-date"),
]
PER_SCALAR = 2
# Values JSON has no exact counterpart for: jsonschema-rs refuses to read them, jsonschema decides.
NON_JSON: list[tuple[str, Any]] = [
    ("a date", dt.date(2024, 1, 1)),
    ("a str subclass", Text("x")),
    ("a tuple", ("x",)),
]
NON_JSON_LABELS = ("a date", "a str subclass", "a tuple", "an int key")


def _variants(obj: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    yield "as rendered", obj
    yield "an int key", {**obj, 1: "x"}
    scalars = 0
    for path, node in _nodes(obj):
        where = "/" + "/".join(map(str, path))
        if isinstance(node, dict):
            yield f"unknown field in {where}", _replaced(obj, (*path, "unknownFieldX"), _set(1)) if path else {
                **obj,
                "unknownFieldX": 1,
            }
        if not path:
            continue
        if isinstance(node, dict | list):
            yield f"{where} = a string", _replaced(obj, path, _set("x"))
            empty: Any = {} if isinstance(node, dict) else []
            yield f"{where} emptied", _replaced(obj, path, _set(empty))
        else:
            if isinstance(node, str):
                yield f"{where} with a trailing newline", _replaced(obj, path, _set(node + "\n"))
            for offset in range(PER_SCALAR):
                label, value = SCALAR_REPLACEMENTS[(scalars * PER_SCALAR + offset) % len(SCALAR_REPLACEMENTS)]
                yield f"{where} = {label}", _replaced(obj, path, _set(value))
            label, value = NON_JSON[scalars % len(NON_JSON)]
            if scalars % 10 == 0:
                yield f"{where} = {label}", _replaced(obj, path, _set(value))
            scalars += 1
        yield f"{where} removed", _replaced(obj, path, _delete)


def _corpus(rendered: pipeline.Rendered) -> list[tuple[str, dict[str, Any]]]:
    seen: set[str] = set()
    corpus: list[tuple[str, dict[str, Any]]] = []
    for env in rendered.environments:
        for obj in (*env.objects, *env.gitops):
            key = json.dumps([env.version, obj], sort_keys=True)
            if key not in seen:
                seen.add(key)
                corpus.append((env.version, obj))
    return corpus


def _fast_verdict(fast: jsonschema_rs.Validator, obj: Any) -> bool | None:
    """jsonschema-rs's verdict, or None when it cannot read the object."""
    try:
        return fast.is_valid(obj)
    except ValueError:
        return None


def test_both_engines_agree_on_every_object_and_broken_variant(rendered: pipeline.Rendered) -> None:
    corpus = _corpus(rendered)
    kinds = {(obj["apiVersion"], obj["kind"]) for _, obj in corpus}
    assert len(kinds & set(crdschema.crd_kinds())) >= 5, "the corpus must hold custom resources"
    assert len(kinds - set(crdschema.crd_kinds())) >= 8, "the corpus must hold core kinds"
    compared = rejected = unreadable = 0
    fast_accepts_invalid: list[str] = []
    fast_rejects_valid: list[str] = []
    for version, obj in corpus:
        engines = _engines(version, obj)
        for label, variant in _variants(obj):
            fast_ok = _fast_verdict(engines.fast, variant)
            slow_ok = engines.slow.is_valid(variant)
            where = f"{obj['kind']}/{obj['metadata']['name']} (Kubernetes {version}): {label}"
            if fast_ok is None:
                unreadable += 1
                assert label.endswith(NON_JSON_LABELS), where
                assert not accepts(variant, lambda a, k, fast=engines.fast: fast), where  # so jsonschema decides
                continue
            compared += 1
            rejected += not slow_ok
            if fast_ok and not slow_ok:
                fast_accepts_invalid.append(where)
            elif slow_ok and not fast_ok:
                fast_rejects_valid.append(where)
    print(
        f"\n{len(corpus)} rendered objects; {compared} objects compared ({rejected} invalid): "
        f"{len(fast_accepts_invalid)} accepted by jsonschema-rs only, {len(fast_rejects_valid)} by jsonschema only; "
        f"{unreadable} not readable by jsonschema-rs"
    )
    assert compared > 10_000 and compared // 3 < rejected < compared  # both kinds, many of each
    assert fast_accepts_invalid == []
    # The one dialect difference: Python's `$` also matches before a final newline, Rust's does
    # not. jsonschema-rs is the stricter there, so such an object goes to jsonschema, which decides.
    assert [w for w in fast_rejects_valid if not w.endswith(("trailing newline", "= trailing newline"))] == []


def test_messages_are_those_of_jsonschema(rendered: pipeline.Rendered) -> None:
    """The pipeline's errors equal jsonschema's alone, object by object (a sample of each kind)."""
    compared = 0
    for version, obj in _corpus(rendered):
        engines = _engines(version, obj)
        for index, (label, variant) in enumerate(_variants(obj)):
            if index % 29 == 0:
                assert engines.errors(variant) == engines.slow_errors(variant), label
                compared += 1
    assert compared > 1000, compared


def test_an_object_only_jsonschema_accepts_is_valid(rendered: pipeline.Rendered) -> None:
    """Where the regex dialects differ (a final newline before `$`), jsonschema's verdict stands."""
    monitor = next(o for e in rendered.environments for o in e.objects if o["kind"] == "PodMonitor")
    broken = copy.deepcopy(monitor)
    broken["spec"]["podMetricsEndpoints"][0]["interval"] += "\n"
    assert crdschema._fast_validator("monitoring.coreos.com/v1", "PodMonitor") is not None
    assert not crdschema.crd_accepts(broken)
    assert crdschema._validator("monitoring.coreos.com/v1", "PodMonitor").is_valid(broken)  # type: ignore[union-attr]
    assert crdschema.crd_errors(broken) == []
    assert crdschema.validate_custom_objects([("a.yaml", broken)]) == []


def _source_corpus(tmp: Path) -> list[tuple[str, str, Any]]:
    """(schema file, where, data): the example fleet's files and every invalid case's, as loaded."""
    from generator.read.load import load_fleet
    from tests.test_invalid import CASES, HERE, _apply

    roots = [REPO]
    for name in CASES:
        _apply(HERE / name, tmp / name)
        roots.append(tmp / name)
    corpus: list[tuple[str, str, Any]] = []
    for root in roots:
        try:
            sources = load_fleet(root)
        except Exception:  # a case that fails before the schema stage (bad YAML, unsafe characters)
            continue
        corpus.append(("models.schema.json", f"{root.name}/models.yaml", sources.models.data))
        corpus.extend(
            ("environment.schema.json", f"{root.name}/{doc.path}", doc.data) for doc in sources.environments
        )
    return corpus


def _compare(fast: jsonschema_rs.Validator, slow: Validator, label: str, data: Any, out: dict[str, list[str]]) -> None:
    fast_ok = _fast_verdict(fast, data)
    slow_ok = slow.is_valid(data)
    out["compared"].append(label)
    if not slow_ok:
        out["rejected"].append(label)
    if fast_ok and not slow_ok:
        out["fast only"].append(label)
    if fast_ok is None:
        assert not fast_accepts(fast, data), label  # so jsonschema decides


def test_spec_schemas_get_the_same_verdicts_from_both_engines(tmp_path: Path) -> None:
    """The JSON Schema checks of models.yaml and environments/*.yaml: jsonschema-rs never
    accepts a file (or a broken variant of one) that jsonschema rejects."""
    out: dict[str, list[str]] = {"compared": [], "rejected": [], "fast only": []}
    corpus = _source_corpus(tmp_path)
    assert len(corpus) > 250, len(corpus)
    for filename, where, data in corpus:
        fast, slow = rawschema._fast_validator(filename), rawschema._validator(filename)
        variants = _variants(data) if where.startswith(f"{REPO.name}/") else iter([("as loaded", data)])
        for label, variant in variants:
            if label == "an int key":  # the loader refuses a key that is not a string
                continue
            _compare(fast, slow, f"{where}: {label}", variant, out)
    compared, rejected = len(out["compared"]), len(out["rejected"])
    print(f"\n{len(corpus)} spec files; {compared} documents compared ({rejected} invalid)")
    assert compared > 1000 and compared // 4 < rejected < compared
    assert out["fast only"] == []


def test_compose_schema_gets_the_same_verdicts_from_both_engines(rendered: pipeline.Rendered) -> None:
    out: dict[str, list[str]] = {"compared": [], "rejected": [], "fast only": []}
    for env in rendered.environments:
        for label, variant in _variants(env.compose):
            if label == "an int key":  # compose files are built with string keys only
                continue
            _compare(compose._fast_validator(), compose._validator(), f"compose {env.name}: {label}", variant, out)
    compared, rejected = len(out["compared"]), len(out["rejected"])
    print(f"\n{compared} compose documents compared ({rejected} invalid)")
    assert compared > 1000 and compared // 10 < rejected < compared
    assert out["fast only"] == []
