"""runbook: rendered/runbooks/<model>.md, on a copy of the small valid fleet in
tests/invalid/_base/ with a canary, a blue-green and a GPU model added. Alert docs are made
by hand here: the runbook takes them as input and does not care who wrote them."""

from __future__ import annotations

import html
import json
import re
import shutil
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from generator.build.alerting import AlertDoc, anchor_for
from generator.build.runbook import code, escape, fence, heading_id, inline, runbook
from generator.read.load import load_fleet
from generator.read.parse import parse
from generator.read.resolve import Resolution, ResolvedModel, resolve

BASE = Path(__file__).resolve().parent / "invalid" / "_base"
EXTRA_MODELS = """\
  - name: sentiment
    owner: team-a
    runtime: mlserver
    image: {tag: "1.6.1"}
    rollout: {strategy: canary}
  - name: classifier
    owner: team-b
    runtime: torchserve
    image: {tag: "0.12.0"}
    rollout: {strategy: blueGreen}
  - name: chat
    owner: team-a
    runtime: vllm
    image: {tag: "0.6.3"}
    resources: {gpu: 1}
    scaling: {minReplicas: 1, maxReplicas: 4}
"""
HOSTILE = (
    "Scores things\n# Not a heading\n## Nor this\n<script>alert(1)</script>\n```\nfenced?\n```\n"
    "- a list?\n> a quote?\n[link](javascript:alert(1)) ![img](x.png) *bold* _em_ | table | `code` &amp; "
    "<!-- comment --> $x^2$ ~~strike~~\r\n    indented code?\n=====\n"
)
QUERIES = (
    'sum(rate(http_requests_total{namespace="ml-prod",service="scorer"}[5m]))',
    'sum by (status) (rate(http_requests_total{namespace="ml-prod",service="scorer"}[5m]))',
    'kube_pod_container_status_restarts_total{namespace="ml-prod",container="model"}',
    "count(up == 0) by (job)",
)


def make_fleet(tmp_path: Path, description: str | None = None) -> Path:
    root = tmp_path / "fleet"
    shutil.copytree(BASE, root)
    models = root / "models.yaml"
    text = models.read_text(encoding="utf-8") + EXTRA_MODELS
    if description is not None:  # JSON is YAML: any text survives as a double-quoted scalar
        text = text.replace("description: Scores things", f"description: {json.dumps(description)}")
    models.write_text(text, encoding="utf-8")
    return root


def resolution(root: Path) -> Resolution:
    return resolve(parse(load_fleet(root)))


def base_model(found: Resolution, name: str) -> ResolvedModel:
    [model] = [m for m in found.base if m.name == name]
    return model


def placement(found: Resolution, name: str) -> tuple[list[str], dict[str, str]]:
    """The environments ``name`` runs in, and their namespaces."""
    envs = [env for env in found.environments if any(m.name == name for m in env.models)]
    return [env.spec.name for env in envs], {env.spec.name: env.spec.namespace for env in envs}


def doc(name: str, severity: str = "page", queries: tuple[str, ...] = QUERIES, **text: str) -> AlertDoc:
    return AlertDoc(
        name=name,
        severity=severity,
        summary=text.get("summary", f"{name} is firing"),
        meaning=text.get("meaning", "Requests fail faster than the SLO allows."),
        queries=queries,
        anchor=anchor_for(name),
    )


DOCS = (
    doc("ModelErrorBudgetBurn"),
    doc("ModelLatencyBudgetBurn", "ticket", QUERIES[:1]),
    doc("ModelPodRestarts", "ticket", ()),
)


@pytest.fixture
def fleet(tmp_path: Path) -> Resolution:
    return resolution(make_fleet(tmp_path))


def render(found: Resolution, name: str, docs: tuple[AlertDoc, ...] = DOCS) -> str:
    environments, namespaces = placement(found, name)
    return runbook(base_model(found, name), docs, environments, namespaces)


# ---------------------------------------------------------------- a Markdown reader, enough for these checks


def blocks(text: str) -> tuple[list[str], list[tuple[str, list[str]]]]:
    """The lines outside fenced code blocks, and each fenced block as (info string, body)."""
    prose: list[str] = []
    fences: list[tuple[str, list[str]]] = []
    opener: re.Match[str] | None = None
    for line in text.split("\n"):
        if opener is None:
            opener = re.fullmatch(r"(`{3,})(.*)", line)
            if opener is None:
                prose.append(line)
            else:
                fences.append((opener[2], []))
        elif re.fullmatch(rf"{opener[1]}`*\s*", line):
            opener = None
        else:
            fences[-1][1].append(line)
    assert opener is None, "a fence is left open"
    return prose, fences


def headings(text: str) -> list[str]:
    prose, _ = blocks(text)
    return [line for line in prose if re.match(r" {0,3}#", line)]


def sections(text: str) -> dict[str, str]:
    """Level-2 section title -> its text up to the next level-2 heading."""
    parts = re.split(r"^## (.+)$", text, flags=re.MULTILINE)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


# ---------------------------------------------------------------- the document


def test_it_says_it_is_generated_and_ends_with_one_newline(fleet: Resolution) -> None:
    text = render(fleet, "scorer")
    first = text.split("\n", 1)[0]
    assert first.startswith("<!-- Generated by modelfleet") and first.endswith("-->")
    assert "do not edit" in first
    assert text.endswith("\n") and not text.endswith("\n\n")
    assert "\r" not in text and "\t" not in text
    assert all(line == line.rstrip() for line in text.split("\n")), "no trailing spaces (hard breaks)"


def test_the_summary_describes_the_model(fleet: Resolution) -> None:
    summary = sections(render(fleet, "scorer"))["Model summary"]
    assert "**Description:** Scores things" in summary
    assert "`team-a`" in summary and "`python`" in summary
    assert "Deployment, rolling update" in summary
    assert "99.5% of requests succeed over 30 days" in summary and "216 minutes" in summary
    assert "- **Latency SLO:** none" in summary
    assert "`prod`, namespace `ml-prod`" in summary and "`dev`, namespace `ml-dev`" in summary
    assert "`modelfleet-scorer`" in summary  # the dashboard's uid
    chat = sections(render(fleet, "chat"))["Model summary"]
    assert "**GPUs per pod:** 1" in chat and "GPUs" not in summary


def test_an_environment_model_names_its_own_namespace(fleet: Resolution) -> None:
    prod = fleet.environment("prod")
    assert prod is not None
    [model] = [m for m in prod.models if m.name == "scorer"]
    text = runbook(model, DOCS, ["prod"])
    assert "`prod`, namespace `ml-prod`" in text
    assert "3 to 12 (HorizontalPodAutoscaler)" in text  # the environment's own replica bounds


def test_every_alert_has_a_section_reachable_by_its_anchor(fleet: Resolution) -> None:
    text = render(fleet, "scorer")
    titles = [line.removeprefix("## ") for line in headings(text) if line.startswith("## ")]
    for alert in DOCS:
        assert titles.count(alert.name) == 1
        assert heading_id(alert.name) == alert.anchor == alert.name.lower()
        assert f"[{alert.name}](#{alert.anchor})" in sections(text)["Alert index"]
    ids = [heading_id(title) for title in titles]
    assert len(ids) == len(set(ids)), "GitHub would suffix a repeated id with -1"
    assert titles[-len(DOCS) :] == [alert.name for alert in DOCS], "sections follow the order of the docs"


def test_a_section_gives_severity_meaning_and_the_first_three_queries(fleet: Resolution) -> None:
    text = render(fleet, "scorer")
    section = sections(text)["ModelErrorBudgetBurn"]
    assert "**Severity:** page" in section
    assert "**What it means:** Requests fail faster than the SLO allows." in section
    _, fences = blocks(section)
    promql = [body for info, body in fences if info == "promql"]
    assert promql == [[query] for query in QUERIES[:3]]
    assert QUERIES[3] not in section
    one = sections(text)["ModelLatencyBudgetBurn"]
    assert "**Severity:** ticket" in one and "First 1 query to run" in one
    assert "**First queries:** none" in sections(text)["ModelPodRestarts"]


def test_a_query_with_backquotes_cannot_close_its_fence(fleet: Resolution) -> None:
    tricky = 'up{job="```"}\n```\n# heading?'
    text = render(fleet, "scorer", (doc("ModelTricky", queries=(tricky,)),))
    _, fences = blocks(text)
    assert ("promql", tricky.split("\n")) in fences
    assert "# heading?" not in headings(text)


# ---------------------------------------------------------------- rolling back


def commands(section: str) -> list[str]:
    _, fences = blocks(section)
    return [line for info, body in fences if info == "sh" for line in body]


def test_a_rolling_model_rolls_back_its_deployment(fleet: Resolution) -> None:
    section = sections(render(fleet, "scorer"))["ModelErrorBudgetBurn"]
    lines = commands(section)
    assert 'kubectl rollout undo deployment/scorer -n "$NAMESPACE"' in lines
    assert not any("argo rollouts" in line for line in lines)


@pytest.mark.parametrize("name", ["sentiment", "classifier"])
def test_an_argo_rollout_is_aborted_then_undone(fleet: Resolution, name: str) -> None:
    for alert in DOCS:
        lines = commands(sections(render(fleet, name))[alert.name])
        abort = lines.index(f'kubectl argo rollouts abort {name} -n "$NAMESPACE"')
        undo = lines.index(f'kubectl argo rollouts undo {name} -n "$NAMESPACE"')
        assert abort < undo
        assert not any("rollout undo deployment" in line for line in lines)


@pytest.mark.parametrize("name", ["scorer", "sentiment", "classifier", "chat"])
def test_every_alert_shows_the_gitops_revert(fleet: Resolution, name: str) -> None:
    for alert in DOCS:
        section = sections(render(fleet, name))[alert.name]
        lines = commands(section)
        assert lines.index("git revert <commit>") < lines.index("make render")
        assert "`environments/<env>.yaml`" in section and "`models.yaml`" in section
        assert "Argo CD" in section


def test_the_namespace_variable_is_explained(fleet: Resolution) -> None:
    start = sections(render(fleet, "scorer"))["Before you start"]
    assert "export NAMESPACE=<namespace>" in commands(start)
    assert "`ml-dev` for `dev`, `ml-prod` for `prod`" in start


# ---------------------------------------------------------------- hostile text


def test_a_hostile_description_cannot_make_headings_or_html(tmp_path: Path) -> None:
    found = resolution(make_fleet(tmp_path, HOSTILE))
    text = render(found, "scorer")
    prose, fences = blocks(text)
    expected = ["# Runbook for scorer", "## Model summary", "## Alert index", "## Before you start"]
    assert headings(text) == expected + [f"## {alert.name}" for alert in DOCS]
    assert {info for info, _ in fences} == {"promql", "sh"}, "the description opened no fence"
    [line] = [line for line in prose if line.startswith("**Description:**")]
    assert "`code`" in line, "a back-quoted word stays a code span"
    outside = re.sub(r"`[^`]*`", "", re.sub(r"\\.", "", line))  # escapes, then code spans, removed
    assert "<" not in outside and ">" not in outside  # no HTML tag, comment or autolink
    assert "<script" not in text.lower()
    assert text.count("<!--") == 1  # the generated-by comment only
    for construct in ("](", "![", "*bold*", "_em_", "$x", "~~strike", "`fenced"):
        assert construct not in outside
    assert not any(line.startswith(("    ", ">", "- a list", "=====")) for line in prose)


def test_hostile_alert_text_stays_inert(fleet: Resolution) -> None:
    hostile = doc("ModelHostile", summary=HOSTILE, meaning=HOSTILE)
    text = render(fleet, "scorer", (hostile,))
    assert headings(text)[-1] == "## ModelHostile" and len(headings(text)) == 5
    assert "<script" not in text.lower()


@pytest.mark.parametrize(
    ("alerts", "message"),
    [
        ((doc("ModelA"), doc("ModelA")), "two runbook sections"),
        ((AlertDoc("ModelA", "page", "s", "m", (), "model-a"),), "not its heading's id"),
        ((doc("Model<b>"),), "cannot be a runbook heading"),
        ((AlertDoc("Model summary", "page", "s", "m", (), "model-summary"),), "two runbook sections"),
    ],
)
def test_a_broken_anchor_is_a_bug_not_a_dead_link(
    fleet: Resolution, alerts: tuple[AlertDoc, ...], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        render(fleet, "scorer", alerts)


# ---------------------------------------------------------------- determinism


def test_the_same_input_gives_the_same_bytes(tmp_path: Path) -> None:
    first = render(resolution(make_fleet(tmp_path / "a")), "sentiment")
    again = resolution(make_fleet(tmp_path / "b"))
    environments, namespaces = placement(again, "sentiment")
    second = runbook(base_model(again, "sentiment"), DOCS, environments[::-1], namespaces)
    assert first.encode() == second.encode()


# ---------------------------------------------------------------- the escaping itself


def unescape(markdown: str) -> str:
    """What a CommonMark renderer shows for escape()'s output."""
    return html.unescape(re.sub(r"\\(.)", r"\1", markdown))


@given(st.text())
def test_escape_is_one_inert_line_that_reads_as_the_text(text: str) -> None:
    escaped = escape(text)
    assert "\n" not in escaped and "\r" not in escaped and "<" not in escaped
    assert not re.search(r"(?<!\\)[`*_\[\]|#$]", escaped.replace("\\\\", ""))
    assert unescape(escaped) == re.sub(r"[\s\x00-\x08\x0b-\x1f\x7f-\x9f]+", " ", text)


@given(st.text())
def test_a_code_span_outlasts_any_backquotes_inside(text: str) -> None:
    span = code(text)
    delimiter = re.match(r"`+", span)
    assert delimiter is not None and "\n" not in span
    inner = span[len(delimiter[0]) : -len(delimiter[0])]
    assert span.endswith(delimiter[0]) and delimiter[0] not in inner
    assert max((len(run) for run in re.findall(r"`+", inner)), default=0) < len(delimiter[0])


def test_inline_keeps_code_spans_and_spaces() -> None:
    assert inline("The `scorer` fails <b>") == "The `scorer` fails &lt;b&gt;"
    assert inline("a\n# b") == "a \\# b"
    assert fence("x ```` y", "promql") == ["`````promql", "x ```` y", "`````"]
