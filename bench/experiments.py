"""Measured what-ifs for issue 8: each proposed optimisation applied as a monkeypatch.

Nothing in ``generator/`` is edited: every experiment runs in a fresh child process that
imports modelfleet, patches the function it is about, renders a synthetic fleet in-process
(stage times as in ``bench/run.py``), writes the tree into an empty directory and prints the
SHA-256 of the planned files, so a speed-up that changes one output byte shows up as
``parity: DIFFERS``. The patches target the generator as it was when this file was written
(see ``bench/README.md``); once an optimisation is applied for real, its experiment becomes
a no-op or fails to patch, and that is fine: this file is evidence, not a tool to keep.

    .venv/bin/python bench/experiments.py --fleet 1000x3                 # every experiment
    .venv/bin/python bench/experiments.py --fleet 300x3 baseline fsync_once
    .venv/bin/python bench/experiments.py --breakdown --fleet 1000x3      # where build/check/plan time goes
    .venv/bin/python bench/experiments.py --parity --fleet 100x3          # jsonschema vs jsonschema-rs
    .venv/bin/python bench/experiments.py --incremental --fleet 1000x3    # what a cache could save

Optional packages (``jsonschema-rs``, ``orjson``) are imported from ``--deps DIR`` (a
``pip install --target`` directory) when they are not installed, so trying them does not
touch the project's virtualenv.

Ported into ``generator/`` since (branch perf-throughput), so ``baseline`` now includes
them and their patches only stack a second layer on the real thing: ``fsync_once``
(``fs.sync_tree``: one syncfs), ``rs_validate`` and ``no_dedupe`` (``kubeschema`` /
``crdschema``: jsonschema-rs decides, the canonical key only for rejected objects),
``yaml_style_cache`` (``yamlout``: style and implicit tags memoised),
``template_parse_cache`` (``templating.render_documents``), ``namespaced_shallow`` and
``fast_copy`` (``layout``: copy only what changes), ``dashboard_cache``
(``dashboard.dashboard_text``). Also ported without an experiment here: PromQL parses
memoised (``generator/promql.py``) and the NetworkPolicy index of ``policy``. Not ported:
``fsync_threads``, ``dashboard_orjson`` (a new dependency for one file type),
``parallel_envs`` (slower: 23 s vs 11 s wall at 100x3). To compare against the generator before
them, use ``--ref 371b027``.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import ctypes
import functools
import hashlib
import json
import marshal
import os
import subprocess
import sys
import tempfile
import time
import types
from collections.abc import Callable, Mapping
from pathlib import Path, PurePosixPath
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import fleetgen  # noqa: E402
from run import STAGE_OF, STAGES, _StageClock, export_ref, parse_spec  # noqa: E402

PY = sys.executable


# ---------------------------------------------------------------------------- helpers


def fast_deepcopy(value: Any, memo: Any = None) -> Any:
    """A deep copy of plain JSON-like data through marshal (C), falling back to copy.deepcopy."""
    try:
        return marshal.loads(marshal.dumps(value))
    except ValueError:  # str subclasses (templating.Bare), sets of objects, ...
        return copy.deepcopy(value)


def plan_digest(files: Mapping[str, bytes]) -> str:
    digest = hashlib.sha256()
    for path in sorted(files):
        digest.update(path.encode() + b"\0" + hashlib.sha256(files[path]).digest())
    return digest.hexdigest()


_libc = ctypes.CDLL(None, use_errno=True)


def syncfs(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        if _libc.syncfs(fd) != 0:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err), str(path))
    finally:
        os.close(fd)


# ------------------------------------------------------------------------ the patches


def patch_fsync_once() -> None:
    """tree._build: write every file without fsync, then one syncfs() before the swap."""
    from generator.write import fs
    from generator.write.manifest import tree as w

    def write_file(path: Path, content: bytes) -> None:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, fs.FILE_MODE)
        try:
            os.fchmod(fd, fs.FILE_MODE)
            view = memoryview(content)
            while view:
                view = view[os.write(fd, view) :]
        finally:
            os.close(fd)

    def build(root: Path, planned: Mapping[str, bytes]) -> None:
        dirs = {root}
        for rel in sorted(planned):
            path = root.joinpath(*PurePosixPath(rel).parts)
            for parent in reversed(path.parents):
                if parent.is_relative_to(root) and parent not in dirs:
                    parent.mkdir()
                    parent.chmod(fs.DIR_MODE)
                    dirs.add(parent)
            write_file(path, planned[rel])
        syncfs(root)  # data and directory entries of the whole new tree, durably, in one call

    w._build = build


def patch_fsync_threads() -> None:
    """tree._build: the same per-file fsyncs, issued from 16 threads (ext4 batches their commits)."""
    from concurrent.futures import ThreadPoolExecutor

    from generator.write import fs
    from generator.write.manifest import tree as w

    original = fs.write_file

    def build(root: Path, planned: Mapping[str, bytes]) -> None:
        dirs = {root}
        jobs = []
        for rel in sorted(planned):
            path = root.joinpath(*PurePosixPath(rel).parts)
            for parent in reversed(path.parents):
                if parent.is_relative_to(root) and parent not in dirs:
                    parent.mkdir()
                    parent.chmod(fs.DIR_MODE)
                    dirs.add(parent)
            jobs.append((path, planned[rel]))
        with ThreadPoolExecutor(16) as pool:
            list(pool.map(lambda job: original(*job), jobs))
        with ThreadPoolExecutor(16) as pool:
            list(pool.map(fs.fsync_dir, sorted(dirs, reverse=True)))

    w._build = build


def patch_fast_copy() -> None:
    """layout/resolve: copy.deepcopy -> marshal round trip (plain data only; falls back)."""
    from generator.output import overlay as layout
    from generator.read import resolve

    shim = types.SimpleNamespace(deepcopy=fast_deepcopy)
    layout.copy = shim  # type: ignore[assignment]
    resolve.copy = shim  # type: ignore[assignment]


def patch_namespaced_shallow() -> None:
    """layout.namespaced: copy only the top level and metadata (the rest is never mutated)."""
    from generator import pipeline
    from generator.output import overlay as layout

    def namespaced(obj: dict[str, Any], namespace: str) -> dict[str, Any]:
        if obj["kind"] in layout.CLUSTER_SCOPED:
            return obj
        copied = dict(obj)
        metadata = {"name": obj["metadata"]["name"], "namespace": namespace}
        metadata.update({k: v for k, v in obj["metadata"].items() if k != "name"})
        copied["metadata"] = metadata
        return copied

    layout.namespaced = namespaced
    pipeline.namespaced = namespaced


def patch_dashboard_cache() -> None:
    """dashboard_configmap: json.dumps(indent=2) (pure-Python encoder) once per distinct dashboard."""
    from generator.build import dashboard

    real = json
    cache: dict[str, str] = {}

    def dumps(obj: Any, **kwargs: Any) -> str:
        if kwargs == {"indent": 2, "sort_keys": True}:
            key = real.dumps(obj, sort_keys=True, separators=(",", ":"))  # the C encoder
            text = cache.get(key)
            if text is None:
                text = cache[key] = real.dumps(obj, **kwargs)
            return text
        return real.dumps(obj, **kwargs)

    dashboard.json = types.SimpleNamespace(dumps=dumps, loads=json.loads)  # type: ignore[assignment]


def patch_dashboard_orjson() -> None:
    """dashboard_configmap: orjson with OPT_INDENT_2 | OPT_SORT_KEYS instead of json.dumps(indent=2)."""
    import orjson

    from generator.build import dashboard

    def dumps(obj: Any, **kwargs: Any) -> str:
        if kwargs == {"indent": 2, "sort_keys": True}:
            text = orjson.dumps(obj, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS).decode("utf-8")
            return text if text.isascii() else json.dumps(obj, **kwargs)  # json escapes non-ASCII
        return json.dumps(obj, **kwargs)

    dashboard.json = types.SimpleNamespace(dumps=dumps, loads=json.loads)  # type: ignore[assignment]


def patch_yaml_style_cache() -> None:
    """yamlout: memoise the per-string quoting decision (keys and values repeat a lot)."""
    from generator.output import yamlout as y

    style = functools.lru_cache(maxsize=1 << 16)(y._scalar_style)

    def represent_str(dumper: Any, data: str) -> Any:
        return dumper.represent_scalar(y._STR_TAG, data, style=style(data))

    y._Dumper.add_representer(str, represent_str)


_PARSED: dict[str, list[dict[str, Any]]] = {}
_PARSE_STATS = {"hits": 0, "misses": 0}


def patch_template_parse_cache() -> None:
    """templating.render_documents: parse each distinct rendered text once, hand out copies."""
    import yaml

    from generator import pipeline
    from generator.build import templating, workload

    original = templating.render_documents

    def render_documents(template: str, context: Mapping[str, Any]) -> list[dict[str, Any]]:
        text = templating.render_text(template, context)
        docs = _PARSED.get(text)
        if docs is None:
            _PARSE_STATS["misses"] += 1
            try:
                docs = [d for d in yaml.load_all(text, Loader=templating._Loader) if d is not None]
            except yaml.YAMLError:
                return original(template, context)
            for doc in docs:
                if not isinstance(doc, dict) or "apiVersion" not in doc or "kind" not in doc:
                    return original(template, context)
            _PARSED[text] = docs
        else:
            _PARSE_STATS["hits"] += 1
        return fast_deepcopy(docs)

    templating.render_documents = render_documents
    workload.render_documents = render_documents
    pipeline.render_documents = render_documents


def patch_no_dedupe() -> None:
    """kubeschema/crdschema: skip the canonical-JSON hashing that finds identical objects."""
    from generator.check import crdschema, schemaengine

    schemaengine._canonical_key = lambda obj: None
    crdschema._canonical_key = lambda obj: None


def _load_rs() -> Any:
    import jsonschema_rs

    return jsonschema_rs


def patch_rs_validate() -> None:
    """kubeschema/crdschema: jsonschema-rs decides valid/invalid; only an invalid object goes
    through jsonschema for the messages (so messages are unchanged by construction)."""
    rs = _load_rs()
    from generator.check import crdschema as c
    from generator.check import kubeschema as k

    @functools.lru_cache(maxsize=8)
    def registry(schema_version: str) -> Any:
        defs = k._read_json(k._version_dir(schema_version) / "_definitions.json")
        return rs.Registry([(defs["$id"], defs)])

    @functools.lru_cache(maxsize=512)
    def kube_validator(schema_version: str, api_version: str, kind: str) -> Any:
        schema = k._kind_schema(schema_version, api_version, kind)
        if schema is None:
            return None
        return rs.validator_for(schema, registry=registry(schema_version), validate_formats=False)

    original_errors = k.KubeValidator.errors

    def errors(self: Any, obj: Any) -> list[Any]:
        if isinstance(obj, Mapping):
            api_version, kind = obj.get("apiVersion"), obj.get("kind")
            if (
                isinstance(api_version, str)
                and isinstance(kind, str)
                and k._API_VERSION.fullmatch(api_version)
                and k._KIND.fullmatch(kind)
            ):
                validator = kube_validator(self.schema_version, api_version, kind)
                if validator is not None and validator.is_valid(obj):
                    return []
        return original_errors(self, obj)

    k.KubeValidator.errors = errors  # type: ignore[method-assign]

    @functools.cache
    def crd_validator(api_version: str, kind: str) -> Any:
        schema = c._schema(api_version, kind)
        if schema is None:
            return None
        if "$schema" in schema:
            return rs.validator_for(schema, validate_formats=False)
        return rs.Draft7Validator(schema, validate_formats=False)

    original_crd = c.crd_errors

    def crd_errors(obj: Any) -> list[Any]:
        if isinstance(obj, Mapping):
            api_version, kind = obj.get("apiVersion"), obj.get("kind")
            if isinstance(api_version, str) and isinstance(kind, str):
                validator = crd_validator(api_version, kind)
                if validator is not None and validator.is_valid(obj):
                    return []
        return original_crd(obj)

    c.crd_errors = crd_errors


def patch_parallel_envs(workers: int = 0) -> None:
    """pipeline.render: build and check the environments in a fork pool (one task per environment)."""
    import multiprocessing as mp

    from generator import pipeline as p

    workers = workers or (os.cpu_count() or 1)

    def render(root: Path) -> Any:
        resolution = p.validate(root) if hasattr(p, "validate") else p.resolve(p.parse(p.load_fleet(root)))
        findings: list[Any] = []
        base = []
        for model in resolution.base:
            try:
                base.append(p.model_objects(model, root))
            except p.ModelfleetError as exc:
                findings.extend(exc.findings)
        if findings:
            raise p.ModelfleetError(findings)
        _STATE["resolution"], _STATE["base"] = resolution, base
        ctx = mp.get_context("fork")
        with ctx.Pool(min(workers, len(resolution.environments))) as pool:
            results = pool.map(_env_task, range(len(resolution.environments)))
        environments = []
        for output, env_findings, _count in results:
            findings.extend(env_findings)
            if output is not None:
                environments.append(output)
        if findings:
            raise p.ModelfleetError(findings)
        images = [p.build_image(model) for model in resolution.base]
        bake = p.build_bake(resolution.base)
        extra: dict[str, Any] = {}
        if environments and hasattr(environments[0], "compose"):
            extra["compose"] = {e.name: e.compose for e in environments}
        if environments and hasattr(environments[0], "proofs"):
            extra["proofs"] = [proof for e in environments for proof in e.proofs]
        if hasattr(p, "runbooks"):
            extra["runbooks"] = p.runbooks(resolution)
        return p.Rendered(
            resolution,
            tuple(base),
            tuple(environments),
            p.plan(
                base,
                [e.overlay for e in environments],
                images=images,
                bake=bake,
                adapter_values={e.name: e.adapter_values for e in environments},
                gitops={e.name: e.gitops for e in environments},
                **extra,
            ),
        )

    p.render = render


_STATE: dict[str, Any] = {}


def _env_task(index: int) -> tuple[Any, list[Any], Any]:
    from generator import pipeline as p

    env = _STATE["resolution"].environments[index]
    try:
        output = p.build_environment(env, _STATE["base"], _STATE["resolution"])
    except p.ModelfleetError as exc:
        return None, list(exc.findings), None
    findings = list(p.check_environment(output.name, output.version, output.objects))
    if hasattr(p, "policy_findings") and hasattr(p, "allowed_images"):
        findings += p.policy_findings(output.name, output.objects, p.allowed_images(_STATE["resolution"]))
    findings += p.check_gitops(output.name, output.gitops)
    validate_compose = getattr(p, "validate_compose", None)
    if validate_compose is not None and getattr(output, "compose", None) is not None:
        problems = validate_compose(output.compose)
        if problems:
            raise RuntimeError(problems[0])
    count = len(output.objects)
    # The namespaced objects are only counted by the CLI: do not pickle them back.
    import dataclasses

    return dataclasses.replace(output, objects=()), findings, count



PATCHES: dict[str, Callable[[], None]] = {
    "baseline": lambda: None,
    "fsync_once": patch_fsync_once,
    "fsync_threads": patch_fsync_threads,
    "fast_copy": patch_fast_copy,
    "namespaced_shallow": patch_namespaced_shallow,
    "dashboard_cache": patch_dashboard_cache,
    "dashboard_orjson": patch_dashboard_orjson,
    "yaml_style_cache": patch_yaml_style_cache,
    "template_parse_cache": patch_template_parse_cache,
    "no_dedupe": patch_no_dedupe,
    "rs_validate": patch_rs_validate,
    "parallel_envs": patch_parallel_envs,
}
# Everything that keeps the output identical and needs no new dependency, then with jsonschema-rs.
COMBOS = {
    "all_pure": [
        "fsync_once",
        "fast_copy",
        "namespaced_shallow",
        "dashboard_cache",
        "yaml_style_cache",
        "template_parse_cache",
    ],
    "all_pure+rs": [
        "fsync_once",
        "fast_copy",
        "namespaced_shallow",
        "dashboard_cache",
        "yaml_style_cache",
        "template_parse_cache",
        "rs_validate",
        "no_dedupe",
    ],
    "all_pure+rs+parallel": [
        "fsync_once",
        "fast_copy",
        "namespaced_shallow",
        "dashboard_cache",
        "yaml_style_cache",
        "template_parse_cache",
        "rs_validate",
        "no_dedupe",
        "parallel_envs",
    ],
}


# ---------------------------------------------------------------------------- children


def child(names: list[str], root: Path) -> int:
    start = time.perf_counter()
    from generator import pipeline
    from generator.write.manifest import tree as write_module

    import_seconds = time.perf_counter() - start
    for name in names:
        for part in COMBOS.get(name, [name]):
            PATCHES[part]()
    clock = _StageClock()
    if "parallel_envs" not in names and not any("parallel" in n for n in names):
        for fname, stage in STAGE_OF.items():
            func = getattr(pipeline, fname, None)
            if callable(func):
                setattr(pipeline, fname, clock.wrap(stage, func))
    start, cpu_start = time.perf_counter(), time.process_time()
    rendered = pipeline.render(root)
    render_seconds = time.perf_counter() - start
    render_cpu = time.process_time() - cpu_start
    with tempfile.TemporaryDirectory(dir=root) as scratch:
        start, cpu_start = time.perf_counter(), time.process_time()
        write_module.write_tree(Path(scratch) / "rendered", rendered.plan.files)
        write_seconds = time.perf_counter() - start
        write_cpu = time.process_time() - cpu_start
    import resource

    print(
        json.dumps(
            {
                "import": import_seconds,
                "render": render_seconds,
                "render_cpu": render_cpu,
                "write": write_seconds,
                "write_cpu": write_cpu,
                "stages": clock.totals,
                "cpu_stages": clock.cpu,
                "digest": plan_digest(rendered.plan.files),
                "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                "parse_cache": _PARSE_STATS,
            }
        )
    )
    return 0


def breakdown(root: Path) -> int:
    """Exclusive time of the functions inside build, check and plan (no profiler overhead)."""
    from generator import pipeline
    from generator.build import dashboard, templating, workload
    from generator.check import crdschema, kubeschema, schemaengine
    from generator.output import overlay as layout
    from generator.output import yamlout
    from generator.write import fs
    from generator.write import tree as w

    clock = _StageClock()
    spots: dict[str, tuple[Any, str]] = {
        "jinja render (templating.render_text)": (templating, "render_text"),
        "YAML parse of template output (render_documents)": (templating, "render_documents"),
        "dashboard JSON text (dashboard_configmap)": (dashboard, "dashboard_configmap"),
        "dashboard data (dashboard.dashboard)": (pipeline, "dashboard"),
        "jsonschema core kinds (KubeValidator.errors)": (kubeschema.KubeValidator, "errors"),
        "jsonschema CRDs (crd_errors)": (crdschema, "crd_errors"),
        "identical-object keys (_canonical_key)": (schemaengine, "_canonical_key"),
        "deepcopy in namespaced()": (layout, "namespaced"),
        "deepcopy in with_image()": (layout, "with_image"),
        "YAML dump (yamlout.dump)": (yamlout, "dump"),
        "write: files + fsync (fs.write_file)": (fs, "write_file"),
        "write: directory fsync (fs.fsync_dir)": (fs, "fsync_dir"),
    }
    # The clock's stages are free-form keys here.
    clock.totals = dict.fromkeys(spots, 0.0)
    clock.calls = dict.fromkeys(spots, 0)
    for label, (owner, name) in spots.items():
        func = getattr(owner, name, None)
        if func is None:
            continue
        wrapped = clock.wrap(label, func)
        setattr(owner, name, wrapped)
        # Names imported elsewhere with `from x import name` must be patched there too.
        for module in (pipeline, workload, crdschema, layout):
            if getattr(module, name, None) is func:
                setattr(module, name, wrapped)
    start = time.perf_counter()
    rendered = pipeline.render(root)
    render_seconds = time.perf_counter() - start
    with tempfile.TemporaryDirectory(dir=root) as scratch:
        start = time.perf_counter()
        w.write_tree(Path(scratch) / "rendered", rendered.plan.files)
        write_seconds = time.perf_counter() - start
    print(json.dumps({"render": render_seconds, "write": write_seconds, "spots": clock.totals, "calls": clock.calls}))
    return 0


# ------------------------------------------------------------------------------ parity


def _mutations(obj: Any) -> list[tuple[str, Any]]:
    """Broken copies of ``obj``: an unknown field at several depths, a wrong type, a missing field."""
    out: list[tuple[str, Any]] = []

    def walk(node: Any, path: tuple[Any, ...]) -> None:
        if isinstance(node, dict):
            broken = copy.deepcopy(obj)
            target = broken
            for part in path:
                target = target[part]
            target["unknownFieldX"] = 1
            out.append(("unknown field at /" + "/".join(map(str, path)), broken))
            for key, value in node.items():
                if isinstance(value, str):
                    broken = copy.deepcopy(obj)
                    target = broken
                    for part in path:
                        target = target[part]
                    target[key] = {"not": "a string"}
                    out.append((f"wrong type at /{'/'.join(map(str, (*path, key)))}", broken))
                    break
            for key, value in list(node.items())[:6]:
                walk(value, (*path, key))
        elif isinstance(node, list) and node:
            walk(node[0], (*path, 0))

    walk(obj, ())
    for key in list(obj)[:4]:
        broken = copy.deepcopy(obj)
        del broken[key]
        out.append((f"missing /{key}", broken))
    return out


def parity(root: Path) -> int:
    """Do jsonschema and jsonschema-rs accept and reject exactly the same objects?"""
    rs = _load_rs()
    from generator import pipeline
    from generator.check import crdschema as c
    from generator.check import kubeschema as k

    rendered = pipeline.render(root)
    seen: set[str] = set()
    corpus: list[tuple[str, str, Any]] = []
    for env in rendered.environments:
        for obj in (*env.objects, *env.gitops):
            key = json.dumps(obj, sort_keys=True)
            if key in seen:
                continue
            seen.add(key)
            corpus.append((env.version, "valid", obj))
            corpus.extend((env.version, label, broken) for label, broken in _mutations(obj))
    registry_cache: dict[str, Any] = {}
    agree = disagree = 0
    examples: list[str] = []
    py_seconds = rs_seconds = 0.0
    for version, label, obj in corpus:
        api_version, kind = obj.get("apiVersion"), obj.get("kind")
        if not isinstance(api_version, str) or not isinstance(kind, str):
            continue
        if c.has_schema(api_version, kind):
            py_validator = c._validator(api_version, kind)
            schema = c._schema(api_version, kind)
            rs_validator = (
                rs.validator_for(schema, validate_formats=False)
                if "$schema" in schema
                else rs.Draft7Validator(schema, validate_formats=False)
            )
        else:
            kv = k.KubeValidator(version)
            py_validator = kv.validator_for(api_version, kind)
            schema = k._kind_schema(kv.schema_version, api_version, kind)
            if schema is None or py_validator is None:
                continue
            if kv.schema_version not in registry_cache:
                defs = k._read_json(k._version_dir(kv.schema_version) / "_definitions.json")
                registry_cache[kv.schema_version] = rs.Registry([(defs["$id"], defs)])
            rs_validator = rs.validator_for(schema, registry=registry_cache[kv.schema_version], validate_formats=False)
        start = time.perf_counter()
        py_ok = py_validator.is_valid(obj)
        py_seconds += time.perf_counter() - start
        start = time.perf_counter()
        rs_ok = rs_validator.is_valid(obj)
        rs_seconds += time.perf_counter() - start
        if py_ok == rs_ok:
            agree += 1
        else:
            disagree += 1
            if len(examples) < 10:
                examples.append(f"{kind} {label}: jsonschema {py_ok}, jsonschema-rs {rs_ok}")
    print(
        json.dumps(
            {
                "objects": len(corpus),
                "agree": agree,
                "disagree": disagree,
                "examples": examples,
                "jsonschema_seconds": py_seconds,
                "jsonschema_rs_seconds": rs_seconds,
            },
            indent=1,
        )
    )
    return 0


# ------------------------------------------------------------------------- incremental


def incremental(root: Path) -> int:
    """What a content-hash cache could still not avoid: the floors of a one-change render."""
    import pickle

    from generator import pipeline
    from generator.read.load import load_fleet
    from generator.read.parse import parse
    from generator.read.resolve import resolve
    from generator.write import read
    from generator.write import tree as w

    timings: dict[str, float] = {}

    def timed(label: str, func: Callable[[], Any]) -> Any:
        start = time.perf_counter()
        value = func()
        timings[label] = time.perf_counter() - start
        return value

    sources = timed("load", lambda: load_fleet(root))
    parsed = timed("parse", lambda: parse(sources))
    timed("resolve", lambda: resolve(parsed))
    blob = pickle.dumps(sources.models.data, protocol=pickle.HIGHEST_PROTOCOL)
    timed("unpickle models.yaml data (a load cache)", lambda: pickle.loads(blob))

    def hash_inputs() -> int:
        # One digest per (environment, model) over the raw layers that feed it.
        models = sources.models.data["models"]
        defaults = json.dumps(sources.models.data.get("defaults"), sort_keys=True, default=str)
        count = 0
        for env in sources.environments:
            overrides = env.data.get("models") or {}
            env_defaults = json.dumps(env.data.get("defaults"), sort_keys=True, default=str)
            for model in models:
                text = json.dumps([model, overrides.get(model["name"])], sort_keys=True, default=str)
                hashlib.sha256((defaults + env_defaults + text).encode()).digest()
                count += 1
        return count

    timed("hash every (env, model) input", hash_inputs)
    rendered = pipeline.render(root)
    target = root / "rendered"
    timed("write_tree, first", lambda: w.write_tree(target, rendered.plan.files))
    timed("check_tree, nothing changed (reads every file)", lambda: read.check_tree(target, rendered.plan.files))

    def stat_all() -> int:
        return sum(1 for rel in rendered.plan.files if (target / rel).stat().st_size >= 0)

    timed("stat every output file (a manifest cache)", stat_all)
    files = dict(rendered.plan.files)
    changed = sorted(files)[len(files) // 2]
    files[changed] = files[changed] + b"# changed\n"
    timed("write_tree, one file changed (rebuilds the whole tree)", lambda: w.write_tree(target, files))
    print(json.dumps({"files": len(files), "timings": timings}, indent=1))
    return 0


# -------------------------------------------------------------------------------- main


SITE: list[str] = []


def run_child(args: list[str], deps: Path | None) -> dict[str, Any]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [*SITE, env.get("PYTHONPATH"), str(deps) if deps else None]))
    command = [PY, str(Path(__file__)), *args]
    out = subprocess.run(command, capture_output=True, text=True, env=env, check=False, cwd=tempfile.gettempdir())
    if out.returncode != 0:
        return {"error": out.stderr.strip()[-800:]}
    text = out.stdout.strip()
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return json.loads(text.splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("experiments", nargs="*", help=f"default: all of {', '.join([*PATCHES, *COMBOS])}")
    parser.add_argument("--fleet", default="1000x3")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--deps", type=Path, default=None, help="pip --target dir with jsonschema-rs/orjson")
    parser.add_argument("--ref", default=None, help="experiment on this commit (git archive), e.g. HEAD")
    parser.add_argument("--breakdown", action="store_true")
    parser.add_argument("--parity", action="store_true")
    parser.add_argument("--incremental", action="store_true")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    parser.add_argument("--root", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--child-breakdown", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--child-parity", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--child-incremental", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.child, args.root)
    if args.child_breakdown:
        return breakdown(args.root)
    if args.child_parity:
        return parity(args.root)
    if args.child_incremental:
        return incremental(args.root)

    models, envs = parse_spec(args.fleet)
    with tempfile.TemporaryDirectory(prefix="modelfleet-exp-") as tmp:
        repo = fleetgen.REPO
        if args.ref:
            site, repo = export_ref(args.ref, Path(tmp) / "ref")
            SITE.append(str(site))
        root = fleetgen.generate(Path(tmp) / "fleet", models=models, environments=envs, repo=repo)
        if args.breakdown:
            print(json.dumps(run_child(["--child-breakdown", "--root", str(root)], args.deps), indent=1))
            return 0
        if args.parity:
            print(json.dumps(run_child(["--child-parity", "--root", str(root)], args.deps), indent=1))
            return 0
        if args.incremental:
            print(json.dumps(run_child(["--child-incremental", "--root", str(root)], args.deps), indent=1))
            return 0
        names = args.experiments or [*PATCHES, *COMBOS]
        results: dict[str, list[dict[str, Any]]] = {}
        for name in names:
            for _ in range(args.repeat):
                result = run_child(["--child", name, "--root", str(root)], args.deps)
                results.setdefault(name, []).append(result)
                if "error" in result:
                    print(f"{name}: ERROR {result['error']}", file=sys.stderr, flush=True)
                    break
                print(
                    f"{name}: render {result['render']:.2f} s (cpu {result['render_cpu']:.2f}), "
                    f"write {result['write']:.2f} s (cpu {result['write_cpu']:.2f}), "
                    f"rss {result['rss_mb']:.0f} MB, cpu stages "
                    + ", ".join(f"{s} {result['cpu_stages'].get(s, 0):.2f}" for s in STAGES if s != "write"),
                    file=sys.stderr,
                    flush=True,
                )
        base = [r for r in results.get("baseline", []) if "error" not in r]
        digest = base[0]["digest"] if base else None
        b_cpu = min((r["render_cpu"] for r in base), default=None)
        b_render = min((r["render"] for r in base), default=None)
        b_write = min((r["write"] for r in base), default=None)
        print(f"\nfleet {args.fleet}; min of {args.repeat} run(s); render CPU is this process only (not fork workers)")
        print()
        print(
            "| experiment | render wall s | render CPU s | CPU saved | write wall s | write saved | peak RSS MB "
            "| output |"
        )
        print("|---|---|---|---|---|---|---|---|")
        for name, runs in results.items():
            ok = [r for r in runs if "error" not in r]
            if not ok:
                print(f"| {name} | error | | | | | | |")
                continue
            render = min(r["render"] for r in ok)
            cpu = min(r["render_cpu"] for r in ok)
            write = min(r["write"] for r in ok)
            rss = max(r["rss_mb"] for r in ok)
            cpu_saved = "–" if name == "baseline" or b_cpu is None else f"{100 * (b_cpu - cpu) / b_cpu:+.0f}%"
            write_saved = "–" if name == "baseline" or b_write is None else f"{b_write - write:+.1f} s"
            same = "identical" if digest is None or ok[0]["digest"] == digest else "DIFFERS"
            cells = [f"{render:.2f}", f"{cpu:.2f}", cpu_saved, f"{write:.2f}", write_saved, f"{rss:.0f}", same]
            print(f"| {name} | " + " | ".join(str(cell) for cell in cells) + " |")
        if b_render is not None:
            print(f"\nbaseline render wall {b_render:.2f} s, CPU {b_cpu:.2f} s, write {b_write:.2f} s")
    return 0


if __name__ == "__main__":
    with contextlib.suppress(BrokenPipeError):
        sys.exit(main())
