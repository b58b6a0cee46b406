#!/usr/bin/env python3
"""Vendor the upstream CRD schemas that modelfleet validates custom resources against.

Run as ``make crds`` (or ``.venv/bin/python tools/vendor_crds.py``); it needs network access
to PyPI and the npm registry only, plus ``npm`` on the PATH. Everything it downloads goes
into a temporary directory that is removed afterwards. It writes one JSON Schema per kind
to ``schemas/crds/<group>_<version>_<Kind>.json`` and ``schemas/crds/PROVENANCE.md``.

Where the schemas come from (every package pinned by version and sha256 below):

* npm ``@kubernetes-models/argo-rollouts``, ``@kubernetes-models/argo-cd`` and
  ``@kubernetes-models/gateway-api``: releases built with ``crd-generate`` carry the CRD's
  ``openAPIV3Schema`` as a JSON object literal (``const schema = {...}``) in each kind's
  CommonJS module. That literal is parsed as JSON; no JavaScript runs. (Their newer releases
  ship only compiled validator functions, from which no schema can be read back, so the newest
  releases with the literal are pinned.)
* PyPI ``cloudcoil-models-*``: pydantic models generated from the upstream CRDs, whose
  version is the upstream release plus a build number. They declare Python >= 3.14 and
  import the ``cloudcoil`` runtime; only their field declarations matter for the schema, so
  they are imported in a child process under a pinned pydantic with ``from __future__ import
  annotations`` prepended and a tiny stand-in for the ``cloudcoil`` runtime (base classes
  only, written below), and ``model_json_schema()`` exports them.
* ``metadata`` of every kind is the strict Kubernetes ObjectMeta shipped by the project's
  own dependency ``kubernetes-validate`` (the same data ``generator.check.kubeschema`` uses).

Then, at vendoring time, so that the committed files are exactly what is enforced:

* generator artefacts are removed: ``nullable`` (crd-generate adds it to every optional
  field) and ``anyOf``/``oneOf`` branches ``{"type": "null"}`` (pydantic's ``X | None``)
  are dropped, so ``null`` is rejected like any other wrong type; pydantic's ``title`` and
  ``default: null`` are dropped; unreferenced ``$defs`` are removed;
* every object schema that lists at least one field in ``properties`` and says neither
  ``additionalProperties`` nor ``x-kubernetes-preserve-unknown-fields: true`` gets
  ``additionalProperties: false``: the API server would prune such fields silently
  (argo-cd#17135), so they are errors. An object with no listed fields stays open: that is
  how crd-generate writes ``x-kubernetes-preserve-unknown-fields`` objects (``properties: {}``);
* ``apiVersion`` and ``kind`` are pinned to the kind and required; ``metadata`` is ObjectMeta.

Output is deterministic: sorted keys, two-space indent, trailing newline.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import re
import shutil
import sys
import tempfile
import textwrap
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _pinned import VendorError, check_hash, npm_member, npm_pack, run  # tools/ is the script's directory

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "schemas" / "crds"

DRAFT_07 = "http://json-schema.org/draft-07/schema#"
DRAFT_2020_12 = "https://json-schema.org/draft/2020-12/schema"

# pydantic that exports the cloudcoil models: pinned so the output does not depend on the venv.
PYDANTIC = "2.14.4"
# Kubernetes minor whose strict ObjectMeta (from kubernetes-validate) describes `metadata`.
OBJECT_META_KUBERNETES = "1.31"
OBJECT_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"


@dataclass(frozen=True)
class Package:
    """One pinned registry package and the upstream release its schemas were generated from."""

    registry: str  # "pypi" or "npm"
    name: str
    version: str
    sha256: str  # of the wheel or of the npm tarball
    upstream: str  # upstream project
    upstream_version: str  # release whose CRDs the package was generated from
    upstream_license: str
    # npm: crd-generate inputs of other upstream releases that the package also reads, none of
    # which defines a vendored apiVersion; every other input must be of upstream_version.
    other_release_inputs: tuple[str, ...] = ()
    # said under "Known limits" in PROVENANCE.md (markdown, one paragraph)
    note: str = ""

    @property
    def spec(self) -> str:
        return f"{self.name}@{self.version}" if self.registry == "npm" else f"{self.name}=={self.version}"

    @property
    def label(self) -> str:
        return f"{self.registry} {self.name}@{self.version}"


@dataclass(frozen=True)
class KindSource:
    """Where the schema of one kind is read: a file inside an npm package, or module:Class."""

    api_version: str
    kind: str
    package: Package
    source: str

    @property
    def file_name(self) -> str:
        group, _, version = self.api_version.rpartition("/")
        return f"{group}_{version}_{self.kind}.json"


ARGO_ROLLOUTS = Package(
    "npm",
    "@kubernetes-models/argo-rollouts",
    "0.3.2",
    "e90e3f33e0c815ce390b21bf51d3cc01800d05fd9f3d81324727e08ff1d790c3",
    "Argo Rollouts",
    "v1.5.0",
    "Apache-2.0",
)
ARGO_CD = Package(
    "npm",
    "@kubernetes-models/argo-cd",
    "2.5.0",
    "2229d2806cb19ae279cc5691a8db128b9407011c75414dfc15464c7a1279d681",
    "Argo CD",
    "v2.10.8",
    "Apache-2.0",
)
# Its crd-generate inputs are Gateway API v0.6.2 standard-install.yaml and v1.0.0 standard- and
# experimental-install.yaml. v0.6.2 serves no gateway.networking.k8s.io/v1 kind (only v1beta1 and
# v1alpha2), and the v1 HTTPRoute literal is the v1.0.0 experimental channel's: compared with the
# upstream CRDs when pinned, it differs from experimental-install.yaml only by what crd-generate
# drops (descriptions, x-kubernetes-*) and adds (nullable), and one escaped "/" in a pattern.
GATEWAY_API = Package(
    "npm",
    "@kubernetes-models/gateway-api",
    "0.5.1",
    "3650c87c49f95ccf5fee93f29a076ea4781e2a346fbe085a1143a4da9323d156",
    "Gateway API",
    "v1.0.0",
    "Apache-2.0",
    other_release_inputs=(
        "https://github.com/kubernetes-sigs/gateway-api/releases/download/v0.6.2/standard-install.yaml",
    ),
    note=(
        "`@kubernetes-models/gateway-api@0.5.1` merges the v0.6.2 standard, v1.0.0 standard and v1.0.0"
        " experimental install manifests; v0.6.2 has no `gateway.networking.k8s.io/v1` kinds, and"
        " HTTPRoute v1 is the v1.0.0 **experimental** channel's schema (checked against the upstream"
        " CRDs when pinned). It therefore accepts the experimental fields `spec.parentRefs[].port` and"
        " `spec.rules[].timeouts`, which a cluster with the v1.0.0 standard-channel CRD prunes silently."
        " Its 73 CEL rules (such as a RequestRedirect filter not being allowed together with"
        " `backendRefs`, or `matches[].path.value` having to be an absolute path) are not carried."
    ),
)
KEDA = Package(
    "pypi",
    "cloudcoil-models-keda",
    "2.20.2.1",
    "7c2232335123ee27564f9ef0849c5f5b3deefb55fdf6fbb462caa8b2184c9cee",
    "KEDA",
    "v2.20.2",
    "Apache-2.0",
)
PROMETHEUS_OPERATOR = Package(
    "pypi",
    "cloudcoil-models-prometheus-operator",
    "0.93.1.1",
    "3ddf53adde1bebab9f238dd7873363ece3b9a6913cbe196a1572783a008c7208",
    "prometheus-operator",
    "v0.93.1",
    "Apache-2.0",
)
FLUXCD = Package(
    "pypi",
    "cloudcoil-models-fluxcd",
    "2.9.5.1",
    "3542c7822a293a6ba423956029459ac7d88089860e3e7831a89ff2d910803755",
    "Flux",
    "v2.9.5",
    "Apache-2.0",
)

KINDS: tuple[KindSource, ...] = (
    KindSource("argoproj.io/v1alpha1", "Rollout", ARGO_ROLLOUTS, "argoproj.io/v1alpha1/Rollout.js"),
    KindSource("argoproj.io/v1alpha1", "AnalysisTemplate", ARGO_ROLLOUTS, "argoproj.io/v1alpha1/AnalysisTemplate.js"),
    KindSource("argoproj.io/v1alpha1", "Application", ARGO_CD, "argoproj.io/v1alpha1/Application.js"),
    KindSource("argoproj.io/v1alpha1", "ApplicationSet", ARGO_CD, "argoproj.io/v1alpha1/ApplicationSet.js"),
    KindSource("gateway.networking.k8s.io/v1", "HTTPRoute", GATEWAY_API, "gateway.networking.k8s.io/v1/HTTPRoute.js"),
    KindSource("keda.sh/v1alpha1", "ScaledObject", KEDA, "cloudcoil.models.keda.v1alpha1:ScaledObject"),
    KindSource(
        "keda.sh/v1alpha1", "TriggerAuthentication", KEDA, "cloudcoil.models.keda.v1alpha1:TriggerAuthentication"
    ),
    KindSource(
        "monitoring.coreos.com/v1",
        "ServiceMonitor",
        PROMETHEUS_OPERATOR,
        "cloudcoil.models.prometheus_operator.v1:ServiceMonitor",
    ),
    KindSource(
        "monitoring.coreos.com/v1",
        "PodMonitor",
        PROMETHEUS_OPERATOR,
        "cloudcoil.models.prometheus_operator.v1:PodMonitor",
    ),
    KindSource(
        "monitoring.coreos.com/v1",
        "PrometheusRule",
        PROMETHEUS_OPERATOR,
        "cloudcoil.models.prometheus_operator.v1:PrometheusRule",
    ),
    KindSource(
        "source.toolkit.fluxcd.io/v1", "GitRepository", FLUXCD, "cloudcoil.models.fluxcd.source.v1:GitRepository"
    ),
    KindSource(
        "kustomize.toolkit.fluxcd.io/v1", "Kustomization", FLUXCD, "cloudcoil.models.fluxcd.kustomize.v1:Kustomization"
    ),
)


TOOL = "tools/vendor_crds.py"


# ------------------------------------------------------------------------- downloads


def _pip(*args: str) -> list[str]:
    return [sys.executable, "-m", "pip", "--disable-pip-version-check", *args]


def download_wheels(packages: list[Package], dest: Path) -> dict[Package, Path]:
    """Download the pinned wheels (no dependencies) and check their hashes."""
    dest.mkdir(parents=True, exist_ok=True)
    # The cloudcoil model wheels declare Requires-Python >= 3.14; they are pure Python and
    # are only read and imported by the exporter below, never installed.
    options = ["--quiet", "--no-deps", "--only-binary=:all:", "--python-version", "3.14", "--dest", str(dest)]
    run(_pip("download", *options, *(p.spec for p in packages)))
    found: dict[Package, Path] = {}
    for package in packages:
        prefix = re.sub(r"[-_.]+", "_", package.name).lower() + f"-{package.version}-"
        wheels = [w for w in dest.glob("*.whl") if w.name.lower().startswith(prefix)]
        if len(wheels) != 1:
            raise VendorError(f"{package.label}: expected one wheel in {dest}, found {[w.name for w in wheels]}")
        check_hash(package.label, wheels[0], package.sha256, TOOL)
        found[package] = wheels[0]
    return found


def download_npm(package: Package, dest: Path) -> Path:
    """``npm pack`` the pinned package (the registry's own tarball) and check its hash."""
    return npm_pack(package.spec, package.label, package.sha256, dest, TOOL)


def install_pydantic(dest: Path) -> None:
    options = ["--quiet", "--no-compile", "--only-binary=:all:", "--target", str(dest)]
    run(_pip("install", *options, f"pydantic=={PYDANTIC}"))


# ----------------------------------------------------------------------- npm schemas


def _npm_member(tarball: Path, inner: str) -> str:
    return npm_member(tarball, inner).decode("utf-8")


def npm_metadata(package: Package, tarball: Path) -> str:
    """Check the package says it was generated from the pinned upstream release; its license."""
    meta = json.loads(_npm_member(tarball, "package.json"))
    if meta.get("name") != package.name or meta.get("version") != package.version:
        raise VendorError(f"{tarball.name}: package.json names {meta.get('name')}@{meta.get('version')}")
    inputs = (meta.get("crd-generate") or {}).get("input") or []
    missing = [url for url in package.other_release_inputs if url not in inputs]
    if missing:
        raise VendorError(f"{package.label}: crd-generate inputs {inputs} do not include {missing}")
    own = [url for url in inputs if url not in package.other_release_inputs]
    if not own or not all(f"/{package.upstream_version}/" in url for url in own):
        raise VendorError(f"{package.label}: crd-generate inputs {own} are not all {package.upstream_version}")
    return str(meta.get("license") or "unknown")


def npm_schema(tarball: Path, inner: str) -> dict[str, Any]:
    """The JSON object literal ``const schema = {...}`` in a crd-generate module, as parsed JSON."""
    text = _npm_member(tarball, inner)
    marker = "const schema = "
    if text.count(marker) != 1:
        raise VendorError(f"{tarball.name}:{inner}: expected exactly one {marker!r}")
    try:
        schema, _ = json.JSONDecoder().raw_decode(text, text.index(marker) + len(marker))
    except ValueError as exc:
        raise VendorError(f"{tarball.name}:{inner}: the schema literal is not plain JSON: {exc}") from exc
    if not isinstance(schema, dict):
        raise VendorError(f"{tarball.name}:{inner}: the schema literal is not an object")
    return schema


# ------------------------------------------------------------------ PyPI (cloudcoil)

# A stand-in for the `cloudcoil` runtime: the generated model modules subclass these and
# mention the builder helpers only in (now lazy) annotations and nested helper classes.
# BaseModel's configuration is cloudcoil's own (populate_by_name, validate_default,
# validate_assignment); none of it changes the exported schema.
_SHIM = {
    "__init__.py": "",
    "pydantic.py": """\
from typing import Never, Self  # noqa: F401

import pydantic

UNSET = object()


class _Stub:
    def __class_getitem__(cls, item):
        return cls


class BaseModel(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(populate_by_name=True, validate_default=True, validate_assignment=True)


class BaseBuilder(_Stub):
    pass


class BaseModelBuilder(BaseBuilder):
    pass


class BuilderContextBase(_Stub):
    pass


class ListBuilderContext(_Stub):
    pass


class GenericListBuilder(_Stub):
    pass
""",
    "apimachinery.py": """\
import pydantic

from .pydantic import BaseModel


class ObjectMeta(BaseModel):  # replaced by Kubernetes' own ObjectMeta after export
    model_config = pydantic.ConfigDict(extra="allow")
""",
    "resources.py": """\
from typing import Annotated, Any, ClassVar

from pydantic import Field

from .apimachinery import ObjectMeta
from .pydantic import BaseModel


class Resource(BaseModel):
    __cloudcoil_api__: ClassVar[dict[str, Any] | None] = None
    api_version: Annotated[Any | None, Field(alias="apiVersion")]
    kind: Any | None
    metadata: ObjectMeta | None = None
""",
}

_EXPORTER = """\
import importlib, json, sys
paths, targets = json.loads(sys.argv[1]), json.loads(sys.argv[2])
sys.path[:0] = paths
import pydantic
out = {"pydantic": pydantic.VERSION, "schemas": {}}
for target in targets:
    module_name, _, class_name = target.partition(":")
    model = getattr(importlib.import_module(module_name), class_name)
    model.model_rebuild(force=True)
    out["schemas"][target] = model.model_json_schema(by_alias=True, mode="validation")
json.dump(out, sys.stdout, sort_keys=True)
"""


def wheel_metadata(package: Package, wheel: Path) -> str:
    """Check the wheel is the pinned upstream release; its license."""
    with zipfile.ZipFile(wheel) as archive:
        names = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        if len(names) != 1:
            raise VendorError(f"{wheel.name}: no single METADATA file")
        text = archive.read(names[0]).decode("utf-8")
    fields: dict[str, str] = {}
    for line in text.split("\n\n", 1)[0].splitlines():
        key, sep, value = line.partition(": ")
        if sep and key not in fields:
            fields[key] = value.strip()
    if fields.get("Version") != package.version:
        raise VendorError(f"{wheel.name}: METADATA Version is {fields.get('Version')}")
    # cloudcoil versions are the upstream release plus a build number: 2.20.2.1 <- v2.20.2
    if not package.version.startswith(package.upstream_version.removeprefix("v") + "."):
        raise VendorError(f"{package.label}: version is not a build of upstream {package.upstream_version}")
    return fields.get("License-Expression") or fields.get("License") or "unknown"


def export_pydantic(wheels: list[Path], targets: list[str], work: Path) -> dict[str, dict[str, Any]]:
    """``model_json_schema()`` of each ``module:Class`` in the wheels, under the pinned pydantic."""
    site = work / "site"
    for wheel in wheels:
        with zipfile.ZipFile(wheel) as archive:
            archive.extractall(site)
    models = site / "cloudcoil" / "models"
    if not models.is_dir():
        raise VendorError("the cloudcoil model wheels hold no cloudcoil/models package")
    for path in sorted(models.rglob("*.py")):
        path.write_text("from __future__ import annotations\n" + path.read_text(encoding="utf-8"), encoding="utf-8")
    for name, text in _SHIM.items():
        (site / "cloudcoil" / name).write_text(text, encoding="utf-8")
    pydantic_dir = work / "pydantic"
    install_pydantic(pydantic_dir)
    # -S: no site-packages, so the venv's own pydantic cannot be picked up by mistake.
    out = run([sys.executable, "-S", "-c", _EXPORTER, json.dumps([str(pydantic_dir), str(site)]), json.dumps(targets)])
    result = json.loads(out)
    if result["pydantic"] != PYDANTIC:
        raise VendorError(f"exported with pydantic {result['pydantic']}, expected {PYDANTIC}")
    schemas: dict[str, dict[str, Any]] = result["schemas"]
    return schemas


# ------------------------------------------------------------------------ ObjectMeta


def object_meta() -> tuple[dict[str, Any], str]:
    """Strict ObjectMeta of Kubernetes OBJECT_META_KUBERNETES, refs inlined; and its source."""
    import kubernetes_validate  # the project's own dependency

    root = Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema"
    pattern = re.compile(rf"^v{re.escape(OBJECT_META_KUBERNETES)}\.(\d+)-local-strict$")
    dirs = sorted((int(m.group(1)), d) for d in root.iterdir() if (m := pattern.fullmatch(d.name)))
    if not dirs:
        raise VendorError(f"kubernetes-validate has no strict schemas for Kubernetes {OBJECT_META_KUBERNETES}")
    directory = dirs[-1][1]
    definitions = json.loads((directory / "_definitions.json").read_text(encoding="utf-8"))["$defs"]

    def inline(node: Any, seen: tuple[str, ...]) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                name = ref.removeprefix("#/$defs/")
                if name in seen:
                    raise VendorError(f"recursive definition {name} in ObjectMeta")
                rest = {k: inline(v, seen) for k, v in node.items() if k != "$ref"}
                return {**inline(definitions[name], (*seen, name)), **rest}
            return {k: inline(v, seen) for k, v in node.items()}
        if isinstance(node, list):
            return [inline(v, seen) for v in node]
        return node

    meta: dict[str, Any] = inline(definitions[OBJECT_META], (OBJECT_META,))
    version = importlib.metadata.version("kubernetes-validate")
    return meta, f"kubernetes-validate {version} ({directory.name})"


# ------------------------------------------------------------------ transformations

# Keywords whose value is one subschema, a list of subschemas, or a name -> subschema map.
_ONE = ("items", "additionalProperties", "additionalItems", "not", "contains", "propertyNames", "if", "then", "else")
_LIST = ("allOf", "anyOf", "oneOf", "prefixItems")
_MAP = ("properties", "patternProperties", "$defs", "definitions", "dependentSchemas")
_BRANCHES = ("allOf", "anyOf", "oneOf", "not")
_NULL = {"type": "null"}


def _subschemas(node: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(keyword, subschema) for every direct subschema of ``node``."""
    for key in _ONE:
        if isinstance(node.get(key), dict):
            yield key, node[key]
    for key in _LIST:
        for sub in node.get(key) or ():
            if isinstance(sub, dict):
                yield key, sub
    for key in _MAP:
        for sub in (node.get(key) or {}).values():
            if isinstance(sub, dict):
                yield key, sub


def _rewrite(node: Any, fn: Callable[[dict[str, Any]], dict[str, Any]]) -> Any:
    """Apply ``fn`` to every subschema, children first."""
    if not isinstance(node, dict):
        return node
    out = dict(node)
    for key in _ONE:
        if isinstance(out.get(key), dict):
            out[key] = _rewrite(out[key], fn)
    for key in _LIST:
        if isinstance(out.get(key), list):
            out[key] = [_rewrite(sub, fn) for sub in out[key]]
    for key in _MAP:
        if isinstance(out.get(key), dict):
            out[key] = {name: _rewrite(sub, fn) for name, sub in out[key].items()}
    return fn(out)


def _drop_null(node: dict[str, Any], *, pydantic: bool) -> dict[str, Any]:
    """Remove generator artefacts: nullable, null branches, pydantic titles and null defaults."""
    node = dict(node)
    node.pop("nullable", None)
    if pydantic:
        if isinstance(node.get("title"), str):
            del node["title"]
        if "default" in node and node["default"] is None:
            del node["default"]
    for key in ("anyOf", "oneOf"):
        branches = node.get(key)
        if not isinstance(branches, list) or _NULL not in branches:
            continue
        kept = [b for b in branches if b != _NULL]
        del node[key]
        if len(kept) > 1:
            node[key] = kept
        elif kept:
            only = kept[0]
            if any(k in node and node[k] != v for k, v in only.items()):
                node["allOf"] = [*node.get("allOf", []), only]
            else:
                node.update(only)
    return node


def forbid_unknown_fields(node: dict[str, Any], *, in_branch: bool = False) -> None:
    """Add ``additionalProperties: false`` where the schema lists fields and allows no others.

    Only where ``properties`` lists at least one field: crd-generate writes objects that
    preserve unknown fields (``x-kubernetes-preserve-unknown-fields``, a key it drops) as
    ``{"type": "object", "properties": {}}``. Not inside allOf/anyOf/oneOf/not of an object
    that lists its own ``properties``: those branches only add constraints to the fields
    listed outside (structural schemas).
    """
    if (
        node.get("properties")
        and "additionalProperties" not in node
        and node.get("x-kubernetes-preserve-unknown-fields") is not True
        and not in_branch
    ):
        node["additionalProperties"] = False
    for key, sub in _subschemas(node):
        forbid_unknown_fields(sub, in_branch=key in _BRANCHES and "properties" in node)


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        if isinstance(node.get("$ref"), str):
            yield node["$ref"]
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def _prune_defs(schema: dict[str, Any]) -> None:
    defs = schema.get("$defs")
    if not isinstance(defs, dict):
        return
    used: set[str] = set()
    todo = list(_refs({k: v for k, v in schema.items() if k != "$defs"}))
    while todo:
        ref = todo.pop()
        name = ref.removeprefix("#/$defs/")
        if ref.startswith("#/$defs/") and name in defs and name not in used:
            used.add(name)
            todo.extend(_refs(defs[name]))
    schema["$defs"] = {name: defs[name] for name in sorted(used)}
    if not schema["$defs"]:
        del schema["$defs"]


def _inline_scalar_defs(schema: dict[str, Any]) -> dict[str, Any]:
    """Inline ``$defs`` that are plain values (pydantic RootModels such as a quantity string).

    So that ``anyOf`` of int-or-string reads as plain types, as in the CRD, and an error on
    such a value says what type was expected.
    """
    defs = schema.get("$defs")
    if not isinstance(defs, dict):
        return schema
    scalar = {
        name: sub
        for name, sub in defs.items()
        if isinstance(sub, dict) and "properties" not in sub and not any(True for _ in _refs(sub))
    }

    def inline(node: dict[str, Any]) -> dict[str, Any]:
        ref = node.get("$ref")
        name = ref.removeprefix("#/$defs/") if isinstance(ref, str) and ref.startswith("#/$defs/") else None
        if name not in scalar:
            return node
        rest = {key: value for key, value in node.items() if key != "$ref"}
        if any(key in rest and rest[key] != value for key, value in scalar[name].items()):
            return node
        return {**scalar[name], **rest}

    out: dict[str, Any] = _rewrite(schema, inline)
    return out


# Go's RE2 accepts inline flags anywhere; Python's re only at the start of the pattern.
_LATE_FLAGS = re.compile(r"^\^\(\?([ims]+)\)")


def _python_pattern(pattern: str, where: str) -> str:
    """A CRD (RE2) ``pattern`` that Python's ``re`` (used by jsonschema) compiles the same way."""
    try:
        re.compile(pattern)
        return pattern
    except re.error:
        pass
    fixed = _LATE_FLAGS.sub(r"(?\1)^", pattern)
    try:
        re.compile(fixed)
    except re.error as exc:
        raise VendorError(f"{where}: pattern {pattern!r} is not a Python regular expression: {exc}") from exc
    return fixed


def _python_patterns(schema: dict[str, Any], where: str) -> dict[str, Any]:
    def fix(node: dict[str, Any]) -> dict[str, Any]:
        if isinstance(node.get("pattern"), str):
            node = {**node, "pattern": _python_pattern(node["pattern"], where)}
        if isinstance(node.get("patternProperties"), dict):
            props = node["patternProperties"]
            node = {**node, "patternProperties": {_python_pattern(k, where): v for k, v in props.items()}}
        return node

    out: dict[str, Any] = _rewrite(schema, fix)
    return out


def finish(
    source: KindSource, raw: dict[str, Any], meta: dict[str, Any], meta_source: str, license_: str
) -> dict[str, Any]:
    """The vendored schema of one kind, ready to write."""
    pydantic = source.package.registry == "pypi"
    schema: dict[str, Any] = _rewrite(raw, lambda node: _drop_null(node, pydantic=pydantic))
    properties = schema.setdefault("properties", {})
    for key in ("apiVersion", "kind"):
        if key not in properties:
            raise VendorError(f"{source.package.label} {source.source}: the schema has no {key}")
    properties["apiVersion"] = {"type": "string", "enum": [source.api_version]}
    properties["kind"] = {"type": "string", "enum": [source.kind]}
    properties["metadata"] = meta
    required = [name for name in schema.get("required", []) if name not in ("apiVersion", "kind")]
    schema["required"] = ["apiVersion", "kind", *required]
    schema["type"] = "object"
    schema.pop("$schema", None)
    schema = _python_patterns(_inline_scalar_defs(schema), f"{source.package.label} {source.source}")
    _prune_defs(schema)
    forbid_unknown_fields(schema)
    group, _, version = source.api_version.rpartition("/")
    package = source.package
    origin = (
        f"the CRD schema literal in {source.source}"
        if package.registry == "npm"
        else f"the pydantic model {source.source} (model_json_schema, pydantic {PYDANTIC})"
    )
    schema["$schema"] = DRAFT_2020_12 if pydantic else DRAFT_07
    schema["$comment"] = (
        f"{source.api_version} {source.kind} from {package.upstream} {package.upstream_version} CRDs, "
        f"vendored by tools/vendor_crds.py from {package.label} ({origin}); metadata: ObjectMeta from "
        f"{meta_source}. Unknown fields are errors: additionalProperties is false wherever the CRD lists "
        "properties and allows no others. Do not edit: run `make crds`."
    )
    schema["x-kubernetes-group-version-kind"] = [{"group": group, "kind": source.kind, "version": version}]
    schema["x-modelfleet-provenance"] = {
        "license": license_,
        "package": package.name,
        "registry": package.registry,
        "sha256": package.sha256,
        "source": source.source,
        "upstream": package.upstream,
        "upstreamLicense": package.upstream_license,
        "upstreamVersion": package.upstream_version,
        "version": package.version,
    }
    return schema


def dump(data: Any) -> str:
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def provenance(rows: list[tuple[KindSource, str]], meta_source: str) -> str:
    lines = [
        "# Vendored CRD schemas",
        "",
        "Generated by `tools/vendor_crds.py` (`make crds`); do not edit by hand. Every schema comes",
        "from a pinned registry package (version and sha256 checked by the tool) that ships data",
        "generated from the upstream project's CRDs at the release named below.",
        "",
        "| kind | file | package | upstream CRD version | license (package; upstream) |",
        "| --- | --- | --- | --- | --- |",
    ]
    for source, license_ in rows:
        package = source.package
        lines.append(
            f"| {source.api_version} {source.kind} | `{source.file_name}` | {package.registry} "
            f"`{package.name}@{package.version}` | {package.upstream} {package.upstream_version} | "
            f"{license_}; {package.upstream_license} |"
        )
    packages = sorted({source.package for source, _ in rows}, key=lambda p: (p.registry, p.name))
    lines += [
        "",
        "## Packages",
        "",
        "| package | sha256 | read from |",
        "| --- | --- | --- |",
    ]
    for package in packages:
        how = (
            "`const schema = {...}` JSON literal in each kind's CommonJS module (crd-generate output)"
            if package.registry == "npm"
            else f"pydantic models exported with `model_json_schema()` under pydantic {PYDANTIC}"
        )
        lines.append(f"| {package.registry} `{package.name}@{package.version}` | `{package.sha256}` | {how} |")
    lines += [
        "",
        f"`metadata` of every kind is the strict Kubernetes ObjectMeta from {meta_source}.",
        "",
        "## Transformations (applied at vendoring time: the committed files are what is enforced)",
        "",
        "- Strictness: every object schema that lists at least one field in `properties` and has neither",
        "  `additionalProperties` nor `x-kubernetes-preserve-unknown-fields: true` gets",
        "  `additionalProperties: false` (not inside `allOf`/`anyOf`/`oneOf`/`not` of an object that lists",
        "  its own properties). The API server would prune such fields silently (argo-cd#17135); modelfleet",
        "  reports them as errors. Objects with no listed fields stay open: crd-generate writes objects",
        "  with `x-kubernetes-preserve-unknown-fields` (such as Helm `valuesObject`) as `properties: {}`.",
        "- `apiVersion` and `kind` are pinned to the kind and required; `metadata` is ObjectMeta.",
        "- Generator artefacts removed: `nullable` (crd-generate marks every optional field nullable),",
        '  `{"type": "null"}` branches of `anyOf`/`oneOf` (pydantic\'s `X | None`), pydantic `title`s',
        "  and `default: null`, unreferenced `$defs`. `null` is therefore rejected where a value is expected.",
        "- Patterns: Go (RE2) patterns that Python's `re` cannot compile are rewritten to the same",
        "  pattern in Python's syntax (inline flags moved to the front: `^(?i)x` becomes `(?i)^x`).",
        "- pydantic `$defs` that are plain values (RootModels such as a quantity) are inlined.",
        "- `$schema`: draft-07 for CRD literals (OpenAPI v3 schemas), 2020-12 for pydantic exports.",
        "",
        "## Known limits",
        "",
        "- The npm packages' newer releases ship only compiled validator functions (no schema data), so",
        "  Argo Rollouts, Argo CD and Gateway API schemas are those of the newest releases that carry the",
        "  CRD literal.",
        "- crd-generate drops `x-kubernetes-*` keys. The Argo Rollouts v1.5.0 and Argo CD v2.10.8 CRDs",
        "  have `x-kubernetes-preserve-unknown-fields` only on objects that list no properties, and the",
        "  Gateway API v1.0.0 HTTPRoute CRD has none (checked against the upstream CRDs when these versions",
        "  were pinned), so the strictness rule is unaffected; the cloudcoil models keep it as",
        '  `extra="allow"`, exported as `additionalProperties: true`.',
        "- Not carried: CEL rules (`x-kubernetes-validations`), descriptions of the cloudcoil models, and",
        "  upstream nullability (`null` is rejected everywhere but in ObjectMeta).",
    ]
    for package in packages:
        if package.note:
            lines += textwrap.wrap(
                f"{package.upstream} {package.upstream_version}: {package.note}",
                width=100,
                initial_indent="- ",
                subsequent_indent="  ",
                break_on_hyphens=False,
                break_long_words=False,
            )
    lines.append("")
    return "\n".join(lines)


# ------------------------------------------------------------------------------ main


def vendor(out_dir: Path) -> list[Path]:
    """Download, extract, transform and write every schema; returns the files written."""
    meta, meta_source = object_meta()
    with tempfile.TemporaryDirectory(prefix="vendor-crds-") as tmp:
        work = Path(tmp)
        raw: dict[KindSource, dict[str, Any]] = {}
        licenses: dict[Package, str] = {}
        for package in sorted({s.package for s in KINDS if s.package.registry == "npm"}, key=lambda p: p.name):
            tarball = download_npm(package, work / "npm")
            licenses[package] = npm_metadata(package, tarball)
            for source in KINDS:
                if source.package == package:
                    raw[source] = npm_schema(tarball, source.source)
        pypi = sorted({s.package for s in KINDS if s.package.registry == "pypi"}, key=lambda p: p.name)
        wheels = download_wheels(pypi, work / "wheels")
        for package, wheel in wheels.items():
            licenses[package] = wheel_metadata(package, wheel)
        targets = [s.source for s in KINDS if s.package.registry == "pypi"]
        exported = export_pydantic(list(wheels.values()), targets, work)
        for source in KINDS:
            if source.package.registry == "pypi":
                raw[source] = exported[source.source]

    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for source in KINDS:
        schema = finish(source, raw[source], meta, meta_source, licenses[source.package])
        path = out_dir / source.file_name
        path.write_text(dump(schema), encoding="utf-8")
        written.append(path)
    names = {p.name for p in written}
    for stale in sorted(out_dir.glob("*.json")):
        if stale.name not in names:
            stale.unlink()
    rows = [(source, licenses[source.package]) for source in KINDS]
    (out_dir / "PROVENANCE.md").write_text(provenance(rows, meta_source), encoding="utf-8")
    return [*written, out_dir / "PROVENANCE.md"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output directory (default: schemas/crds)")
    args = parser.parse_args(argv)
    if shutil.which("npm") is None:
        print("vendor_crds: npm is required (apt-get install npm)", file=sys.stderr)
        return 1
    try:
        written = vendor(args.out)
    except VendorError as exc:
        print(f"vendor_crds: {exc}", file=sys.stderr)
        return 1
    for path in written:
        shown = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
        print(f"wrote {shown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
