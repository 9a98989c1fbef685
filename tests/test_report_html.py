"""report.html in a real headless browser (Debian's chromium through Selenium): the page loads
without console errors, shows the report's tables and plots, and its per-example view counts the
disagreements of a constructed pair of runs exactly.

The pair: one real zero-shot run, and a copy of it recorded as another method (`lora`) whose
predictions are changed on three known examples, so the right count is known (3), and a run
compared with itself disagrees nowhere.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from cli import ptlab_ok, run_dirs
from ptlab.report.cli import report

pytestmark = pytest.mark.slow

BROWSER, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")
FLIPPED = (1, 4, 7)


def _other_method(run_dir: Path, root: Path) -> Path:
    """A copy of `run_dir` recorded as method lora, its predictions changed at FLIPPED."""
    copy = root / "lora" / run_dir.name  # the same run dir name: the same variant (`[debug=smoke]`)
    shutil.copytree(run_dir, copy)
    record = json.loads((copy / "results.json").read_text())
    (copy / "results.json").write_text(json.dumps({**record, "method": "lora"}))
    rows = [json.loads(line) for line in (copy / "predictions_test.jsonl").read_text().splitlines()]
    for i in FLIPPED:
        row = rows[i]
        row["predicted"] = next(label for label in row["scores"] if label != row["predicted"])
        row["example_scores"]["accuracy"] = float(row["predicted"] == row["gold"])
    (copy / "predictions_test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return copy


@pytest.fixture
def browser():
    if not (BROWSER and DRIVER):
        pytest.skip("chromium and chromedriver are not installed (.ci/run installs Debian's)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = BROWSER
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1400,1000"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(DRIVER))
    yield driver
    driver.quit()


def test_report_html_loads_cleanly_and_counts_a_constructed_pair_of_runs(tmp_path, cli_cache, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    log_dir = tmp_path / "runs"
    ptlab_ok("model=tiny-llama", "method=zero_shot", "task=sst2", "debug=smoke", log_dir=log_dir, cache=cli_cache)
    (real,) = run_dirs(log_dir)
    _other_method(real, tmp_path / "constructed")
    n = len((real / "predictions_test.jsonl").read_text().splitlines())
    assert n > max(FLIPPED)

    _, written = report([log_dir, tmp_path / "constructed"], tmp_path / "report", None, "test")
    page = tmp_path / "report" / "report.html"
    assert page in written
    browser.get(page.as_uri())

    assert [e for e in browser.get_log("browser") if e["level"] == "SEVERE"] == []
    assert browser.find_element(By.TAG_NAME, "h1").text == "ptlab report"
    assert "zero_shot" in browser.find_element(By.TAG_NAME, "table").text
    assert browser.find_elements(By.CSS_SELECTOR, "figure img")  # the plots, inlined

    def pick(side: str, method: str) -> str:
        """Choose the column of `method` on one side; the count line the page then shows."""
        select = Select(browser.find_element(By.ID, f"column-{side}"))
        (column,) = [o.get_attribute("value") for o in select.options if o.get_attribute("value").startswith(method)]
        select.select_by_value(column)
        return browser.find_element(By.ID, "disagree-count").text

    pick("a", "zero_shot")
    assert pick("b", "lora").startswith(f"3 of {n} examples disagree")
    rows = browser.find_elements(By.CSS_SELECTOR, "#disagreements tbody tr")
    assert [int(r.find_element(By.TAG_NAME, "td").text) for r in rows] == list(FLIPPED)
    assert pick("b", "zero_shot").startswith(f"0 of {n} examples disagree")
    assert browser.find_elements(By.CSS_SELECTOR, "#disagreements tbody tr") == []

    pick("b", "lora")
    shot = Path(os.environ.get("PTLAB_SCREENSHOT", tmp_path / "report-html.png"))
    browser.find_element(By.ID, "disagreements").location_once_scrolled_into_view
    assert browser.save_screenshot(str(shot)) and shot.read_bytes()[:4] == b"\x89PNG"
    assert [e for e in browser.get_log("browser") if e["level"] == "SEVERE"] == []
