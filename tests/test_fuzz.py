"""Property tests (issue 7, point 2): any valid fleet renders, passes the check stage and
builds with ``kubectl kustomize`` to exactly the objects render() produced; any mutation of
a valid spec makes ``validate`` exit 0 or 1 with a located message, never a traceback or a
hang.

Examples per property: ``MODELFLEET_FUZZ_EXAMPLES`` (``make fuzz`` sets 10000). Without it a
small, derandomized number runs, so ``make test`` stays fast and CI reproducible; with it
hypothesis draws randomly and prints a ``@reproduce_failure`` blob for any failure.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import signal
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import FrameType
from typing import Any

import pytest
import strategies
import yaml
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from test_kustomize import _by_identity, kubectl

from generator.cli import main
from generator.errors import ModelfleetError
from generator.output.overlay import identity, json_patch
from generator.pipeline import Rendered, render
from generator.report import format_text

pytestmark = pytest.mark.slow  # left out of `make test-fast`

_REQUESTED = int(os.environ.get("MODELFLEET_FUZZ_EXAMPLES", "0") or 0)
FUZZING = _REQUESTED > 0
VALID_EXAMPLES = _REQUESTED or 30
MUTATION_EXAMPLES = _REQUESTED or 100
SECONDS_PER_EXAMPLE = 60  # a hang, not a slow machine

COMMON = settings(
    derandomize=not FUZZING,  # CI: the same examples every run; `make fuzz`: new ones each run
    # Shrinking renders hundreds of fleets (minutes): only `make fuzz` minimises a failure.
    phases=list(Phase) if FUZZING else [Phase.explicit, Phase.generate],
    database=None,  # nothing written into the repository
    deadline=None,  # timing is bounded by time_limit() instead, which also catches hangs
    print_blob=FUZZING,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)


# ---------------------------------------------------------------------------------------
# Helpers


class Hang(BaseException):
    """Not an Exception, so that the CLI's last-resort handler cannot report it as exit 3."""


@contextlib.contextmanager
def time_limit(seconds: int, what: str) -> Iterator[None]:
    """Fail instead of hanging (SIGALRM; the tests run in the main thread)."""

    def expire(signum: int, frame: FrameType | None) -> None:
        raise Hang(f"{what} did not finish within {seconds}s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def run_cli(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    return code, out.getvalue(), err.getvalue()


# A finding's first line: `file:line:col: error: ...` or `file: error: ...`.
HEADLINE = re.compile(r"^(?P<file>[^\s:][^:]*?)(?::(?P<line>\d+)(?::(?P<col>\d+))?)?: error: ")


def assert_clean_failure(code: int, stderr: str, context: str) -> list[str]:
    """Exit 0 or 1; on 1 every finding names a file (and line:col when it has one).
    Returns the files the findings name."""
    assert "Traceback" not in stderr, f"{context}: traceback\n{stderr}"
    assert "internal error" not in stderr, f"{context}: internal error\n{stderr}"
    assert code in (0, 1), f"{context}: exit {code}\n{stderr}"
    if code == 0:
        return []
    assert stderr.strip(), f"{context}: exit 1 without a message"
    assert "error:" in stderr, f"{context}: no 'error:' in\n{stderr}"
    headlines = [line for line in stderr.splitlines() if "error: " in line and not line.startswith(" ")]
    assert headlines, f"{context}: no finding headline in\n{stderr}"
    files = []
    for line in headlines:
        match = HEADLINE.match(line)
        assert match, f"{context}: finding without a file location: {line!r}\n{stderr}"
        files.append(match["file"])
    return files


def write_plan(files: Mapping[str, bytes], target: Path) -> None:
    for relative, content in files.items():
        path = target / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)


class _KustomizeLoader(yaml.SafeLoader):
    """PyYAML reads kustomize's (YAML 1.2) output, where a plain `=` or `<<` is a string."""


def _plain_string(loader: yaml.SafeLoader, node: yaml.Node) -> str:
    return str(node.value)


_KustomizeLoader.add_constructor("tag:yaml.org,2002:value", _plain_string)
_KustomizeLoader.add_constructor("tag:yaml.org,2002:merge", _plain_string)


def kustomize_all(overlays: list[Path]) -> dict[Path, list[dict[str, Any]]]:
    """``kubectl kustomize`` every overlay, concurrently."""
    running = {
        overlay: subprocess.Popen(
            [kubectl(), "kustomize", str(overlay)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for overlay in overlays
    }
    results: dict[Path, tuple[int, str, str]] = {}
    try:
        for overlay, process in running.items():
            stdout, stderr = process.communicate(timeout=SECONDS_PER_EXAMPLE)
            results[overlay] = (process.returncode, stdout, stderr)
    finally:
        for process in running.values():
            if process.poll() is None:
                process.kill()
                process.communicate()
    built: dict[Path, list[dict[str, Any]]] = {}
    for overlay, (code, stdout, stderr) in results.items():
        assert code == 0, f"kubectl kustomize {overlay.name} failed:\n{stderr}"
        built[overlay] = [doc for doc in yaml.load_all(stdout, Loader=_KustomizeLoader) if doc]
    return built


# Rules the API server enforces that the OpenAPI schemas of the check stage do not encode.
DNS1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
CONFIG_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")


def _config_key_problem(key: str) -> str | None:
    if len(key) > 253 or not CONFIG_KEY.match(key) or key in {".", ".."} or key.startswith(".."):
        return f"{key!r} is not a valid ConfigMap/Secret key"
    return None


def apiserver_problems(obj: Mapping[str, Any]) -> list[str]:
    kind, meta = obj["kind"], obj["metadata"]
    name = meta["name"]
    problems: list[str] = []
    if kind == "Service":
        if len(name) > 63 or not DNS1035_LABEL.match(name):
            problems.append(f"Service name {name!r} is not a DNS-1035 label")
    elif kind == "Namespace":
        if len(name) > 63 or not DNS1123_LABEL.match(name):
            problems.append(f"Namespace name {name!r} is not a DNS-1123 label")
    elif len(name) > 253 or not DNS1123_SUBDOMAIN.match(name):
        problems.append(f"{kind} name {name!r} is not a DNS-1123 subdomain")
    for key, value in (meta.get("labels") or {}).items():
        if len(str(value)) > 63 or not LABEL_VALUE.match(str(value)):
            problems.append(f"{kind}/{name}: label {key}={value!r} is not a valid label value")
    if kind == "ConfigMap":
        problems += [p for key in (obj.get("data") or {}) if (p := _config_key_problem(key))]

    def walk(node: Any, where: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                here = f"{where}.{key}"
                if key in {"maxSurge", "maxUnavailable"} and isinstance(value, int) and value < 0:
                    problems.append(f"{kind}/{name}{here}: {value} is negative")
                if key == "stabilizationWindowSeconds" and isinstance(value, int) and not 0 <= value <= 3600:
                    problems.append(f"{kind}/{name}{here}: {value} is outside 0..3600")
                if key == "secretKeyRef" and isinstance(value, dict) and (p := _config_key_problem(value["key"])):
                    problems.append(f"{kind}/{name}{here}: {p}")
                walk(value, here)
        elif isinstance(node, list):
            for index, value in enumerate(node):
                walk(value, f"{where}[{index}]")

    walk(obj, "")
    return problems


def assert_renders_soundly(root: Path) -> None:
    """render() succeeds, every overlay builds with kustomize to exactly render()'s objects,
    and no object breaks an API-server rule the schemas leave out."""
    try:
        rendered = render(root)
    except ModelfleetError as exc:
        pytest.fail("a valid fleet was rejected by render():\n" + format_text(exc.findings))
    out = root / "rendered"
    write_plan(rendered.plan.files, out)
    overlays = {env.name: out / "overlays" / env.name for env in rendered.environments}
    built = kustomize_all(list(overlays.values()))
    for env in rendered.environments:
        got = _by_identity(built[overlays[env.name]])
        expected = _by_identity([json.loads(json.dumps(o)) for o in env.objects])
        assert sorted(got) == sorted(expected), f"overlays/{env.name}: kustomize built other objects"
        for key, obj in expected.items():
            assert json_patch(got[key], obj) == [], f"overlays/{env.name}: {key} differs after kustomize"
        problems = [p for obj in expected.values() for p in apiserver_problems(obj)]
        assert not problems, f"overlays/{env.name}: the API server would reject:\n" + "\n".join(problems)


FINGERPRINT = re.compile(r"fingerprint ([0-9a-f]{12})")


def allow_flagged_secrets(fleet: strategies.Fleet, root: Path) -> None:
    """The plaintext-secret check flags random text by design (entropy, names such as
    E_TOKEN). When it is the only objection, allow exactly those values by fingerprint in
    fleet.allowSecrets, the spec's own escape hatch, and rewrite the fleet."""
    try:
        render(root)
    except ModelfleetError as exc:
        marks = [FINGERPRINT.search(f.hint) for f in exc.findings]
        if marks and all(marks):
            fleet.models["fleet"]["allowSecrets"] = sorted({m[1] for m in marks if m})
            fleet.write(root)


def assert_rejected(root: Path) -> None:
    """`validate` rejects the spec, and blames the spec's own files."""
    code, _, err = run_cli("--root", str(root), "validate")
    files = assert_clean_failure(code, err, "validate")
    assert code == 1, "validate accepted a spec it must reject"
    outside = [f for f in files if not (f == "models.yaml" or f.startswith(("environments/", "services/")))]
    assert not outside, f"validate blamed generated files, not the spec:\n{err}"


def assert_valid_and_sound_or_rejected(root: Path) -> None:
    """Either `validate` rejects the spec at a spec location, or the render is sound."""
    code, _, err = run_cli("--root", str(root), "validate")
    files = assert_clean_failure(code, err, "validate")
    if code == 1:
        outside = [f for f in files if not (f == "models.yaml" or f.startswith(("environments/", "services/")))]
        assert not outside, f"validate blamed generated files, not the spec:\n{err}"
        return
    assert_renders_soundly(root)


# ---------------------------------------------------------------------------------------
# (a) valid fleets


@settings(COMMON, max_examples=VALID_EXAMPLES)
@given(fleet=strategies.fleets())
def test_valid_fleet_renders_checks_and_builds(fleet: strategies.Fleet) -> None:
    with tempfile.TemporaryDirectory() as tmp, time_limit(SECONDS_PER_EXAMPLE, "render"):
        root = Path(tmp)
        fleet.write(root)
        allow_flagged_secrets(fleet, root)
        code, _, err = run_cli("--root", str(root), "validate")
        assert code == 0, f"validate rejected a valid fleet:\n{err}"
        assert_renders_soundly(root)


# ---------------------------------------------------------------------------------------
# (b) mutations


@settings(COMMON, max_examples=MUTATION_EXAMPLES)
@given(data=st.data())
def test_mutated_spec_fails_cleanly(data: st.DataObject) -> None:
    fleet = data.draw(strategies.fleets(max_models=2, max_environments=2), label="fleet")
    mutation = data.draw(strategies.mutations(fleet), label="mutation")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        fleet.write(root)
        mutation.apply(root)
        with time_limit(SECONDS_PER_EXAMPLE, f"validate after {mutation.description}"):
            code, _, err = run_cli("--root", str(root), "validate")
        assert_clean_failure(code, err, f"validate after {mutation.description}")
        if code == 0:  # the mutation kept the spec valid: render must not fall over either
            with time_limit(SECONDS_PER_EXAMPLE, f"render after {mutation.description}"):
                code, _, err = run_cli("--root", str(root), "render")
            assert_clean_failure(code, err, f"render after {mutation.description}")


def test_mutation_strategy_reaches_every_kind() -> None:
    """Each mutation kind is reachable (a typo in a kind name would silently skip it)."""
    fleet = strategies.Fleet(
        {
            "apiVersion": "modelfleet/v1",
            "kind": "ModelFleet",
            "fleet": {"name": "f"},
            "models": [{"name": "m", "env": {"A": "b"}, "list": [1, 2]}],
        },
        {"dev": {"name": "dev"}},
        {"services/m/requirements.txt": b"x\n"},
    )
    seen: set[str] = set()

    @settings(max_examples=600, database=None, derandomize=True, deadline=None)
    @given(st.data())
    def collect(data: st.DataObject) -> None:
        seen.add(data.draw(strategies.mutations(fleet)).kind)

    collect()
    kinds = {*strategies.DATA_MUTATIONS, *strategies.TEXT_MUTATIONS, *strategies.FILE_MUTATIONS}
    assert kinds <= seen, kinds - seen


# ---------------------------------------------------------------------------------------
# Bugs the fuzzer found, each kept as the minimal case that showed it.


def _edited_base(tmp_path: Path, edit: Any) -> Path:
    """tests/invalid/_base, with ``edit(root, models, environments)`` applied to its data."""
    base = Path(__file__).parent / "invalid" / "_base"
    root = tmp_path / "fleet"
    for path in base.rglob("*"):
        if path.is_file():
            target = root / path.relative_to(base)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(path.read_bytes())
    models = yaml.safe_load((root / "models.yaml").read_text())
    envs = {p.stem: yaml.safe_load(p.read_text()) for p in (root / "environments").glob("*.yaml")}
    edit(root, models, envs)
    (root / "models.yaml").write_text(yaml.safe_dump(models, sort_keys=False))
    for name, doc in envs.items():
        (root / "environments" / f"{name}.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    return root


def _rename_ranker(models: dict[str, Any], envs: dict[str, Any], name: str, **fields: Any) -> None:
    models["models"][1].update(name=name, **fields)
    for env in envs.values():
        overrides = env.get("models") or {}
        if "ranker" in overrides:
            overrides[name] = overrides.pop("ranker")


@pytest.mark.parametrize("engine", ["hpa", "keda"])
def test_long_startup_renders(tmp_path: Path, engine: str) -> None:
    def edit(root: Path, models: dict[str, Any], envs: dict[str, Any]) -> None:
        models["models"][0]["startup"] = {"maxSeconds": 3700}
        models["models"][0]["scaling"] = {"engine": engine, "minReplicas": 1, "maxReplicas": 3}

    assert_valid_and_sound_or_rejected(_edited_base(tmp_path, edit))


@pytest.mark.parametrize(
    ("name", "strategy"),
    [("9ranker", "rolling"), ("r" * 63, "canary"), ("b" * 56, "blueGreen")],
    ids=["leading-digit", "63-canary", "56-bluegreen"],
)
def test_model_name_is_a_valid_service_name(tmp_path: Path, name: str, strategy: str) -> None:
    def edit(root: Path, models: dict[str, Any], envs: dict[str, Any]) -> None:
        _rename_ranker(models, envs, name, rollout={"strategy": strategy})

    assert_valid_and_sound_or_rejected(_edited_base(tmp_path, edit))


def test_derived_service_name_taken_by_another_model_is_rejected(tmp_path: Path) -> None:
    def edit(root: Path, models: dict[str, Any], envs: dict[str, Any]) -> None:
        models["models"][1]["rollout"] = {"strategy": "canary"}
        models["models"].append({"name": "ranker-canary", "owner": "t", "runtime": "triton", "image": {"tag": "1"}})

    assert_rejected(_edited_base(tmp_path, edit))


@pytest.mark.parametrize("case", ["negative-max-unavailable", "dotdot-config-file"])
def test_render_rejects_what_the_json_schemas_reject(tmp_path: Path, case: str) -> None:
    """`render` runs the JSON Schema checks `validate` runs (the pydantic models now refuse these two as well)."""
    def edit(root: Path, models: dict[str, Any], envs: dict[str, Any]) -> None:
        if case == "negative-max-unavailable":
            models["models"][1]["rollout"] = {"rolling": {"maxUnavailable": -3}}
        else:
            (root / "services/scorer/config/..settings").write_text("x: 1\n")
            models["models"][0]["config"]["files"] = ["services/scorer/config/..settings"]

    root = _edited_base(tmp_path, edit)
    code, _, err = run_cli("--root", str(root), "validate")
    assert_clean_failure(code, err, "validate")
    assert code == 1
    code, _, err = run_cli("--root", str(root), "render")
    assert_clean_failure(code, err, "render")
    assert code == 1, "render wrote what validate rejects"


@pytest.mark.parametrize("case", ["space", "non-ascii", "dotdot-secret-key", "dot-secret-key"])
def test_config_and_secret_keys_the_api_server_rejects(tmp_path: Path, case: str) -> None:
    def edit(root: Path, models: dict[str, Any], envs: dict[str, Any]) -> None:
        scorer = models["models"][0]
        if case.endswith("secret-key"):
            scorer["secrets"][0]["secretRef"]["key"] = ".." if case.startswith("dotdot") else "."
            return
        name = {"space": "my settings.yaml", "non-ascii": "réglages.yaml"}[case]
        (root / "services/scorer/config" / name).write_text("x: 1\n")
        scorer["config"]["files"] = [f"services/scorer/config/{name}"]

    assert_valid_and_sound_or_rejected(_edited_base(tmp_path, edit))


def test_empty_annotations_are_not_rendered(tmp_path: Path) -> None:
    root = _edited_base(tmp_path, lambda root, models, envs: models["models"][0].pop("description"))
    rendered = render(root)
    write_plan(rendered.plan.files, root / "rendered")
    for env in rendered.environments:
        got = _by_identity(
            kustomize_all([root / "rendered" / "overlays" / env.name])[root / "rendered" / "overlays" / env.name]
        )
        for obj in env.objects:
            assert json_patch(got[identity(obj)], json.loads(json.dumps(obj))) == [], identity(obj)


@pytest.mark.parametrize("char", ["\x7f", "\x9e", "\ufffe", "\x85"], ids=["DEL", "C1", "U+FFFE", "NEL"])
def test_characters_kustomize_refuses_are_rejected(tmp_path: Path, char: str) -> None:
    def edit(root: Path, models: dict[str, Any], envs: dict[str, Any]) -> None:
        models["models"][0]["env"]["MODEL_MODE"] = f"fast{char}"

    assert_valid_and_sound_or_rejected(_edited_base(tmp_path, edit))


@pytest.mark.parametrize("path", ["services/scorer/config", ""], ids=["directory", "empty"])
def test_config_file_that_is_a_directory_is_rejected(tmp_path: Path, path: str) -> None:
    def edit(root: Path, models: dict[str, Any], envs: dict[str, Any]) -> None:
        models["models"][0]["config"]["files"] = [path]

    root = _edited_base(tmp_path, edit)
    for command in ("validate", "render"):
        code, _, err = run_cli("--root", str(root), command)
        assert_clean_failure(code, err, command)
        assert code == 1, f"{command} accepted a config file that is not a file"


@pytest.mark.parametrize("tag", ["_x", "1.0-", "v" + "1" * 70])
def test_tag_must_be_a_label_value(tmp_path: Path, tag: str) -> None:
    def edit(root: Path, models: dict[str, Any], envs: dict[str, Any]) -> None:
        models["models"][1]["image"] = {"tag": tag}

    assert_valid_and_sound_or_rejected(_edited_base(tmp_path, edit))


def test_models_sharing_an_image_repository_are_rejected(tmp_path: Path) -> None:
    def edit(root: Path, models: dict[str, Any], envs: dict[str, Any]) -> None:
        for model in models["models"]:
            model["image"] = {"repository": "registry.example.com/ml/shared", "tag": "1.0.0"}
        envs["dev"]["models"]["ranker"]["image"] = {"repository": "registry.example.com/ml/shared", "tag": "2.0.0"}

    assert_valid_and_sound_or_rejected(_edited_base(tmp_path, edit))


def test_repository_component_with_two_separators(tmp_path: Path) -> None:
    def edit(root: Path, models: dict[str, Any], envs: dict[str, Any]) -> None:
        models["models"][1]["image"] = {"repository": "registry.example.com/ml/fraud-detector-v2", "tag": "1.0"}

    code, _, err = run_cli("--root", str(_edited_base(tmp_path, edit)), "validate")
    assert code == 0, err


@pytest.mark.parametrize(
    "line",
    ["x: &a [*a]\n", 'cluster: &c {name: dev-1, server: "https://dev-1.example.com", loop: *c}\n'],
    ids=["sequence", "mapping"],
)
def test_recursive_alias_is_a_located_error(tmp_path: Path, line: str) -> None:
    root = _edited_base(tmp_path, lambda root, models, envs: None)
    path = root / "environments" / "dev.yaml"
    text = path.read_text()
    if line.startswith("cluster"):
        text = re.sub(r"(?m)^cluster:.*\n(  .*\n)*", line, text)
    path.write_text(text + ("" if line.startswith("cluster") else line))
    with time_limit(SECONDS_PER_EXAMPLE, "validate"):
        code, _, err = run_cli("--root", str(root), "validate")
    files = assert_clean_failure(code, err, "validate")
    assert code == 1 and files == ["environments/dev.yaml"], err


def test_keda_without_targets_is_rejected(tmp_path: Path) -> None:
    def edit(root: Path, models: dict[str, Any], envs: dict[str, Any]) -> None:
        models["models"][1]["scaling"] = {
            "engine": "keda",
            "minReplicas": 1,
            "maxReplicas": 3,
            "targets": {"cpuUtilization": None},
        }

    assert_rejected(_edited_base(tmp_path, edit))


def test_apiserver_rules_accept_the_example_fleet(example_render: Rendered) -> None:
    """The extra rules above are not too strict: the committed example passes them."""
    for env in example_render.environments:
        assert [p for obj in env.objects for p in apiserver_problems(obj)] == []
        assert len({identity(o) for o in env.objects}) == len(env.objects)
