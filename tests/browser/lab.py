"""A JupyterLab server and the page scripts the browser tests use to read it.

``Lab`` starts JupyterLab on a free localhost port over a directory of notebooks, with its
own config, runtime, settings and workspaces (nothing of the user's is read or written),
and stops it and every kernel it started.  The JavaScript snippets read JupyterLab's own
models through ``window.jupyterapp`` (``--LabApp.expose_app_in_browser``): the notebook's
cells and outputs, and the log console's entries with their levels.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

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


def find_chromium() -> str | None:
    """The Chromium binary: $RAFTLAB_CHROMIUM, Debian's, or one on the PATH."""
    candidates = [os.environ.get("RAFTLAB_CHROMIUM"), "/usr/lib/chromium/chromium"]
    candidates += [shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome")]
    return next((c for c in candidates if c and os.access(c, os.X_OK)), None)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Lab:
    """``with Lab(tmp, notebooks) as url:`` a JupyterLab serving copies of ``notebooks``."""

    def __init__(self, tmp: Path, notebooks: list[Path], extra: list[Path] = ()):
        self.tmp = tmp
        self.work = tmp / "notebooks"
        self.work.mkdir(parents=True)
        for nb in notebooks:
            shutil.copy(nb, self.work / nb.name)
        for path in extra:  # files the notebooks read, beside them as in the repository
            target = self.work / path.name
            if path.is_dir():
                shutil.copytree(path, target)
            else:
                shutil.copy(path, target)
        self.url = ""
        self.server: subprocess.Popen | None = None

    def __enter__(self) -> str:
        tmp, port = self.tmp, free_port()
        env = dict(
            os.environ,
            JUPYTER_CONFIG_DIR=str(tmp / "config"),
            JUPYTER_RUNTIME_DIR=str(tmp / "runtime"),
            IPYTHONDIR=str(tmp / "ipy"),
            JUPYTER_PLATFORM_DIRS="1",
        )
        env.pop("MPLBACKEND", None)  # the kernel picks the inline backend, as for a learner
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
            f"--ServerApp.root_dir={self.work}",
            "--LabApp.expose_app_in_browser=True",
            "--LabApp.extension_manager=readonly",
            "--LabApp.news_url=None",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            f"--LabApp.workspaces_dir={tmp / 'workspaces'}",
            f"--LabApp.user_settings_dir={tmp / 'settings'}",
        ]
        # No "get Jupyter news?" prompt over the page: decide it in the user settings.
        notify = tmp / "settings" / "@jupyterlab" / "apputils-extension"
        notify.mkdir(parents=True)
        (notify / "notification.jupyterlab-settings").write_text('{"fetchNews": "false"}')
        self.log = open(tmp / "jupyter.log", "w")  # noqa: SIM115 (closed in __exit__)
        self.server = subprocess.Popen(
            cmd, env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.url = f"http://127.0.0.1:{port}"
        try:
            self._wait_up()
        except BaseException:
            self.__exit__()
            raise
        return self.url

    def _wait_up(self) -> None:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{self.url}/api/status", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            if self.server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    "JupyterLab did not start:\n" + (self.tmp / "jupyter.log").read_text()[-3000:]
                )
            time.sleep(0.3)

    def __exit__(self, *exc) -> None:
        stop_kernels(self.url)
        server = self.server
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, 9)
            server.wait()
        self.log.close()


def stop_kernels(url: str) -> None:
    """Shut down every kernel of the server (they run in sessions of their own)."""
    try:
        with urllib.request.urlopen(f"{url}/api/kernels", timeout=5) as r:
            kernels = json.load(r)
        for k in kernels:
            req = urllib.request.Request(f"{url}/api/kernels/{k['id']}", method="DELETE")
            urllib.request.urlopen(req, timeout=10).close()
    except OSError:
        pass  # the server is gone already, and its kernels with it


# ------------------------------------------------------------------------ page scripts
# Each takes the notebook's path (relative to the server's root) and finds its panel.

_PANEL = """
    const app = window.jupyterapp;
    const panel = app && Array.from(app.shell.widgets("main")).find(
        (w) => w.context && w.context.path === path);
"""

# The notebook's kernel is up and idle.
KERNEL_IDLE = (
    "(path) => {"
    + _PANEL
    + """
    const k = panel && panel.sessionContext.session && panel.sessionContext.session.kernel;
    return !!k && k.status === "idle" && k.connectionStatus === "connected";
}"""
)

# Where Run All has got to: code cells run or not, and every output that reports a failure.
CELLS = (
    "(path) => {"
    + _PANEL
    + """
    const cells = panel.content.model.cells;
    let code = 0, run = 0, running = 0;
    const bad = [];
    for (let i = 0; i < cells.length; i++) {
        const cell = cells.get(i);
        if (cell.type !== "code") continue;
        code++;
        if (cell.executionCount !== null) run++;
        if (cell.executionState === "running") running++;
        const outputs = cell.outputs.toJSON();
        for (const o of outputs) {
            const text = o.output_type === "stream" ? [].concat(o.text).join("") : "";
            if (o.output_type === "error") {
                bad.push(`cell ${i}: ${o.ename}: ${o.evalue}`);
            } else if (o.output_type === "stream" && o.name === "stderr") {
                bad.push(`cell ${i} wrote to stderr: ${text.slice(0, 500)}`);
            } else if (text.includes("Traceback")) {
                bad.push(`cell ${i} printed a traceback: ${text.slice(0, 500)}`);
            }
        }
    }
    const k = panel.sessionContext.session && panel.sessionContext.session.kernel;
    return {code, run, running, bad, idle: !!k && k.status === "idle"};
}"""
)

# The log console's logger for the notebook: set its level, or read its entries.  The
# registry is the logconsole plugin's service; its level filters what is *recorded*, so
# it is set to the most verbose level before anything runs.
_LOGGER = (
    _PANEL
    + """
    const plugin = app.pluginRegistry._plugins.get("@jupyterlab/logconsole-extension:plugin");
    const logger = plugin.service.getLogger(path);
"""
)
SET_LOG_LEVEL = "([path, level]) => {" + _LOGGER + "logger.level = level; return logger.level; }"
LOG_ENTRIES = (
    "(path) => {"
    + _LOGGER
    + """
    const model = logger.outputAreaModel;
    const out = [];
    for (let i = 0; i < model.length; i++) {
        const e = model.get(i);
        const j = e.toJSON();
        const text = j.text !== undefined ? [].concat(j.text).join("")
            : j.data ? Object.keys(j.data).join(", ") : (j.ename || "") + " " + (j.evalue || "");
        out.push({level: e.level, type: j.output_type, text: text.slice(0, 300)});
    }
    return out;
}"""
)
CLEAR_LOG = "(path) => {" + _LOGGER + "logger.clear(); return true; }"

# Wait until the kernel has handled everything sent before, and what the page sent back in
# answer: an empty, silent execution queues behind them (the kernel handles one message at
# a time, in order, and its outputs come in order); ``rounds`` times, for the page's
# follow-up messages (an Output widget echoes its new state).  A silent execution logs
# nothing.
SETTLE = (
    "async ([path, rounds]) => {"
    + _PANEL
    + """
    const k = panel.sessionContext.session.kernel;
    for (let round = 0; round < rounds; round++) {
        await k.requestExecute({code: "", silent: true, store_history: false}).done;
        await new Promise((done) => setTimeout(done, 100));
    }
    return true;
}"""
)
