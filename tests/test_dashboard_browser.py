"""The dashboard in a real headless Chromium (Debian's, driven by Playwright): it follows a
loop running in another process without a reload, opens diffs and crash logs, shows an
agent's markup as text, and the static report loads nothing from anywhere.

One browser serves the module. Without Chromium or Playwright these tests are skipped,
unless AUTORESEARCH_REQUIRE_BROWSER is set (CI sets it): then they fail. A screenshot of
the dashboard is saved under AUTORESEARCH_TEST_ARTIFACTS (default: the test's tmp dir).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from dashboard_helpers import BASELINE, NIGHT, SCRIPT, new_project, start_loop

from autoresearch.dashboard import render_static, serve

WAIT_MS = 60_000  # how long the browser waits for a change: only a guard against a hang
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def _missing(reason: str):
    if os.environ.get("AUTORESEARCH_REQUIRE_BROWSER"):
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("playwright is not installed: pip install -e '.[test]'")
    executable = (os.environ.get("AUTORESEARCH_CHROMIUM") or shutil.which("chromium")
                  or shutil.which("chromium-browser"))
    if not executable:
        _missing("no chromium on PATH: apt-get install chromium")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1100, "height": 900})
    opened = context.new_page()
    opened.set_default_timeout(WAIT_MS)
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    opened.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    yield opened
    context.close()
    assert errors == []


def artifacts(tmp_path: Path) -> Path:
    directory = Path(os.environ.get("AUTORESEARCH_TEST_ARTIFACTS") or tmp_path)
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def test_the_dashboard_follows_a_running_loop(page, tmp_path):
    from playwright.sync_api import expect

    project = new_project(tmp_path)
    server = serve(project, port=0)
    loop = None
    try:
        page.goto(server.url)
        experiments, points = page.locator("tr.experiment"), page.locator("circle.point")
        expect(experiments).to_have_count(1)
        expect(page.locator("#workers")).to_have_text("No loop is running.")
        page.evaluate("window.notReloaded = true")

        loop = start_loop(project)
        expect(experiments).to_have_count(1 + len(NIGHT))
        expect(points).to_have_count(1 + len(NIGHT))
        expect(page.locator("circle.point.crash")).to_have_count(1)
        expect(page.locator("#connection")).to_have_text("live")
        worker = page.locator("#workers .worker")
        expect(worker.locator(".what")).to_have_text("worker 1 · run · fffffff · held experiment")
        expect(worker.locator("pre.tail")).to_contain_text("still running")
        expect(page.locator("#summary")).to_contain_text("1 → 0.9 (-10.00%)")

        # Newest first; what the agent wrote is text, nothing of it became an element.
        expect(experiments.locator("td.description")).to_have_text(
            ["double width", SCRIPT, "raise lr", "baseline"])
        assert page.locator("#experiments tbody img, #experiments tbody script").count() == 0
        assert page.evaluate("window.pwned") is None

        experiments.filter(has_text="raise lr").click()
        expect(page.locator("tr.detail pre.diff")).to_contain_text("+VALUE = 0.9")
        page.locator("circle.point.crash").click()
        expect(page.locator("tr.detail pre.error")).to_have_text("CUDA out of memory")
        expect(page.locator("tr.detail pre.log")).to_contain_text(
            "RuntimeError: CUDA out of memory")
        page.screenshot(path=str(artifacts(tmp_path) / "dashboard.png"), full_page=True)

        page.locator("#filters button[data-status=keep]").click()
        expect(experiments).to_have_count(2)

        loop.stdin.close()
        assert loop.wait(timeout=60) == 0
        expect(page.locator("#workers")).to_have_text("No loop is running.")
        assert page.evaluate("window.notReloaded") is True
    finally:
        if loop is not None and loop.poll() is None:
            loop.kill()
        server.close()


def test_the_static_report_loads_without_any_network(page, tmp_path):
    from playwright.sync_api import expect

    project = new_project(tmp_path, BASELINE + NIGHT)
    report = render_static(project, tmp_path / "report.html")
    requested: list[str] = []
    page.context.route("**/*", lambda route: (requested.append(route.request.url),
                                               route.continue_()))
    page.goto(report.as_uri())
    experiments = page.locator("tr.experiment")
    expect(experiments).to_have_count(1 + len(NIGHT))
    expect(page.locator("circle.point")).to_have_count(1 + len(NIGHT))
    experiments.filter(has_text="raise lr").click()
    expect(page.locator("tr.detail pre.diff")).to_contain_text("+VALUE = 0.9")
    assert requested == [report.as_uri()]


def test_the_dashboard_follows_a_real_loop(page, tmp_path):
    """``autoresearch loop`` in another process, with a stand-in agent: the table gains rows,
    the chart gains points and the "now" panel shows the run in progress, without a reload."""
    import signal

    from playwright.sync_api import expect

    from helpers import cli, make_project, start, train_py, wait_for

    marker = tmp_path / "running"
    slow = (f"import pathlib, time\npathlib.Path({str(marker)!r}).write_text('x')\n"
            "print('still training', flush=True)\ntime.sleep(120)\n")
    plan = [{"write": {"train.py": train_py(0.9)}, "say": "raise lr"},
            {"write": {"train.py": train_py(0.95)}, "say": SCRIPT},
            {"write": {"train.py": slow}, "say": "train forever"}]
    project = make_project(tmp_path, train_py(1.0), plan)
    assert cli(project, "setup", "--tag", "live").returncode == 0
    server = serve(project, port=0)
    loop = None
    try:
        page.goto(server.url)
        experiments, points = page.locator("tr.experiment"), page.locator("circle.point")
        expect(experiments).to_have_count(1)
        page.evaluate("window.notReloaded = true")

        loop = start(project, "loop", "--tag", "live", "-n", "3")
        wait_for(marker, loop)
        expect(experiments).to_have_count(3)
        expect(points).to_have_count(3)
        expect(page.locator("#workers .worker .what")).to_contain_text("train forever")
        expect(page.locator("#workers pre.tail")).to_contain_text("still training")
        assert page.locator("#experiments tbody script").count() == 0
        experiments.filter(has_text="raise lr").click()
        expect(page.locator("tr.detail pre.diff")).to_contain_text("VALUE = 0.9")
        page.screenshot(path=str(artifacts(tmp_path) / "dashboard-real-loop.png"),
                        full_page=True)

        loop.send_signal(signal.SIGINT)
        assert loop.wait(timeout=60) == 130
        expect(page.locator("#workers")).to_have_text("No loop is running.")
        assert page.evaluate("window.notReloaded") is True
    finally:
        if loop is not None and loop.poll() is None:
            loop.kill()
        server.close()
