"""``modelfleet overview`` (issue 18): one self-contained HTML page of the fleet, the same
bytes on every run, spec text escaped, links relative to the page, clear errors."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from generator.cli import main


class _Page(HTMLParser):
    """The tags, links and script texts of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.scripts: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in_script = tag == "script"

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.scripts.append(data)


def _parse(path: Path) -> _Page:
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))
    return page


def _overview(root: Path, *args: str) -> int:
    return main(["--root", str(root), "overview", *args])


def test_overview_writes_a_self_contained_page(
    example_fleet: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "site" / "fleet.html"  # its directory is created
    assert _overview(example_fleet, "--output", str(output)) == 0
    out = capsys.readouterr().out
    assert f"{output} written: 5 models, 14 (model, environment) pairs in 3 environments" in out
    page = _parse(output)
    rows = [attrs for tag, attrs in page.tags if tag == "tr" and "data-model" in attrs]
    assert len(rows) == 14
    assert {r["data-model"] for r in rows} == {
        "churn-model",
        "fraud-detector",
        "image-classifier",
        "sentiment",
        "support-llm",
    }
    assert {r["data-env"] for r in rows} == {"dev", "prod", "staging"}
    assert [attrs["id"] for tag, attrs in page.tags if tag == "details"] == [
        f"model-{name}" for name in ("churn-model", "fraud-detector", "image-classifier", "sentiment", "support-llm")
    ]
    # nothing is loaded: no external script, style, image or frame; every link stays on disk
    assert not [tag for tag, attrs in page.tags if "src" in attrs or tag in ("link", "iframe", "img")]
    hrefs = [str(attrs["href"]) for tag, attrs in page.tags if tag == "a"]
    files = [h for h in hrefs if not h.startswith("#")]
    assert len(files) == 5 * 3 + 14
    for href in files:
        assert not re.match(r"^[a-z]+:", href), href
        assert (output.parent / href).exists(), href
    assert "../fleet/rendered/runbooks/fraud-detector.md" in files


def test_overview_default_output_and_same_bytes_every_run(
    example_fleet: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(example_fleet)
    assert main(["overview"]) == 0
    first = (example_fleet / "overview.html").read_bytes()
    assert "overview.html written" in capsys.readouterr().out
    assert main(["overview", "--no-cache"]) == 0
    assert (example_fleet / "overview.html").read_bytes() == first
    assert b'href="rendered/runbooks/sentiment.md"' in first


def test_overview_escapes_spec_text(example_fleet: Path, tmp_path: Path) -> None:
    models = example_fleet / "models.yaml"
    text = models.read_text(encoding="utf-8")
    old = "description: Real-time card fraud scoring (scikit-learn, CPU)"
    hostile = 'Scores <script>alert("x")</script> & <b onclick=alert(1)>bold</b>'
    models.write_text(text.replace(old, f"description: {hostile!r}"), encoding="utf-8")
    output = tmp_path / "overview.html"
    assert _overview(example_fleet, "--output", str(output)) == 0
    html = output.read_text(encoding="utf-8")
    escaped = "Scores &lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; &lt;b onclick=alert(1)&gt;bold&lt;/b&gt;"
    assert escaped in html
    page = _parse(output)
    assert [tag for tag, _ in page.tags].count("script") == 1  # the page's own
    assert [tag for tag, _ in page.tags].count("b") == 0
    assert "alert" not in "".join(page.scripts)


def test_overview_reports_a_page_it_cannot_write(
    example_fleet: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("", encoding="utf-8")
    assert _overview(example_fleet, "--output", str(blocker / "overview.html")) == 1
    err = capsys.readouterr().err
    assert "cannot write the overview page" in err
    assert "pass --output with a file in a directory that exists and is writable" in err
    assert "Traceback" not in err


def test_overview_reports_findings_of_the_fleet(
    example_fleet: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    prod = example_fleet / "environments" / "prod.yaml"
    text = prod.read_text(encoding="utf-8")
    prod.write_text(text.replace("scaling: {maxReplicas: 60}", "scaling: {maxReplicas: -1}"), encoding="utf-8")
    output = tmp_path / "overview.html"
    assert _overview(example_fleet, "--output", str(output)) == 1
    err = capsys.readouterr().err
    assert "environments/prod.yaml:" in err and "maxReplicas" in err
    assert not output.exists()
