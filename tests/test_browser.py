"""The dashboard in a real JupyterLab, driven by headless Chromium through Playwright.

The test starts JupyterLab on a free localhost port over a temporary copy of
``tests/browser/dashboard.ipynb``, runs all its cells, crashes the current leader with
the dashboard's own button, plays the cluster until a new leader is named, and checks
that the picture in the page changed.  Screenshots go to ``test-artifacts/``; with
``RAFTLAB_UPDATE_DOCS=1`` the last one is also copied to ``docs/dashboard.png``.

It uses the system's Chromium (Debian's ``chromium`` package; ``.ci/run`` installs it),
never a browser downloaded by Playwright.  ``RAFTLAB_CHROMIUM`` names another binary.
Without any Chromium the test is skipped, saying so.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "tests" / "browser" / "dashboard.ipynb"
ARTIFACTS = ROOT / "test-artifacts"
# Flags that work as root in a closed network: without the background-networking ones,
# Chromium's own connections are refused and page loads stall.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# The page's notebook has a kernel that is up and idle (JupyterLab exposes its app object
# with --LabApp.expose_app_in_browser).
KERNEL_IDLE = """() => {
    const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
    const k = w && w.sessionContext && w.sessionContext.session
        && w.sessionContext.session.kernel;
    return !!k && k.status === "idle" && k.connectionStatus === "connected";
}"""
LEADER = re.compile(r"S(\d+) is the leader of term (\d+)")


def find_chromium() -> str | None:
    """The Chromium binary: $RAFTLAB_CHROMIUM, Debian's, or one on the PATH."""
    candidates = [os.environ.get("RAFTLAB_CHROMIUM"), "/usr/lib/chromium/chromium"]
    candidates += [shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome")]
    return next((c for c in candidates if c and os.access(c, os.X_OK)), None)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def chromium() -> str:
    path = find_chromium()
    if path is None:
        pytest.skip(
            "no Chromium found (apt-get install chromium, or set RAFTLAB_CHROMIUM); "
            "this test never downloads a browser"
        )
    return path


@pytest.fixture
def lab(chromium: str, tmp_path: Path) -> Iterator[str]:
    """A JupyterLab server over a copy of the fixture notebook; its URL.  Always stopped."""
    work = tmp_path / "notebooks"
    work.mkdir()
    shutil.copy(NOTEBOOK, work / NOTEBOOK.name)
    port = free_port()
    env = dict(
        os.environ,
        JUPYTER_CONFIG_DIR=str(tmp_path / "config"),
        JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"),
        IPYTHONDIR=str(tmp_path / "ipy"),
        JUPYTER_PLATFORM_DIRS="1",
        MPLBACKEND="Agg",
    )
    cmd = [
        str(Path(sys.executable).parent / "jupyter"),
        "lab",
        "--no-browser",
        f"--port={port}",
        "--ip=127.0.0.1",
        "--IdentityProvider.token=",
        "--allow-root",
        "--ServerApp.password=",
        "--ServerApp.disable_check_xsrf=True",
        f"--ServerApp.root_dir={work}",
        "--LabApp.expose_app_in_browser=True",
        "--LabApp.extension_manager=readonly",
        "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        f"--LabApp.workspaces_dir={tmp_path / 'workspaces'}",
        f"--LabApp.user_settings_dir={tmp_path / 'settings'}",
    ]
    # No "get Jupyter news?" prompt over the page: decide it in the user settings.
    notify = tmp_path / "settings" / "@jupyterlab" / "apputils-extension"
    notify.mkdir(parents=True)
    (notify / "notification.jupyterlab-settings").write_text('{"fetchNews": "false"}')
    log = open(tmp_path / "jupyter.log", "w")  # noqa: SIM115 (closed in finally)
    server = subprocess.Popen(
        cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/api/status", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    "JupyterLab did not start:\n" + (tmp_path / "jupyter.log").read_text()[-3000:]
                )
            time.sleep(0.3)
        yield url
    finally:
        _stop_kernels(url)
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, 9)
            server.wait()
        log.close()


def _stop_kernels(url: str) -> None:
    """Shut down every kernel of the server (they run in sessions of their own)."""
    try:
        with urllib.request.urlopen(f"{url}/api/kernels", timeout=5) as r:
            kernels = json.load(r)
        for k in kernels:
            req = urllib.request.Request(f"{url}/api/kernels/{k['id']}", method="DELETE")
            urllib.request.urlopen(req, timeout=10).close()
    except OSError:
        pass  # the server is gone already, and its kernels with it


def shoot(page, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    page.locator(".raftlab-dashboard").first.screenshot(path=str(path))
    return path


@pytest.mark.browser
@pytest.mark.timeout(240)
def test_dashboard_in_jupyterlab_crashes_the_leader_and_a_new_one_is_named(
    chromium: str, lab: str
) -> None:
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1400})
            page.set_default_timeout(60_000)
            page.goto(f"{lab}/lab/tree/{NOTEBOOK.name}")
            # Wait for the notebook's kernel, then run every cell (Run > Run All Cells).
            page.wait_for_function(KERNEL_IDLE, timeout=90_000)
            page.evaluate(
                "() => { void window.jupyterapp.commands.execute('notebook:run-all-cells'); }"
            )

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
            expect(
                dash.get_by_role("button", name=f"restart S{leader}", exact=True)
            ).to_be_visible()
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
            final = shoot(page, "dashboard.png")
            if os.environ.get("RAFTLAB_UPDATE_DOCS"):
                (ROOT / "docs").mkdir(exist_ok=True)
                shutil.copy(final, ROOT / "docs" / "dashboard.png")
        finally:
            browser.close()
