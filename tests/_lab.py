"""A real JupyterLab server and Debian's chromium, for tests of what people see."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
OFFLINE_FLAGS = [
    "--LabApp.extension_manager=readonly",
    "--LabApp.news_url=None",
    "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
]


@dataclass
class Lab:
    """A running `jupyter lab` process on 127.0.0.1."""

    url: str
    token: str
    root_dir: Path
    log_path: Path
    process: subprocess.Popen[bytes]

    def page_url(self, path: str) -> str:
        return f"{self.url}{path}?token={self.token}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def isolated_env(home: Path, token: str) -> dict[str, str]:
    """Environment with every Jupyter directory inside `home`."""
    env = dict(os.environ)
    for name in (
        "JUPYTER_CONFIG_DIR",
        "JUPYTER_DATA_DIR",
        "JUPYTER_RUNTIME_DIR",
        "JUPYTERLAB_SETTINGS_DIR",
        "JUPYTERLAB_WORKSPACES_DIR",
        "IPYTHONDIR",
    ):
        path = home / name.lower()
        path.mkdir(parents=True, exist_ok=True)
        env[name] = str(path)
    env["JUPYTER_TOKEN"] = token
    env["JUPYTER_PLATFORM_DIRS"] = "1"
    # The news and update prompts would try hosts this machine cannot reach.
    notification = home / "jupyterlab_settings_dir/@jupyterlab/apputils-extension"
    notification.mkdir(parents=True, exist_ok=True)
    (notification / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False})
    )
    return env


@contextmanager
def running_lab(
    home: Path, notebooks: list[Path], base_url: str = "/"
) -> Iterator[Lab]:
    """Start JupyterLab with copies of `notebooks`; stop it on exit.

    `base_url` is the server's path prefix, as JupyterHub gives each user
    (for example "/user/someone/").
    """
    root = home / "root"
    root.mkdir(parents=True)
    for notebook in notebooks:
        shutil.copy(notebook, root / notebook.name)
    token = secrets.token_hex(16)
    port = free_port()
    log_path = home / "jupyter.log"
    command = [
        sys.executable,
        "-m",
        "jupyter",
        "lab",
        "--no-browser",
        "--ip=127.0.0.1",
        f"--port={port}",
        "--ServerApp.port_retries=0",
        f"--ServerApp.root_dir={root}",
        f"--ServerApp.base_url={base_url}",
        "--LabApp.expose_app_in_browser=True",
        *OFFLINE_FLAGS,
    ]
    if os.geteuid() == 0:
        command.append("--allow-root")
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            command, env=isolated_env(home, token), stdout=log, stderr=subprocess.STDOUT
        )
    lab = Lab(f"http://127.0.0.1:{port}{base_url}", token, root, log_path, process)
    try:
        wait_until_up(lab)
        yield lab
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_until_up(lab: Lab, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    request = urllib.request.Request(
        f"{lab.url}api/status", headers={"Authorization": f"token {lab.token}"}
    )
    while time.monotonic() < deadline:
        if lab.process.poll() is not None:
            raise RuntimeError(
                f"jupyter lab exited:\n{lab.log_path.read_text()[-3000:]}"
            )
        try:
            with urllib.request.urlopen(request, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(
        f"jupyter lab did not start:\n{lab.log_path.read_text()[-3000:]}"
    )


LOOPBACK = ("http://127.0.0.1", "ws://127.0.0.1", "data:", "blob:")
OUTPUT = Path(__file__).resolve().parent.parent / "test-output"


async def only_loopback(route: Any) -> None:
    """Playwright route handler: let requests to 127.0.0.1 through, abort the rest."""
    if route.request.url.startswith(LOOPBACK):
        await route.continue_()
    else:
        await route.abort()


def only_loopback_sync(route: Any) -> None:
    """The same for Playwright's sync API."""
    if route.request.url.startswith(LOOPBACK):
        route.continue_()
    else:
        route.abort()


@asynccontextmanager
async def browser_page(name: str) -> AsyncIterator[Any]:
    """A page of Debian's chromium that may reach 127.0.0.1 only.

    Playwright's async API, on the test's own event loop: its sync API keeps
    a loop of its own on the main thread, which pytest-jupyter's per-test
    loop then closes. A screenshot of the last state is kept in test-output/.
    """
    if shutil.which(CHROMIUM) is None:
        raise RuntimeError(f"{CHROMIUM} is missing; `make install` installs it")
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS
        )
        try:
            viewport = {"width": 1400, "height": 1000}
            context = await browser.new_context(viewport=viewport)
            await context.route("**/*", only_loopback)
            page = await context.new_page()
            try:
                yield page
            finally:
                OUTPUT.mkdir(exist_ok=True)
                await page.screenshot(path=str(OUTPUT / f"{name}-last.png"))
        finally:
            await browser.close()
