"""``modelfleet diff``: a scripted git history of the example fleet, diffed against its base commit,
and the summarisers on hand-made objects."""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from generator.commands.diff import diff
from generator.commands.diffsummary import short_digest, split_image, summarise
from generator.errors import UsageError

REPO = Path(__file__).resolve().parent.parent


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True)
    return done.stdout


def commit(repo: Path, message: str) -> None:
    git(repo, "add", "-A")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false", "commit", "-q", "-m", message)


def edit(root: Path, name: str, old: str, new: str) -> None:
    path = root / name
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{old!r} is not in {name} exactly once"
    path.write_text(text.replace(old, new), encoding="utf-8")


@pytest.fixture
def fleet(example_fleet: Path) -> Path:
    """The example fleet as the only commit of a fresh git repository."""
    git(example_fleet, "init", "-q")
    commit(example_fleet, "base")
    return example_fleet


def model_lines(markdown: str, env: str, model: str) -> list[str]:
    """The nested bullets under ``model`` in the ``### env`` section of a markdown diff."""
    section = markdown.split(f"### {env}\n", 1)[1].split("\n### ", 1)[0]
    lines = section.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"- **{model}**"))
    body = []
    for line in lines[start + 1 :]:
        if not line.startswith("  - "):
            break
        body.append(line[4:])
    return [lines[start], *body]


# ---------------------------------------------------------------- a scripted history


def test_image_bump_and_max_replicas(fleet: Path) -> None:
    edit(fleet, "environments/staging.yaml", 'image: {tag: "2.4.0-rc1"}', 'image: {tag: "2.4.0"}')
    edit(fleet, "environments/prod.yaml", "scaling: {maxReplicas: 60}", "scaling: {maxReplicas: 80}")

    result = diff(fleet, "HEAD")

    assert result.format_markdown() == (
        "## modelfleet diff against HEAD\n"
        "\n"
        "### prod\n"
        "\n"
        "- **fraud-detector**\n"
        "  - replicas: min 3, max 60 → 80\n"
        "  - alert labels or annotations changed: ModelReplicasAtMax\n"
        "\n"
        "### staging\n"
        "\n"
        "- **fraud-detector**\n"
        "  - image: registry.acme.example/ml/fraud-detector 2.4.0-rc1 → 2.4.0\n"
    )
    assert result.format_text() == (
        "modelfleet diff against HEAD\n"
        "prod:\n"
        "  fraud-detector:\n"
        "    replicas: min 3, max 60 → 80\n"
        "    alert labels or annotations changed: ModelReplicasAtMax\n"
        "staging:\n"
        "  fraud-detector:\n"
        "    image: registry.acme.example/ml/fraud-detector 2.4.0-rc1 → 2.4.0\n"
    )
    assert json.loads(result.format_json()) == {
        "version": 1,
        "base": "HEAD",
        "base_error": None,
        "environments": [
            {
                "name": "prod",
                "status": "changed",
                "models": [
                    {
                        "name": "fraud-detector",
                        "status": "changed",
                        "changes": [
                            {
                                "kind": "HorizontalPodAutoscaler",
                                "object": "fraud-detector",
                                "summary": "replicas: min 3, max 60 → 80",
                            },
                            {
                                "kind": "PrometheusRule",
                                "object": "fraud-detector",
                                "summary": "alert labels or annotations changed: ModelReplicasAtMax",
                            },
                        ],
                    }
                ],
            },
            {
                "name": "staging",
                "status": "changed",
                "models": [
                    {
                        "name": "fraud-detector",
                        "status": "changed",
                        "changes": [
                            {
                                "kind": "Rollout",
                                "object": "fraud-detector",
                                "summary": "image: registry.acme.example/ml/fraud-detector 2.4.0-rc1 → 2.4.0",
                            }
                        ],
                    }
                ],
            },
        ],
    }


def test_replica_change_in_a_fleet_below_the_repository_root(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    root = repo / "deploy" / "ml"
    for name in ("environments", "services"):
        shutil.copytree(REPO / name, root / name)
    shutil.copy2(REPO / "models.yaml", root / "models.yaml")
    git(repo, "init", "-q")
    commit(repo, "base")
    edit(root, "environments/staging.yaml", "scaling: {maxReplicas: 2}", "scaling: {maxReplicas: 3}")
    edit(root, "environments/staging.yaml", "models:\n", "models:\n  churn-model:\n    scaling: {minReplicas: 1}\n")
    commit(repo, "staging: more support-llm, one churn-model fewer at rest")
    (root / "environments" / "staging.yaml").write_text("not: [valid", encoding="utf-8")  # HEAD is what counts
    git(repo, "checkout", "-q", "--", ".")

    markdown = diff(root, "HEAD~1").format_markdown()

    lines = model_lines(markdown, "staging", "churn-model")
    assert lines[0] == "- **churn-model**"
    assert "replicas: min 2 → 1, max 5" in lines
    # min == max had no room to be pinned at max; with max 3 the alert appears
    assert model_lines(markdown, "staging", "support-llm") == [
        "- **support-llm**",
        "replicas: min 2, max 2 → 3",
        "alerts added: ModelReplicasAtMax",
    ]
    assert "### dev" not in markdown and "### prod" not in markdown


def test_new_model(fleet: Path) -> None:
    models = (fleet / "models.yaml").read_text(encoding="utf-8")
    models += (
        "\n  - name: ocr\n"
        "    owner: team-vision\n"
        "    runtime: triton\n"
        '    image: {tag: "25.01-r1"}\n'
        "    artifact: {uri: gs://acme-models/ocr/1/}\n"
    )
    (fleet / "models.yaml").write_text(models, encoding="utf-8")
    edit(fleet, "environments/prod.yaml", "models:\n", "models:\n  ocr: {enabled: false}\n")

    result = diff(fleet, "HEAD")
    markdown = result.format_markdown()

    head, note, *objects = model_lines(markdown, "dev", "ocr")
    assert (head, note) == ("- **ocr** (added)", "new model")
    assert all(line.startswith("\\+ ") for line in objects)  # every object of the model, sorted by kind
    assert objects == sorted(objects)
    assert "\\+ Deployment ocr (image: registry.acme.example/ml/ocr 25.01-r1)" in objects
    assert "\\+ HorizontalPodAutoscaler ocr (replicas: min 1, max 3)" in objects
    assert "\\+ Service ocr" in objects
    assert [env.name for env in result.environments] == ["dev", "staging"]  # disabled in prod: no change there
    assert "\n  ocr (added):\n    new model\n    + " in result.format_text()


def test_removed_and_disabled_models(fleet: Path) -> None:
    text = (fleet / "models.yaml").read_text(encoding="utf-8")
    start = text.index("  - name: support-llm")
    end = text.index("  - name: sentiment")
    (fleet / "models.yaml").write_text(text[:start] + text[end:], encoding="utf-8")
    edit(fleet, "environments/dev.yaml", "  support-llm:\n    enabled: false", "  sentiment:\n    enabled: true")
    edit(fleet, "environments/staging.yaml", "  support-llm:\n    scaling: {maxReplicas: 2}\n", "")
    prod = (fleet / "environments/prod.yaml").read_text(encoding="utf-8")
    start = prod.index("  support-llm:")
    (fleet / "environments/prod.yaml").write_text(prod[:start] + prod[prod.index("  sentiment:") :], encoding="utf-8")
    edit(fleet, "environments/staging.yaml", "models:\n", "models:\n  sentiment: {enabled: false}\n")

    result = diff(fleet, "HEAD")
    markdown = result.format_markdown()

    head, note, *objects = model_lines(markdown, "prod", "support-llm")
    assert (head, note) == ("- **support-llm** (removed)", "removed from models.yaml")
    assert all(line.startswith("\\- ") for line in objects)
    assert {"\\- Deployment support-llm", "\\- HorizontalPodAutoscaler support-llm"} <= set(objects)
    assert model_lines(markdown, "staging", "sentiment")[:3] == [
        "- **sentiment** (removed)",
        "disabled in this environment",
        "\\- AnalysisTemplate sentiment",  # kinds sorted
    ]
    assert "### dev" not in markdown  # support-llm was never deployed there
    statuses = {(e.name, m.name): m.status for e in result.environments for m in e.models}
    assert statuses == {
        ("prod", "support-llm"): "removed",
        ("staging", "sentiment"): "removed",
        ("staging", "support-llm"): "removed",
    }


def test_config_env_resources_rollout_and_targets(fleet: Path) -> None:
    edit(fleet, "models.yaml", 'SCORE_THRESHOLD: "0.82"', 'SCORE_THRESHOLD: "0.85"\n      NEW_FLAG: "on"')
    edit(fleet, "models.yaml", 'requests: {cpu: "1", memory: 2Gi}', 'requests: {cpu: "2", memory: 2Gi}')
    edit(fleet, "models.yaml", "steps: [10, 25, 50]", "steps: [10, 50]")
    edit(fleet, "models.yaml", "cpuUtilization: 65", "cpuUtilization: 70")
    edit(fleet, "models.yaml", "maxErrorRate: 0.01", "maxErrorRate: 0.02")
    edit(fleet, "services/churn-model/config/features.yaml", "max_batch_size: 500", "max_batch_size: 600")
    edit(fleet, "environments/staging.yaml", "s3://acme-models/fraud/2.4.0-rc1/", "s3://acme-models/fraud/2.4.0-rc2/")

    markdown = diff(fleet, "HEAD").format_markdown()

    assert model_lines(markdown, "staging", "fraud-detector") == [
        "- **fraud-detector**",
        "analysis error-ratio ≤ 0.01 → ≤ 0.02",
        "scaling target cpu 65% → 70%",
        "resources: cpu request 1 → 2",
        "rollout steps: 10%, 25%, 50% → 10%, 50%",
        "env NEW_FLAG added: on",
        "env SCORE_THRESHOLD: 0.82 → 0.85",
        "1 other field changed in Rollout/fraud-detector: /spec/template/spec/initContainers/0/command/3",
    ]
    assert model_lines(markdown, "prod", "churn-model")[1].startswith(
        "config: features.yaml changed (ConfigMap churn-model-config-37c4bca816 → churn-model-config-"
    )
    assert len(model_lines(markdown, "prod", "churn-model")) == 2  # the workload's new ConfigMap name is implied


def test_base_that_does_not_render(fleet: Path) -> None:
    edit(fleet, "models.yaml", "runtime: vllm", "runtime: vlm")
    commit(fleet, "typo")
    edit(fleet, "models.yaml", "runtime: vlm", "runtime: vllm")

    result = diff(fleet, "HEAD")
    markdown = result.format_markdown()

    assert result.base_error is not None and "vlm" in result.base_error
    assert markdown.splitlines()[2].startswith("> **Warning:** the spec at HEAD could not be rendered (")
    assert markdown.splitlines()[2].endswith("every object is shown as added.")
    assert "### prod\n" in markdown  # no "(new environment)": the base is unknown, not empty
    assert {m.status for e in result.environments for m in e.models} == {"added"}
    assert json.loads(result.format_json())["base_error"] == result.base_error


def test_no_changes_and_bad_revisions(fleet: Path, tmp_path: Path) -> None:
    unchanged = diff(fleet, "HEAD").format_markdown()
    assert unchanged == "## modelfleet diff against HEAD\n\nNo changes to rendered objects.\n"
    for ref in ("no-such-branch", "--output=x", ""):
        with pytest.raises(UsageError, match="unknown git revision"):
            diff(fleet, ref)
    outside = tmp_path / "not-a-repo"
    outside.mkdir()
    with pytest.raises(UsageError, match="not in a git repository"):
        diff(outside, "HEAD")


# ---------------------------------------------------------------- summarisers on hand-made objects


def rule_object(rules: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {"name": "m", "labels": {"app.kubernetes.io/name": "m"}},
        "spec": {"groups": [{"name": "m", "rules": rules}]},
    }


def test_alert_changes_are_named() -> None:
    old = rule_object(
        [
            {"alert": "MHighErrorRate", "expr": "x > 0.01", "for": "5m", "labels": {"severity": "page"}},
            {"alert": "MPodRestarts", "expr": "y > 3", "for": "15m"},
            {"alert": "MGone", "expr": "z"},
            {"record": "m:rate5m", "expr": "r"},
        ]
    )
    new = copy.deepcopy(old)
    rules = new["spec"]["groups"][0]["rules"]
    rules[0]["labels"]["severity"] = "ticket"
    rules[1]["for"] = "30m"
    rules[2] = {"alert": "MNew", "expr": "n"}
    rules[3]["expr"] = "r2"
    assert summarise(old, new) == [
        "alerts added: MNew",
        "alerts removed: MGone",
        "alert thresholds changed: MPodRestarts, record m:rate5m",
        "alert labels or annotations changed: MHighErrorRate",
    ]


def test_secret_env_shows_references_and_unknown_fields_fall_back() -> None:
    container = {
        "name": "model",
        "image": "r.example/m@sha256:" + "a" * 64,
        "env": [{"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "s", "key": "token"}}}],
    }
    old = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "m"},
        "spec": {"minReadySeconds": 1, "template": {"spec": {"containers": [container]}}},
    }
    new = copy.deepcopy(old)
    new_container = new["spec"]["template"]["spec"]["containers"][0]
    new_container["image"] = "r.example/m:1.2"
    new_container["env"][0]["valueFrom"]["secretKeyRef"]["name"] = "s2"
    new["spec"]["minReadySeconds"] = 5
    assert summarise(old, new) == [
        "image: r.example/m sha256:aaaaaaaaaaaa… → 1.2",
        "env TOKEN: from secret s/token → from secret s2/token",
        "1 other field changed in Deployment/m: /spec/minReadySeconds",
    ]
    assert split_image("localhost:5000/m:2@sha256:" + "b" * 64) == ("localhost:5000/m", "2@sha256:bbbbbbbbbbbb…")
    assert split_image("m") == ("m", "latest")
    assert short_digest("sha256:abc") == "sha256:abc"
