"""Every chapter, and the dashboard, in a real JupyterLab driven by headless Chromium.

One JupyterLab server (``tests/browser/lab.py``) serves copies of every chapter in
``notebooks/`` and of ``tests/browser/dashboard.ipynb``.  For each chapter the test opens
it, sets the notebook's log console to its most verbose level (``debug``), runs all cells,
then clicks every button of every widget in the page, one at a time, waiting for the
kernel after each.  It asserts:

- no cell has an error output, a stderr stream or a printed traceback, and no widget
  shows that a click failed (``.raftlab-alarm`` with "the widget failed");
- while the cells run, the log console records nothing above ``info``: no message that
  JupyterLab could not route to a cell (each cell's own outputs are logged at ``info``);
- while the buttons are clicked, the log console records nothing at all, at any level:
  a widget changes only its own widgets' values and sends no output of its own.

The dashboard test crashes the leader with the dashboard's own button, plays the cluster
until a new leader is named, and checks that the picture in the page changed.
Screenshots go to ``test-artifacts/``; with ``RAFTLAB_UPDATE_DOCS=1`` the dashboard's last
one is also copied to ``docs/dashboard.png``.

It uses the system's Chromium (Debian's ``chromium`` package; ``.ci/run`` installs it),
never a browser downloaded by Playwright.  ``RAFTLAB_CHROMIUM`` names another binary.
Without any Chromium the tests are skipped, saying so.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "browser"))

from lab import (  # noqa: E402
    CELLS,
    CHROMIUM_ARGS,
    CLEAR_LOG,
    KERNEL_IDLE,
    LOG_ENTRIES,
    SET_LOG_LEVEL,
    SETTLE,
    Lab,
    find_chromium,
    stop_kernels,
)

DASHBOARD = ROOT / "tests" / "browser" / "dashboard.ipynb"
CHAPTERS = sorted((ROOT / "notebooks").glob("[0-9][0-9]-*.ipynb"))
ARTIFACTS = ROOT / "test-artifacts"
LEADER = re.compile(r"S(\d+) is the leader of term (\d+)")
# Every button a widget shows in a cell's output (ipywidgets' Button and ToggleButtons).
# Close every tab without asking to save (the copies are thrown away).
CLOSE_ALL = """() => {
    for (const w of Array.from(window.jupyterapp.shell.widgets("main"))) {
        if (w.context) w.context.model.dirty = false;
        w.dispose();
    }
}"""
BUTTONS = ".jp-OutputArea-output .widget-button, .jp-OutputArea-output .widget-toggle-button"


@pytest.fixture(scope="module")
def chromium() -> str:
    path = find_chromium()
    if path is None:
        pytest.skip(
            "no Chromium found (apt-get install chromium, or set RAFTLAB_CHROMIUM); "
            "this test never downloads a browser"
        )
    return path


@pytest.fixture(scope="module")
def lab(chromium: str, tmp_path_factory) -> Iterator[str]:
    """One JupyterLab server over copies of every chapter and the dashboard fixture."""
    with Lab(tmp_path_factory.mktemp("lab"), [*CHAPTERS, DASHBOARD]) as url:
        yield url


@pytest.fixture(scope="module")
def browser(chromium: str):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture(scope="module")
def lab_page(browser, lab: str):
    """One JupyterLab page for every test: the app loads once, notebooks open in it."""
    page = browser.new_page(viewport={"width": 1280, "height": 1400})
    page.set_default_timeout(60_000)
    page.goto(f"{lab}/lab?reset")  # ?reset: a fresh workspace, no tab reopened
    page.wait_for_function("() => !!(window.jupyterapp && window.jupyterapp.restored)")
    page.evaluate("() => window.jupyterapp.restored")
    try:
        yield page
    finally:
        page.close()


@pytest.fixture
def page(lab_page, lab: str):
    try:
        yield lab_page
    finally:
        lab_page.evaluate(CLOSE_ALL)
        stop_kernels(lab)  # one chapter's kernel at a time: the machine may be small


def open_notebook(page, name: str) -> None:
    """Open ``name``, wait for its kernel, and make its log console record every level."""
    page.evaluate(
        "(path) => { void window.jupyterapp.commands.execute('docmanager:open', "
        "{path, factory: 'Notebook'}); }",
        name,
    )
    page.wait_for_function(KERNEL_IDLE, arg=name, timeout=90_000)
    page.evaluate("() => { void window.jupyterapp.commands.execute('logconsole:open'); }")
    assert page.evaluate(SET_LOG_LEVEL, [name, "debug"]) == "debug"


def run_all(page, name: str, timeout_s: float = 180) -> dict:
    """Run > Run All Cells, then wait until every code cell ran (or one failed)."""
    page.evaluate("() => { void window.jupyterapp.commands.execute('notebook:run-all-cells'); }")
    deadline = time.monotonic() + timeout_s
    while True:
        state = page.evaluate(CELLS, name)
        finished = state["run"] == state["code"] and not state["running"]
        if state["idle"] and (finished or state["bad"]):
            return state
        assert time.monotonic() < deadline, f"{name}: cells still running: {state}"
        time.sleep(0.25)


def wait_idle(page, name: str, rounds: int = 1) -> None:
    """Until the kernel has handled the click (and, with more rounds, the page's answers)."""
    page.evaluate(SETTLE, [name, rounds])


def failures_shown(page) -> list[str]:
    return page.locator(".raftlab-alarm", has_text="the widget failed").all_inner_texts()


def log(page, name: str) -> list[dict]:
    return page.evaluate(LOG_ENTRIES, name)


@pytest.mark.browser
@pytest.mark.timeout(240)
@pytest.mark.parametrize("chapter", CHAPTERS, ids=[c.stem[:2] for c in CHAPTERS])
def test_chapter_runs_and_every_widget_button_clicks_with_a_quiet_log_console(
    lab: str, page, chapter: Path
) -> None:
    name = chapter.name
    open_notebook(page, name)
    state = run_all(page, name)
    assert not state["bad"], f"{name}: " + "\n".join(state["bad"])
    loud = [e for e in log(page, name) if e["level"] not in ("debug", "info", "metadata")]
    assert not loud, f"{name}: the log console got, while the cells ran: {loud}"

    page.evaluate(CLEAR_LOG, name)
    buttons = page.locator(BUTTONS)
    clicked = []
    for k in range(buttons.count()):
        b = buttons.nth(k)
        b.scroll_into_view_if_needed()
        clicked.append(b.inner_text().strip() or b.get_attribute("title") or "?")
        b.click()
        wait_idle(page, name)
        if "raftlab-play" in (b.get_attribute("class") or ""):
            time.sleep(0.5)  # a few frames of play; Pause is the next button
    wait_idle(page, name, rounds=3)  # the last click's answers, and their answers
    entries = log(page, name)
    levels = dict(Counter(e["level"] for e in entries))
    assert not entries, (
        f"{name}: clicking {clicked} put {len(entries)} entries in the log console "
        f"({levels}); the first: {entries[:4]}"
    )
    state = page.evaluate(CELLS, name)
    assert not state["bad"], f"{name}, after clicking {clicked}: " + "\n".join(state["bad"])
    assert not failures_shown(page), f"{name}: {failures_shown(page)}"
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"chapter-{chapter.stem[:2]}.png"))


def shoot(page, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    page.locator(".raftlab-dashboard").first.screenshot(path=str(path))
    return path


@pytest.mark.browser
@pytest.mark.timeout(240)
def test_dashboard_in_jupyterlab_crashes_the_leader_and_a_new_one_is_named(lab: str, page) -> None:
    from playwright.sync_api import expect

    open_notebook(page, DASHBOARD.name)
    state = run_all(page, DASHBOARD.name)
    assert not state["bad"], state["bad"]
    page.evaluate(CLEAR_LOG, DASHBOARD.name)

    dash = page.locator(".raftlab-dashboard").first
    status = dash.locator(".raftlab-status")
    expect(status).to_contain_text("is the leader of term", timeout=90_000)
    picture = dash.locator("img").first
    expect(picture).to_be_visible()
    dash.scroll_into_view_if_needed()
    shoot(page, "dashboard-start.png")
    old = LEADER.search(status.inner_text())
    assert old is not None, status.inner_text()
    leader, term = int(old.group(1)), int(old.group(2))
    before = picture.screenshot()

    dash.get_by_role("button", name=f"crash S{leader}", exact=True).click()
    expect(dash.get_by_role("button", name=f"restart S{leader}", exact=True)).to_be_visible()
    expect(status).to_contain_text(f"S{leader} is down")
    shoot(page, "dashboard-leader-crashed.png")

    dash.locator(".raftlab-play").click()
    new_leader = re.compile(rf"S(?!{leader}\b)\d+ is the leader of term")
    expect(status).to_have_text(new_leader, timeout=90_000)
    dash.locator(".raftlab-pause").click()
    expect(dash.locator(".raftlab-play")).to_be_enabled()

    new = LEADER.search(status.inner_text())
    assert new is not None and int(new.group(1)) != leader
    assert int(new.group(2)) > term
    # A client write through the new leader; the answer shows next to the buttons.
    dash.get_by_role("button", name="Set", exact=True).click()
    expect(dash.locator(".raftlab-answer")).to_contain_text("ok")
    after = picture.screenshot()
    assert after != before, "the picture in the page did not change"
    wait_idle(page, DASHBOARD.name, rounds=3)
    assert log(page, DASHBOARD.name) == [], "the dashboard wrote to the log console"
    final = shoot(page, "dashboard.png")
    if os.environ.get("RAFTLAB_UPDATE_DOCS"):
        (ROOT / "docs").mkdir(exist_ok=True)
        shutil.copy(final, ROOT / "docs" / "dashboard.png")
