"""The overview page in a real headless Chromium (Debian's ``chromium`` and its
``chromium-driver``, driven by selenium; `make chromium` installs them): the table of the
example fleet, sorting by a header click, a model's details, a link to a file on disk.

The screenshot goes to ``tests/artifacts/overview.png`` (git-ignored; the path is printed;
``MODELFLEET_ARTIFACTS`` names another directory). Without Chromium the test is skipped,
except in CI (``CI=true``), where it fails: CI must run it.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from generator.cli import main
from generator.pipeline import Rendered
from tests.conftest import REPO

CHROMIUM = "/usr/bin/chromium"
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1400,1900",
)


def _tools() -> tuple[str, str]:
    """Chromium and its chromedriver, or skip (fail in CI) with what is missing."""
    driver = shutil.which("chromedriver")
    if Path(CHROMIUM).exists() and driver is not None:
        return CHROMIUM, driver
    reason = "Chromium or chromedriver missing: `make chromium` installs them (Debian chromium, chromium-driver)"
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture
def browser(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    chromium, chromedriver = _tools()
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    monkeypatch.setenv("SE_OFFLINE", "true")  # Selenium Manager never looks anything up
    options = Options()
    options.binary_location = chromium
    for flag in (*FLAGS, f"--user-data-dir={tmp_path / 'chromium-profile'}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=chromedriver))
    try:
        yield driver
    finally:
        driver.quit()


def _order(driver: Any) -> list[tuple[str, str, int]]:
    from selenium.webdriver.common.by import By

    rows = driver.find_elements(By.CSS_SELECTOR, "#fleet tbody tr")
    order = []
    for row in rows:
        cells = row.find_elements(By.TAG_NAME, "td")
        order.append((str(row.get_attribute("data-model")), str(row.get_attribute("data-env")), int(cells[5].text)))
    return order


def _artifact() -> Path:
    directory = Path(os.environ.get("MODELFLEET_ARTIFACTS", REPO / "tests" / "artifacts"))
    directory.mkdir(parents=True, exist_ok=True)
    return directory / "overview.png"


def test_overview_page_in_chromium(
    browser: Any, example_fleet: Path, example_render: Rendered, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from selenium.webdriver.common.by import By

    page = tmp_path / "site" / "overview.html"
    assert main(["--root", str(example_fleet), "overview", "--output", str(page)]) == 0
    capsys.readouterr()
    browser.get(page.as_uri())
    assert browser.title == "acme-ml: fleet overview"

    # the table: every (model, environment) the render has, 5 models in 3 environments
    expected = sorted((m.name, env.spec.name) for env in example_render.resolution.environments for m in env.models)
    before = _order(browser)
    assert [(model, env) for model, env, _ in before] == expected
    assert len({model for model, _ in expected}) == 5 and len({env for _, env in expected}) == 3

    # a header click sorts by that column, a second one reverses
    header = browser.find_element(By.XPATH, "//table[@id='fleet']//th[button[normalize-space()='Max replicas']]")
    header.find_element(By.TAG_NAME, "button").click()
    ascending = _order(browser)
    assert header.get_attribute("aria-sort") == "ascending"
    assert ascending != before
    assert [m for _, _, m in ascending] == sorted(m for _, _, m in before)
    header.find_element(By.TAG_NAME, "button").click()
    descending = _order(browser)
    assert header.get_attribute("aria-sort") == "descending"
    assert descending[0] == ("fraud-detector", "prod", 60)
    assert [m for _, _, m in descending] == sorted((m for _, _, m in before), reverse=True)

    # a model's details open from its summary, and from its name in the table
    details = browser.find_element(By.ID, "model-fraud-detector")
    assert details.get_attribute("open") is None
    assert not details.find_element(By.CSS_SELECTOR, "table.detail").is_displayed()
    details.find_element(By.TAG_NAME, "summary").click()
    assert details.get_attribute("open") is not None
    detail_rows = details.find_elements(By.CSS_SELECTOR, "table.detail tbody tr")
    envs = [row.find_element(By.TAG_NAME, "td").text.split("\n")[0] for row in detail_rows]
    assert envs == ["dev", "prod", "staging"]
    assert "registry.acme.example/ml/fraud-detector@sha256:4c1e8f0a" in detail_rows[1].text
    assert "99% within 200 ms" in detail_rows[1].text
    browser.find_element(By.CSS_SELECTOR, "tr[data-model='sentiment'][data-env='prod'] a.model").click()
    assert browser.find_element(By.ID, "model-sentiment").get_attribute("open") is not None

    # links point at files the render wrote
    runbook = details.find_element(By.CSS_SELECTOR, "a.runbook").get_attribute("href")
    dashboard = details.find_element(By.CSS_SELECTOR, "a.dashboard").get_attribute("href")
    for href, suffix in ((runbook, "rendered/runbooks/fraud-detector.md"), (dashboard, "configmap-dashboard.yaml")):
        assert href.startswith("file://") and href.endswith(suffix), href
        assert Path(href.removeprefix("file://")).is_file(), href

    browser.execute_script("window.scrollTo(0, 0)")
    shot = _artifact()
    assert browser.save_screenshot(str(shot))
    assert shot.stat().st_size > 10_000
    with capsys.disabled():
        print(f"\noverview screenshot: {shot}")
