"""The delta path (generator.commands.delta): after an edit of models' entries in models.yaml or
the environment files, or of a config file, it rebuilds only what the edit touched, and its
plan is byte for byte the plan of a render from scratch; for any other change, or a change it
cannot prove local, it declines and the full path runs."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from generator import pipeline
from generator.cli import main
from generator.commands.delta import Delta, attempt_delta
from generator.digest import content_digest
from generator.incremental.cache import UnitCache
from generator.incremental.deltarecord import load_record
from generator.incremental.inputrecord import CACHE_DIR
from tests.conftest import committed_file_count
from tests.fleets import edit, edit_kinds, generated_fleet


def _age(root: Path) -> None:
    past = time.time() - 3600
    for path in root.rglob("*"):
        if path.is_file() and CACHE_DIR not in path.parts:
            os.utime(path, (past, past))


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{old!r} not once in {path}"
    path.write_text(text.replace(old, new), encoding="utf-8")


def _tree(root: Path) -> dict[str, bytes]:
    target = root / "rendered"
    return {p.relative_to(target).as_posix(): p.read_bytes() for p in sorted(target.rglob("*")) if p.is_file()}


@pytest.fixture
def recorded(example_fleet: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    """The example fleet rendered once by the CLI, so that the delta record exists."""
    _age(example_fleet)
    assert main(["--root", str(example_fleet), "render"]) == 0
    capsys.readouterr()
    assert load_record(example_fleet, UnitCache(example_fleet)) is not None
    return example_fleet


def _delta(root: Path) -> Delta | str:
    return attempt_delta(root, UnitCache(root), time.time_ns())


def _materialised(delta: Delta, before: dict[str, bytes]) -> dict[str, bytes]:
    """The delta's plan with every recorded digest replaced by the bytes it names."""
    files: dict[str, bytes] = {}
    for path, value in delta.files.items():
        if isinstance(value, str):
            assert content_digest(before[path]) == value, path
            files[path] = before[path]
        else:
            files[path] = value
    return files


PROD = "environments/prod.yaml"
STAGING = "environments/staging.yaml"
DEV = "environments/dev.yaml"
LOCAL_EDITS: dict[str, tuple[str, str, str]] = {
    "maxReplicas": (PROD, "scaling: {maxReplicas: 60}", "scaling: {maxReplicas: 61}"),
    "minReplicas and maxReplicas": (
        PROD,
        "scaling: {minReplicas: 2, maxReplicas: 8}",
        "scaling: {minReplicas: 3, maxReplicas: 9}",
    ),
    "scale to zero off": (DEV, "scaling: {minReplicas: 0, wakeUp", "scaling: {minReplicas: 1, wakeUp"),
    "a new override field": (
        PROD,
        "scaling: {maxReplicas: 60}",
        "scaling: {maxReplicas: 60, minReplicas: 4}\n    logging: {format: json}",
    ),
    "the log level (compose file changes)": (
        STAGING,
        "scaling: {maxReplicas: 2}",
        "scaling: {maxReplicas: 2}\n    logging: {level: debug}",
    ),
    "an image digest (compose file and kustomization images change)": (PROD, "sha256:4c1e8f", "sha256:5c1e8f"),
    "an image tag": (STAGING, 'image: {tag: "2.4.0-rc1"}', 'image: {tag: "2.4.0-rc2"}'),
    "an SLO": (
        PROD,
        "scaling: {maxReplicas: 60}",
        "scaling: {maxReplicas: 60}\n    monitoring: {slo: {availability: 99.0}}",
    ),
    "a startup budget (the Argo CD sync and compose healthcheck)": (
        PROD,
        "scaling: {maxReplicas: 60}",
        "scaling: {maxReplicas: 60}\n    startup: {maxSeconds: 900}",
    ),
    "scale to zero and back (the adapter rules)": (
        DEV,
        "scaling: {minReplicas: 0, wakeUp: {router: true}}   #",
        "scaling: {minReplicas: 1, engine: hpa}   #",
    ),
    "two models at once": (
        PROD,
        "    scaling: {maxReplicas: 60}\n  image-classifier:",
        "    scaling: {maxReplicas: 59}\n  image-classifier:\n    scaling: {maxReplicas: 7}",
    ),
}


THRESHOLDS = "services/fraud-detector/config/thresholds.yaml"
# Edits of a model's base: its entry in models.yaml, or a config file it reads. Each rebuilds the
# model's base, runbook, image files and its unit in every environment.
BASE_EDITS: dict[str, tuple[str, str, str]] = {
    "maxReplicas in models.yaml": ("models.yaml", "maxReplicas: 12", "maxReplicas: 13"),
    "a description (runbook, overview)": (
        "models.yaml",
        "description: Real-time card fraud scoring (scikit-learn, CPU)",
        "description: Real-time card fraud scoring (scikit-learn)",
    ),
    "an image tag (Dockerfile labels, docker-bake target, overlays)": (
        "models.yaml",
        'tag: "1.6.1-r2"',
        'tag: "1.6.2"',
    ),
    "a field added to the last model": (
        "models.yaml",
        "description: Nightly and on-demand churn scoring for customer accounts (scikit-learn, CPU)",
        "description: Nightly churn scoring\n    startup: {maxSeconds: 240}",
    ),
    "a config file": (THRESHOLDS, "review_band: 0.15", "review_band: 0.2"),
}
# Edits that change nothing rendered: the record follows the text, nothing is rebuilt.
NO_OP_EDITS: dict[str, tuple[str, str, str]] = {
    "a comment inside an entry": ("models.yaml", 'tag: "1.6.1-r2"', 'tag: "1.6.1-r2"  # pinned'),
    "a blank line between overrides": (PROD, "  image-classifier:", "\n  image-classifier:"),
}


def _assert_delta_equals_scratch(root: Path, before: dict[str, bytes], most: int) -> Delta:
    delta = _delta(root)
    assert isinstance(delta, Delta), delta
    fresh = pipeline.render(root)
    assert _materialised(delta, before) == fresh.plan.files
    assert delta.objects == fresh.object_count
    rebuilt = [p for p, v in delta.files.items() if isinstance(v, bytes)]
    assert len(rebuilt) <= most, rebuilt  # the changed units' files, and the shared files when needed
    return delta


@pytest.mark.parametrize("edit", sorted(LOCAL_EDITS))
def test_delta_plan_equals_a_render_from_scratch(edit: str, recorded: Path) -> None:
    before = _tree(recorded)
    path, old, new = LOCAL_EDITS[edit]
    _edit(recorded / path, old, new)
    delta = _assert_delta_equals_scratch(recorded, before, 16)
    assert any(isinstance(v, bytes) for v in delta.files.values())


@pytest.mark.parametrize("edit", sorted(BASE_EDITS))
def test_a_base_edit_plans_what_a_render_from_scratch_plans(edit: str, recorded: Path) -> None:
    before = _tree(recorded)
    path, old, new = BASE_EDITS[edit]
    _edit(recorded / path, old, new)
    delta = _assert_delta_equals_scratch(recorded, before, 48)
    rebuilt = {p for p, v in delta.files.items() if isinstance(v, bytes)}
    assert any(p.startswith("base/") for p in rebuilt), rebuilt


@pytest.mark.parametrize("edit", sorted(NO_OP_EDITS))
def test_an_edit_that_changes_no_data_rebuilds_nothing(edit: str, recorded: Path) -> None:
    before = _tree(recorded)
    path, old, new = NO_OP_EDITS[edit]
    _edit(recorded / path, old, new)
    _assert_delta_equals_scratch(recorded, before, 0)


def test_successive_edits_of_every_kind_follow_the_record(
    recorded: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Edits in models.yaml, environment files and a config file, one render after each, on
    the delta path every time: the record's texts and entry lines follow each edit."""

    def no_full_render(*args: object, **kwargs: object) -> None:
        raise AssertionError("the full pipeline ran")

    edits = [
        NO_OP_EDITS["a comment inside an entry"],
        BASE_EDITS["maxReplicas in models.yaml"],
        LOCAL_EDITS["two models at once"],
        NO_OP_EDITS["a blank line between overrides"],
        BASE_EDITS["a field added to the last model"],
        BASE_EDITS["a config file"],
        LOCAL_EDITS["the log level (compose file changes)"],
        ("models.yaml", "maxReplicas: 13", "maxReplicas: 14"),
    ]
    for path, old, new in edits:
        _edit(recorded / path, old, new)
        _age(recorded)  # outside the racy window: the record is saved after each run
        with monkeypatch.context() as patch:
            patch.setattr(pipeline, "render", no_full_render)
            assert main(["--root", str(recorded), "render"]) == 0, (path, new)
        assert _tree(recorded) == pipeline.render(recorded).plan.files, (path, new)
    capsys.readouterr()


def test_a_unit_back_in_a_state_of_three_renders_ago_takes_the_delta_path(
    recorded: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The cache serves the unit of a state rendered three renders ago, whose files neither
    rendered/ nor the kept tree holds any more: the delta path builds it (planning it by its
    digests was a Kept no tree held, and a render from scratch) and the tree is exact."""

    def no_full_render(*args: object, **kwargs: object) -> None:
        raise AssertionError("the full pipeline ran")

    path, old, _ = LOCAL_EDITS["maxReplicas"]
    values = ["scaling: {maxReplicas: 61}", "scaling: {maxReplicas: 62}", old]
    current = old
    for value in values:
        _edit(recorded / path, current, value)
        current = value
        _age(recorded)  # outside the racy window: units stored, the record saved
        with monkeypatch.context() as patch:
            patch.setattr(pipeline, "render", no_full_render)
            assert main(["--root", str(recorded), "render"]) == 0, value
        assert _tree(recorded) == pipeline.render(recorded).plan.files, value
    capsys.readouterr()


def _switch_off(root: Path) -> None:
    _edit(root / STAGING, "support-llm:\n    scaling: {maxReplicas: 2}", "support-llm:\n    enabled: false")


# Each change, and the reason generator.commands.delta.attempt_delta gives for declining it: the
# reason is the spec, so a change declined for another reason (a check that moved, a record
# that no longer holds what it should) fails here instead of passing for any reason.
DECLINED: dict[str, tuple[Callable[[Path], None], str]] = {
    "environment settings": (
        lambda r: _edit(r / PROD, "defaults:\n  scaling: {minReplicas: 3}", "defaults:\n  scaling: {minReplicas: 4}"),
        "environments/prod.yaml: the edit is outside the models' entries",
    ),
    "an override added": (
        lambda r: _edit(r / STAGING, "models:\n", "models:\n  sentiment:\n    scaling: {maxReplicas: 5}\n"),
        "environments/staging.yaml: the edit is outside the models' entries",
    ),
    "an override added between two": (
        lambda r: _edit(
            r / PROD, "  image-classifier:", "  sentiment:\n    scaling: {maxReplicas: 5}\n  image-classifier:"
        ),
        "environments/prod.yaml: the edit of fraud-detector, image-classifier is not of these entries alone",
    ),
    "a model switched off": (_switch_off, "support-llm was switched on or off in staging"),
    "the fleet header": (
        lambda r: _edit(r / "models.yaml", "models:\n", "models:  # every model\n"),
        "models.yaml: the edit is outside the models' entries",
    ),
    "a model renamed": (
        lambda r: _edit(r / "models.yaml", "- name: churn-model", "- name: churn-model-v2"),
        "models.yaml: the edit of churn-model is not of these entries alone",
    ),
    "an alias in an entry": (
        lambda r: _edit(r / "models.yaml", "maxReplicas: 12", "maxReplicas: &max 12"),
        "models.yaml: the edit of image-classifier is not of these entries alone",
    ),
    "a model's image repository taken": (
        lambda r: _edit(
            r / "models.yaml",
            'tag: "1.6.1-r2"',
            'tag: "1.6.1-r2"\n      repository: registry.acme.example/ml/fraud-detector',
        ),
        "sentiment takes another model's image repository",
    ),
    "a build context removed": (
        lambda r: shutil.rmtree(r / "services/churn-model"),
        "services/churn-model changed, which no model reads as a config file",
    ),
    "an invalid override": (  # validated on its own, the pair fails: the full path reports it (test below)
        lambda r: _edit(r / PROD, "scaling: {maxReplicas: 60}", "scaling: {maxReplicas: 1}"),
        "a finding: ModelfleetError",
    ),
    "a typo": (
        lambda r: _edit(r / PROD, "scaling: {maxReplicas: 60}", "scaling: {maxReplica: 60}"),
        "a finding: ModelfleetError",
    ),
    "a new environment file": (
        lambda r: (r / "environments/qa.yaml").write_text(
            (r / STAGING).read_text(encoding="utf-8").replace("staging", "qa"), encoding="utf-8"
        ),
        "the set of inputs changed",
    ),
}


@pytest.mark.parametrize("change", sorted(DECLINED))
def test_delta_declines_what_it_cannot_prove_local(change: str, recorded: Path) -> None:
    make, reason = DECLINED[change]
    make(recorded)
    assert _delta(recorded) == reason


def test_nothing_changed_plans_the_recorded_tree(recorded: Path) -> None:
    """Inputs as recorded (the input record answers a no-op first; this is the case of an
    edit undone after a render the record could not follow): every file by digest."""
    before = _tree(recorded)
    delta = _delta(recorded)
    assert isinstance(delta, Delta), delta
    assert all(isinstance(v, str) for v in delta.files.values())
    assert _materialised(delta, before) == pipeline.render(recorded).plan.files


def test_an_edit_undone_renders_from_the_record(recorded: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The record is not updated while the edited file is younger than the racy window, so
    a change and its undo both compare with the same record: both take the delta path."""
    path, old, new = LOCAL_EDITS["maxReplicas"]
    original = (recorded / path).read_text(encoding="utf-8")
    _edit(recorded / path, old, new)
    assert main(["--root", str(recorded), "render"]) == 0
    changed = _tree(recorded)
    (recorded / path).write_text(original, encoding="utf-8")
    delta = _delta(recorded)
    assert isinstance(delta, Delta), delta
    assert main(["--root", str(recorded), "render"]) == 0
    capsys.readouterr()
    assert _tree(recorded) == pipeline.render(recorded).plan.files != changed


def test_a_service_name_taken_by_a_strategy_change_is_declined(recorded: Path) -> None:
    """A canary strategy in an override adds a Service <model>-canary: if a model of that
    name exists, the full path must report the clash."""
    models = (recorded / "models.yaml").read_text(encoding="utf-8")
    assert "name: sentiment\n" in models
    record = load_record(recorded, UnitCache(recorded))
    assert record is not None
    record["env_models"]["prod"] = [*record["env_models"]["prod"], "churn-model-canary"]
    from generator.incremental.deltarecord import save_record

    save_record(recorded, UnitCache(recorded), record)
    _edit(recorded / PROD, "  churn-model:\n", "  churn-model:\n    rollout: {strategy: canary}\n")
    assert _delta(recorded) == "a Service of churn-model takes another model's name"


def test_a_foreign_or_stale_record_is_ignored(recorded: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from generator.incremental import deltarecord

    monkeypatch.setattr(deltarecord, "generator_fingerprint", lambda: "another generator")
    _edit(recorded / PROD, "scaling: {maxReplicas: 60}", "scaling: {maxReplicas: 61}")
    assert _delta(recorded) == "no record of the last render by this generator"


def test_an_invalid_override_is_reported_by_the_full_path(recorded: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = _tree(recorded)
    _edit(recorded / PROD, "scaling: {maxReplicas: 60}", "scaling: {maxReplicas: 1}")
    assert main(["--root", str(recorded), "render"]) == 1
    assert "maxReplicas" in capsys.readouterr().err
    assert _tree(recorded) == before


def test_the_cli_renders_an_override_change_without_the_full_pipeline(
    recorded: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path, old, new = LOCAL_EDITS["an image digest (compose file and kustomization images change)"]
    _edit(recorded / path, old, new)

    def no_full_render(*args: object, **kwargs: object) -> None:
        raise AssertionError("the full pipeline ran")

    monkeypatch.setattr(pipeline, "render", no_full_render)
    assert main(["--root", str(recorded), "render"]) == 0
    assert f"rendered/ written: {committed_file_count()} files" in capsys.readouterr().out
    monkeypatch.undo()
    assert _tree(recorded) == pipeline.render(recorded).plan.files
    assert main(["--root", str(recorded), "render", "--check", "--no-cache"]) == 0


def test_a_racy_environment_file_is_read_again_next_time(recorded: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Rendered moments after an edit, the file is recorded as racy: the next run parses it
    again and compares its overrides with what the last run read."""
    path, old, new = LOCAL_EDITS["maxReplicas"]
    _edit(recorded / path, old, new)  # modified just now: racy for this render
    assert main(["--root", str(recorded), "render"]) == 0
    record = load_record(recorded, UnitCache(recorded))
    assert record is not None
    assert [path, "racy"] in record["inputs"]
    before = _tree(recorded)
    path, old, new = LOCAL_EDITS["minReplicas and maxReplicas"]
    _edit(recorded / path, old, new)
    delta = _delta(recorded)
    assert isinstance(delta, Delta), delta
    assert _materialised(delta, before) == pipeline.render(recorded).plan.files
    capsys.readouterr()


SHARE_EDITS = [  # each changes what its unit adds to prod's or staging's shared files
    LOCAL_EDITS["an image digest (compose file and kustomization images change)"],  # prod, fraud-detector
    (PROD, "sha256:0d3b5f", "sha256:1d3b5f"),  # prod, image-classifier: needs fraud-detector's new share
    LOCAL_EDITS["the log level (compose file changes)"],  # staging
    (PROD, "scaling: {maxReplicas: 60}", "scaling: {maxReplicas: 60}\n    startup: {maxSeconds: 900}"),
]


def test_shares_stored_apart_follow_successive_changes(
    recorded: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each edit changes its unit's share of the environment's shared files: the delta path
    rebuilds those files from the stored shares, and stores the new ones for the next run."""
    record = load_record(recorded, UnitCache(recorded))
    assert record is not None and "shares" not in record
    assert all("share" not in unit for units in record["units"].values() for unit in units.values())

    def no_full_render(*args: object, **kwargs: object) -> None:
        raise AssertionError("the full pipeline ran")

    for path, old, new in SHARE_EDITS:
        _edit(recorded / path, old, new)
        _age(recorded)  # outside the racy window: the record is saved after each run
        with monkeypatch.context() as patch:
            patch.setattr(pipeline, "render", no_full_render)
            assert main(["--root", str(recorded), "render"]) == 0
        assert _tree(recorded) == pipeline.render(recorded).plan.files, (path, new)
    capsys.readouterr()


@pytest.mark.parametrize("damage", ["removed", "of another state"])
def test_stored_shares_that_do_not_match_the_record_are_declined(
    damage: str, recorded: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from generator.incremental.deltarecord import share_key

    cache = UnitCache(recorded)
    pack = cache._path(share_key(recorded, "prod"))
    if damage == "removed":
        pack.unlink()
    else:
        stored = cache.get(share_key(recorded, "prod"), lambda value: True, count=False)
        stored["contribs"] = dict.fromkeys(stored["contribs"], "0" * 40)
        assert cache.put(share_key(recorded, "prod"), stored)
    path, old, new = SHARE_EDITS[0]
    _edit(recorded / path, old, new)
    assert _delta(recorded) == "the stored shares of prod do not match the record"
    assert main(["--root", str(recorded), "render"]) == 0  # the full path
    capsys.readouterr()
    assert _tree(recorded) == pipeline.render(recorded).plan.files
    _edit(recorded / path, new, old)  # the full path stored the shares again
    assert isinstance(_delta(recorded), Delta)


def test_the_delta_path_scans_only_changed_env_values_for_secrets(
    recorded: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The record keeps what the secret scan found clean: validating a changed pair scans
    only the values that changed (none here), and never imports detect-secrets for them."""
    from generator.check import secrets as secretcheck
    from generator.check import secrets_scan

    scanned: list[str] = []
    real = secrets_scan._scan_env

    def counting(name: str, value: str) -> object:
        scanned.append(name)
        return real(name, value)

    monkeypatch.setattr(secrets_scan, "_scan_env", counting)
    monkeypatch.setattr(secretcheck, "text_suspect", lambda text: pytest.fail("a config file was scanned"))
    path, old, new = LOCAL_EDITS["maxReplicas"]
    _edit(recorded / path, old, new)
    delta = _delta(recorded)
    assert isinstance(delta, Delta), delta
    assert scanned == []


def test_a_secret_in_a_changed_override_is_found(recorded: Path, capsys: pytest.CaptureFixture[str]) -> None:
    key = "AKIA" + "IOSFODNN7EXAMPLE"
    path, old, _ = LOCAL_EDITS["maxReplicas"]
    _edit(recorded / path, old, old + f"\n    env: {{AWS_ACCESS_KEY_ID: {key}}}")
    before = _tree(recorded)
    assert _delta(recorded) == "a finding: ModelfleetError"
    assert main(["--root", str(recorded), "render"]) == 1
    assert "AWS" in capsys.readouterr().err
    assert _tree(recorded) == before


@pytest.mark.parametrize("kind", edit_kinds())
def test_the_benchmarks_edits_take_the_delta_path(
    kind: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each kind of one-model edit `make bench` times, on a generated fleet, twice (the second
    undoes the first: its unit comes from the cache, its files from the kept tree): the delta
    path answers, and each render equals a render from scratch."""
    root = generated_fleet(tmp_path / "fleet", 12)
    _age(root)
    assert main(["--root", str(root), "render"]) == 0
    for step in range(2):
        path, model = edit(root, kind, step)
        _age(root)
        delta = _delta(root)
        assert isinstance(delta, Delta), (path, model, delta)
        assert main(["--root", str(root), "render"]) == 0
        assert _tree(root) == pipeline.render(root).plan.files, (path, model)
    capsys.readouterr()
