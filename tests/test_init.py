"""`modelfleet init` and `modelfleet new-model`, run in-process in a scratch directory: the
new repository validates and renders at once, nothing is overwritten, and every runtime's
new model validates and renders with the files its build context needs."""

from __future__ import annotations

from pathlib import Path

import pytest

from generator.cli import main
from generator.spec.runtimes import RUNTIMES
from generator.version import repository_url, version

REPO = Path(__file__).resolve().parent.parent

FLEET_FILES = [
    ".github/workflows/modelfleet.yml",
    ".gitignore",
    ".modelfleet/schemas/environment.schema.json",
    ".modelfleet/schemas/models.schema.json",
    ".pre-commit-config.yaml",
    ".vscode/settings.json",
    "Makefile",
    "environments/dev.yaml",
    "environments/prod.yaml",
    "models.yaml",
    "renovate.json",
    "requirements.txt",
    "services/my-model/README.md",
    "services/my-model/app.py",
    "services/my-model/requirements.txt",
]


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def sources(root: Path) -> list[str]:
    """Every file but rendered/ and the render's own bookkeeping (.rendered.*, the cache)."""
    skip = ("rendered/", ".rendered.", ".modelfleet-cache/")
    names = (p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
    return sorted(n for n in names if not n.startswith(skip))


@pytest.fixture
def fleet(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    root = tmp_path / "acme-fleet"
    code, out, err = cli(capsys, "init", str(root))
    assert (code, err) == (0, ""), err
    written = f"ok: new fleet repository in {root}: {len(FLEET_FILES)} files written\n"
    assert out.startswith(written + "ok: rendered/ written")
    return root


def test_init_writes_a_fleet_that_validates_and_renders(fleet: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert sources(fleet) == FLEET_FILES
    assert (fleet / "rendered" / "base" / "my-model").is_dir()
    assert (fleet / "rendered" / "images" / "my-model" / "Dockerfile").is_file()
    root = ("--root", str(fleet))
    assert cli(capsys, *root, "validate") == (0, "ok: 1 model, 2 environments valid\n", "")
    assert cli(capsys, *root, "render", "--check")[0] == 0
    assert cli(capsys, *root, "schema", "--check") == (0, "ok: .modelfleet/schemas/ is current\n", "")
    code, out, _ = cli(capsys, *root, "render", "--no-cache")
    assert code == 0 and out.endswith("(0 files changed)\n"), "init's render is the one render writes"
    models = (fleet / "models.yaml").read_text(encoding="utf-8")
    assert "  name: acme-fleet\n" in models  # the fleet is named after its directory


def test_init_pins_the_installed_modelfleet(fleet: Path) -> None:
    assert f"\nmodelfleet=={version()}\n" in (fleet / "requirements.txt").read_text(encoding="utf-8")
    hooks = (fleet / ".pre-commit-config.yaml").read_text(encoding="utf-8")
    assert f"  - repo: {repository_url()}\n    rev: v{version()}\n" in hooks
    hook_ids = (REPO / ".pre-commit-hooks.yaml").read_text(encoding="utf-8")
    for hook in ("modelfleet-validate", "modelfleet-render-check"):
        assert f"- id: {hook}" in hooks and f"- id: {hook}\n" in hook_ids


def test_init_points_the_editor_at_the_schemas(fleet: Path) -> None:
    for name, schema in [
        ("models.yaml", "models.schema.json"),
        ("environments/dev.yaml", "environment.schema.json"),
        ("environments/prod.yaml", "environment.schema.json"),
    ]:
        first = (fleet / name).read_text(encoding="utf-8").splitlines()[0]
        prefix = "# yaml-language-server: $schema="
        assert first.startswith(prefix), name
        target = (fleet / name).parent / first.removeprefix(prefix)
        assert target.resolve() == (fleet / ".modelfleet" / "schemas" / schema), name
    settings = (fleet / ".vscode" / "settings.json").read_text(encoding="utf-8")
    assert '"./.modelfleet/schemas/models.schema.json": "models.yaml"' in settings
    assert '"./.modelfleet/schemas/environment.schema.json": "environments/*.yaml"' in settings


def test_init_ignores_what_is_not_committed(fleet: Path) -> None:
    ignored = (fleet / ".gitignore").read_text(encoding="utf-8").split()
    assert {".venv/", ".modelfleet-cache/", ".rendered.*"} <= set(ignored)


def test_init_writes_the_documented_ci_workflow(fleet: Path) -> None:
    written = (fleet / ".github" / "workflows" / "modelfleet.yml").read_bytes()
    assert written == (REPO / "docs" / "github-actions-example.yml").read_bytes()


def test_init_refuses_to_overwrite(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "models.yaml").write_text("mine\n", encoding="utf-8")
    (tmp_path / "Makefile").write_text("mine\n", encoding="utf-8")
    code, out, err = cli(capsys, "init", str(tmp_path))
    assert (code, out) == (1, "")
    assert f"{tmp_path}/Makefile: error: already exists; init writes a new fleet repository" in err
    assert f"{tmp_path}/models.yaml: error: already exists" in err
    assert "hint: run `modelfleet init` in an empty directory, or move this file away" in err
    assert sources(tmp_path) == ["Makefile", "models.yaml"]  # nothing written
    assert (tmp_path / "models.yaml").read_text(encoding="utf-8") == "mine\n"


def test_init_into_a_directory_with_other_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "README.md").write_text("# ours\n", encoding="utf-8")
    assert cli(capsys, "init", str(tmp_path))[0] == 0
    assert sources(tmp_path) == sorted([*FLEET_FILES, "README.md"])


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_new_model_validates_and_renders(fleet: Path, runtime: str, capsys: pytest.CaptureFixture[str]) -> None:
    before = (fleet / "models.yaml").read_text(encoding="utf-8")
    root = ("--root", str(fleet))
    code, out, err = cli(capsys, *root, "new-model", "scorer", "--runtime", runtime)
    assert (code, err) == (0, ""), err
    assert out.startswith(f"ok: added scorer ({runtime}) to models.yaml")
    after = (fleet / "models.yaml").read_text(encoding="utf-8")
    assert after.startswith(before), "every byte of models.yaml before the new model stays"
    head = f"  - name: scorer\n    description: TODO describe scorer\n    owner: team-ml\n    runtime: {runtime}\n"
    assert head in after
    added = sorted(set(sources(fleet)) - set(FLEET_FILES))
    expected = {
        "python": ["services/scorer/README.md", "services/scorer/app.py", "services/scorer/requirements.txt"],
        "mlserver": ["services/scorer/model-settings.json"],
    }
    assert added == expected.get(runtime, [])
    assert cli(capsys, *root, "validate") == (0, "ok: 2 models, 2 environments valid\n", "")
    assert cli(capsys, *root, "render")[0] == 0
    assert (fleet / "rendered" / "base" / "scorer").is_dir()
    assert cli(capsys, *root, "render", "--check")[0] == 0


def test_new_model_refuses_a_name_that_exists(fleet: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = (fleet / "models.yaml").read_bytes()
    code, out, err = cli(capsys, "--root", str(fleet), "new-model", "my-model", "--runtime", "triton")
    assert (code, out) == (1, "")
    assert err.startswith("models.yaml: error: a model named 'my-model' already exists\n  hint: choose another name")
    assert (fleet / "models.yaml").read_bytes() == before


def test_new_model_keeps_an_invalid_name_out(fleet: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = sources(fleet), (fleet / "models.yaml").read_bytes()
    code, _, err = cli(capsys, "--root", str(fleet), "new-model", "Bad_Name", "--runtime", "python")
    assert code == 1 and "Bad_Name" in err
    assert (sources(fleet), (fleet / "models.yaml").read_bytes()) == before, "restored: no file left behind"


def test_new_model_keeps_the_example_fleets_comments(example_fleet: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = (example_fleet / "models.yaml").read_text(encoding="utf-8")
    assert cli(capsys, "--root", str(example_fleet), "new-model", "ranker", "--runtime", "tfserving")[0] == 0
    after = (example_fleet / "models.yaml").read_text(encoding="utf-8")
    assert after.startswith(before + "\n  - name: ranker\n"), "a blank line between models, as the file has"
    assert "    owner: team-retention\n" in after[len(before) :], "the owner of the model before it"
    prod = (example_fleet / "environments" / "prod.yaml").read_text(encoding="utf-8")
    assert prod.endswith("\n  ranker: {enabled: false}\n"), "prod requires digests: the new model waits for promote"
    assert cli(capsys, "--root", str(example_fleet), "validate")[0] == 0


def test_new_model_keeps_crlf_line_ends(example_fleet: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for name in ("models.yaml", "environments/prod.yaml"):
        path = example_fleet / name
        path.write_bytes(path.read_bytes().replace(b"\n", b"\r\n"))
    assert cli(capsys, "--root", str(example_fleet), "new-model", "ranker", "--runtime", "triton")[0] == 0
    for name in ("models.yaml", "environments/prod.yaml"):
        data = (example_fleet / name).read_bytes()
        assert b"ranker" in data and data.count(b"\n") == data.count(b"\r\n"), name
    assert b"\r\n\r\n  - name: ranker\r\n" in (example_fleet / "models.yaml").read_bytes()


def test_new_model_outside_a_fleet(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(capsys, "--root", str(tmp_path), "new-model", "ranker", "--runtime", "triton")
    assert (code, out) == (1, "")
    assert err.startswith(f"{tmp_path}/models.yaml: error: not found\n  hint: run new-model in a fleet repository")
