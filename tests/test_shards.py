"""CI that shards: ``render --check`` and ``validate`` limited to environments (``--env``) and
models (``--model``), and ``modelfleet shards``. The shards of the environments together
check exactly what one full check checks: the same files, and every damage to rendered/
(a changed, deleted or added file of each kind) one check flags is flagged by a shard."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from generator.cli import main
from generator.commands.render import check_shard
from generator.incremental.cache import UnitCache
from generator.output.shard import Shard, environment_of
from tests.fleets import generated_fleet


def run(capsys: pytest.CaptureFixture[str], root: Path, *args: str) -> tuple[int, str, str]:
    code = main(["--root", str(root), *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def environments(root: Path) -> list[str]:
    return sorted(path.stem for path in (root / "environments").glob("*.yaml"))


def on_disk(root: Path) -> set[str]:
    target = root / "rendered"
    return {p.relative_to(target).as_posix() for p in target.rglob("*") if p.is_file()}


def checked(root: Path, shard: Shard) -> set[str]:
    return set(check_shard(root, UnitCache(root, enabled=False), shard))


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A generated fleet (2 clones of each example model, 4 environments), rendered."""
    root = generated_fleet(tmp_path_factory.mktemp("generated") / "fleet", models=10, environments=4)
    assert main(["--root", str(root), "render", "--no-cache", "-q"]) == 0
    return root


def test_shards_lists_the_environments_as_json(capsys: pytest.CaptureFixture[str], example_fleet: Path) -> None:
    code, out, _ = run(capsys, example_fleet, "shards", "--by", "env")
    assert code == 0
    assert out == '["dev","prod","staging"]\n'  # one line, for $GITHUB_OUTPUT
    assert json.loads(out) == environments(example_fleet)


@pytest.mark.parametrize("fleet", ["example", "generated"])
def test_environment_shards_check_exactly_the_files_of_the_full_check(
    fleet: str, example_fleet: Path, generated: Path
) -> None:
    root = example_fleet if fleet == "example" else generated
    full = checked(root, Shard())
    assert full == on_disk(root)
    envs = environments(root)
    shards = {env: checked(root, Shard(frozenset([env]))) for env in envs}
    assert set().union(*shards.values()) == full
    for env, files in shards.items():  # each file of an environment is checked by its shard alone
        assert {path for path in full if environment_of(path, envs) == env} <= files
        assert not {path for path in files if environment_of(path, envs) not in (env, None)}
    # a shard of models checks what those models own; together, all but the files combining models
    models = sorted(path.split("/")[1] for path in full if path.startswith("base/"))
    per_model = set().union(*(checked(root, Shard(None, frozenset([m]))) for m in models))
    combining = full - per_model
    assert {"README.md", "images/docker-bake.hcl", f"overlays/{envs[0]}/kustomization.yaml"} <= combining
    for path in combining - {"README.md", "images/docker-bake.hcl"}:
        parts = path.split("/")
        assert environment_of(path, envs) is not None and parts[0] != "tests", path
        assert len(parts) == 2 or parts[2] in ("kustomization.yaml", "namespace.yaml", "prometheus-adapter-values.yaml")


def _damage(root: Path, kind: str, path: str) -> None:
    target = root / "rendered" / path
    if kind == "change":
        target.write_bytes(target.read_bytes() + b"# edited\n")
    elif kind == "delete":
        target.unlink()
    else:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text("left over\n", encoding="utf-8")


DAMAGE = [  # (kind, path, the shards that must flag it: an environment, or every one)
    ("change", "base/sentiment/rollout.yaml", "every"),
    ("change", "overlays/prod/kustomization.yaml", "prod"),
    ("delete", "overlays/staging/namespace.yaml", "staging"),
    ("change", "gitops/dev.yaml", "dev"),
    ("delete", "tests/prod/fraud-detector.rules-test.yaml", "prod"),
    ("change", "compose/staging.yaml", "staging"),
    ("change", "platform/prod/prometheus-adapter-values.yaml", "prod"),
    ("change", "README.md", "every"),
    ("delete", "runbooks/churn-model.md", "every"),
    ("change", "images/docker-bake.hcl", "every"),
    ("add", "overlays/dev/resources/old-model-service.yaml", "dev"),
    ("add", "tests/staging/old-model.yaml", "staging"),
    ("add", "gitops/prod-extra.yaml", "every"),  # not a file of any environment's layout
    ("add", "overlays/qa/kustomization.yaml", "every"),  # an environment since removed
    ("add", "notes.txt", "every"),
]


@pytest.mark.parametrize(("kind", "path", "flagged_by"), DAMAGE, ids=[f"{k}-{p}" for k, p, _ in DAMAGE])
def test_a_damaged_file_is_flagged_by_the_full_check_and_by_its_shards(
    capsys: pytest.CaptureFixture[str], example_fleet: Path, kind: str, path: str, flagged_by: str
) -> None:
    root = example_fleet
    assert kind == "add" or (root / "rendered" / path).is_file(), path
    _damage(root, kind, path)
    code, _, err = run(capsys, root, "render", "--check", "--no-cache", "-q")
    assert code == 1 and f"rendered/{path}" in err
    flagging = set()
    for env in environments(root):
        code, _, err = run(capsys, root, "render", "--check", "--no-cache", "-q", "--env", env)
        assert code in (0, 1)
        if code == 1:
            assert f"rendered/{path}" in err
            flagging.add(env)
    assert flagging == (set(environments(root)) if flagged_by == "every" else {flagged_by})


def test_a_model_shard_flags_a_damaged_file_of_that_model(
    capsys: pytest.CaptureFixture[str], example_fleet: Path
) -> None:
    _damage(example_fleet, "change", "tests/prod/fraud-detector.rules-test.yaml")
    shard = ("--env", "prod", "--model", "fraud-detector")
    code, _, err = run(capsys, example_fleet, "render", "--check", "--no-cache", *shard)
    assert code == 1 and "rendered/tests/prod/fraud-detector.rules-test.yaml" in err
    code, out, _ = run(capsys, example_fleet, "render", "--check", "--no-cache", "--model", "sentiment")
    assert code == 0 and "current for model sentiment" in out


def test_damage_in_a_generated_fleet_is_flagged_by_its_environment_alone(
    capsys: pytest.CaptureFixture[str], generated: Path, tmp_path: Path
) -> None:
    root = tmp_path / "fleet"
    shutil.copytree(generated, root, ignore=shutil.ignore_patterns(".modelfleet-cache"))
    envs = environments(root)
    last = envs[-1]
    _damage(root, "change", f"overlays/{last}/kustomization.yaml")
    _damage(root, "add", f"overlays/{envs[0]}/patches/gone.yaml")
    code, _, err = run(capsys, root, "render", "--check", "--no-cache", "-q")
    assert code == 1 and f"overlays/{last}/kustomization.yaml" in err and f"overlays/{envs[0]}/patches/gone.yaml" in err
    results = {env: run(capsys, root, "render", "--check", "--no-cache", "-q", "--env", env)[0] for env in envs}
    assert results == {env: 1 if env in (envs[0], last) else 0 for env in envs}


class Progress:
    def __init__(self) -> None:
        self.units: list[tuple[str, str]] = []

    def on_unit(self, env: str, model: str, done: int, total: int) -> None:
        self.units.append((env, model))


def test_a_shard_renders_only_its_own_units(example_fleet: Path) -> None:
    from generator.commands.render import render_command

    progress = Progress()
    shard = Shard(frozenset(["staging"]), None)
    render_command(example_fleet, check=True, use_cache=False, progress=progress, shard=shard)
    assert progress.units and {env for env, _ in progress.units} == {"staging"}
    progress = Progress()
    shard = Shard(frozenset(["prod"]), frozenset(["sentiment"]))
    render_command(example_fleet, check=True, use_cache=False, progress=progress, shard=shard)
    assert progress.units == [("prod", "sentiment")]


def test_render_without_check_refuses_a_shard(capsys: pytest.CaptureFixture[str], example_fleet: Path) -> None:
    before = {p: (example_fleet / "rendered" / p).read_bytes() for p in on_disk(example_fleet)}
    code, _, err = run(capsys, example_fleet, "render", "--env", "dev")
    assert code == 2 and "--env and --model go with render --check only" in err
    assert {p: (example_fleet / "rendered" / p).read_bytes() for p in on_disk(example_fleet)} == before


@pytest.mark.parametrize("command", [("render", "--check"), ("validate",)])
def test_an_unknown_environment_or_model_lists_the_known_ones(
    capsys: pytest.CaptureFixture[str], example_fleet: Path, command: tuple[str, ...]
) -> None:
    code, _, err = run(capsys, example_fleet, *command, "--env", "prdo", "--model", "sentiments")
    assert code == 1
    assert "--env prdo: the fleet has no environment prdo" in err
    assert "did you mean prod? environments: dev, prod, staging" in err
    assert "--model sentiments: the fleet has no model sentiments" in err and "did you mean sentiment?" in err


def _break_prod_digest(root: Path) -> None:
    """fraud-detector's image digest in prod, cut short."""
    path = root / "environments" / "prod.yaml"
    text = path.read_text(encoding="utf-8")
    old = 'image: {digest: "sha256:4c1e8f0a2b9d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f"}'
    assert text.count(old) == 1
    path.write_text(text.replace(old, 'image: {digest: "sha256:1234"}'), encoding="utf-8")


def test_an_invalid_model_in_one_environment_is_reported_by_its_shard(
    capsys: pytest.CaptureFixture[str], example_fleet: Path
) -> None:
    _break_prod_digest(example_fleet)
    finding = "environments/prod.yaml"
    for args in (("validate",), ("validate", "--env", "prod"), ("validate", "--model", "fraud-detector")):
        code, _, err = run(capsys, example_fleet, *args, "--no-cache")
        assert code == 1 and finding in err and "is not an image digest" in err, args
    code, out, _ = run(capsys, example_fleet, "validate", "--no-cache", "--env", "dev")
    assert code == 0
    assert out == "ok: 5 models, 1 environment valid (shard: environment dev); 1 finding outside the shard\n"
    code, out, _ = run(capsys, example_fleet, "validate", "--no-cache", "--env", "prod", "--model", "sentiment")
    assert code == 0
    code, _, err = run(capsys, example_fleet, "render", "--check", "--no-cache", "--env", "prod")
    assert code == 1 and "is not an image digest" in err
    code, _, err = run(capsys, example_fleet, "render", "--check", "--no-cache", "--env", "dev")
    assert code == 1 and "the spec has 1 finding outside this shard" in err


def test_a_finding_of_the_fleet_is_reported_by_every_shard(
    capsys: pytest.CaptureFixture[str], example_fleet: Path
) -> None:
    path = example_fleet / "models.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("fleet:\n", "fleet:\n  colour: blue\n", 1), encoding="utf-8")
    for env in ("dev", "prod", "staging"):
        code, _, err = run(capsys, example_fleet, "validate", "--no-cache", "--env", env)
        assert code == 1 and "colour" in err


def test_a_finding_of_one_model_in_models_yaml_is_reported_by_that_models_shards(
    capsys: pytest.CaptureFixture[str], example_fleet: Path
) -> None:
    path = example_fleet / "models.yaml"
    first, other = (m["name"] for m in yaml.safe_load(path.read_text(encoding="utf-8"))["models"][:2])
    text = path.read_text(encoding="utf-8")
    runtime = text[text.index("runtime: ") :].split("\n", 1)[0]
    path.write_text(text.replace(runtime, "runtime: pyton", 1), encoding="utf-8")
    for args in (("--model", first), ("--env", "dev"), ("--env", "prod", "--model", first, "--model", other)):
        code, _, err = run(capsys, example_fleet, "validate", "--no-cache", *args)
        assert code == 1 and "models[0].runtime" in err, args
    code, out, _ = run(capsys, example_fleet, "validate", "--no-cache", "--model", other)
    assert code == 0 and "1 finding outside the shard" in out
