"""A `jupyter server` subprocess with DAG Studio on 127.0.0.1, for the benchmarks.

Every Jupyter directory lives under a home folder the caller owns (and
removes); the server gets a random Jupyter token and JWT secret through its
environment, listens on a free port and writes its log to `home/server.log`.
"""

from __future__ import annotations

import http.client
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

API = "dagstudio/api"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class BenchServer:
    """A running `jupyter server` process and how to call it."""

    port: int
    token: str
    root_dir: Path
    store_path: Path
    log_path: Path
    process: subprocess.Popen[bytes]
    # Wall-clock time just before the process was spawned.
    spawned_at: float

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def live_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/{API}/live"

    def connection(self, timeout: float = 30) -> http.client.HTTPConnection:
        """A keep-alive HTTP connection to the server, for one thread."""
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def api(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        connection: http.client.HTTPConnection | None = None,
        timeout: float = 30,
    ) -> tuple[int, Any]:
        """Call `/<path>` with the Jupyter token; return (status, JSON or None)."""
        own = connection is None
        conn = connection or self.connection(timeout)
        data = json.dumps(body).encode() if body is not None else b""
        headers = {
            "Authorization": f"token {self.token}",
            "Content-Type": "application/json",
        }
        try:
            conn.request(method, "/" + path.lstrip("/"), body=data, headers=headers)
            response = conn.getresponse()
            raw = response.read()
        finally:
            if own:
                conn.close()
        try:
            payload = json.loads(raw) if raw.strip() else None
        except ValueError:
            payload = raw.decode("utf-8", errors="replace")
        return response.status, payload

    def live_token(self) -> str:
        """A live-channel JWT minted by the server for its user."""
        status, body = self.api("POST", f"{API}/token")
        if status != 200:
            raise RuntimeError(f"POST {API}/token answered {status}: {body}")
        return str(body["token"])

    def wait_ready(self, timeout: float = 60, poll_s: float = 0.02) -> None:
        """Return once `dagstudio/api/executions` answers 200."""
        deadline = time.monotonic() + timeout
        last = "no answer"
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"jupyter server exited with {self.process.returncode}:\n"
                    f"{self.log_tail()}"
                )
            try:
                status, body = self.api("GET", f"{API}/executions?limit=1", timeout=5)
                if status == 200:
                    return
                last = f"{status}: {body}"
            except OSError as exc:
                last = f"{type(exc).__name__}: {exc}"
            time.sleep(poll_s)
        raise RuntimeError(
            f"jupyter server not ready after {timeout} s ({last}):\n{self.log_tail()}"
        )

    def kill(self) -> None:
        """SIGKILL the server, as a crash would, and reap it."""
        if self.process.poll() is None:
            os.kill(self.pid, signal.SIGKILL)
        self.process.wait()

    def stop(self, timeout: float = 30) -> None:
        """SIGTERM the server; SIGKILL it when it has not exited after `timeout`."""
        if self.process.poll() is None:
            os.kill(self.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")[-chars:]
        except OSError:
            return "(no log)"


def start_server(
    home: Path,
    *,
    root_dir: Path,
    store_path: Path,
    config: dict[str, dict[str, Any]] | None = None,
    wait: bool = True,
) -> BenchServer:
    """Spawn `python -m jupyter server` with its dirs under `home`.

    `config` is merged into the config file (such as
    `{"DagStudioApp": {"max_parallel": 8}}`). With `wait`, returns once the
    REST API answers; otherwise right after the spawn.
    """
    token = secrets.token_urlsafe(32)
    env = _isolated_env(home, token)
    env["JWT_SECRET_KEY"] = secrets.token_urlsafe(48)
    _write_config(Path(env["JUPYTER_CONFIG_DIR"]), store_path, config or {})
    root_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "jupyter",
        "server",
        "--no-browser",
        "--ip=127.0.0.1",
        f"--port={port}",
        "--ServerApp.port_retries=0",
        f"--ServerApp.root_dir={root_dir}",
    ]
    if os.geteuid() == 0:
        command.append("--allow-root")
    log_path = home / "server.log"
    with open(log_path, "ab") as log:
        spawned_at = time.time()
        process = subprocess.Popen(
            command,
            env=env,
            cwd=home,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    server = BenchServer(
        port, token, root_dir, store_path, log_path, process, spawned_at
    )
    if wait:
        try:
            server.wait_ready()
        except BaseException:
            server.kill()
            raise
    return server


def _isolated_env(home: Path, token: str) -> dict[str, str]:
    env = dict(os.environ)
    for name in (
        "JUPYTER_CONFIG_DIR",
        "JUPYTER_DATA_DIR",
        "JUPYTER_RUNTIME_DIR",
        "IPYTHONDIR",
    ):
        path = home / name.lower()
        path.mkdir(parents=True, exist_ok=True)
        env[name] = str(path)
    env["JUPYTER_TOKEN"] = token
    env["JUPYTER_PLATFORM_DIRS"] = "1"
    # Whatever proxy the environment names, the server talks to no one.
    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        env.pop(name, None)
    return env


def _write_config(
    config_dir: Path, store_path: Path, extra: dict[str, dict[str, Any]]
) -> None:
    config: dict[str, dict[str, Any]] = {
        "ServerApp": {
            # Only DAG Studio: no lab assets or language servers to load.
            "jpserver_extensions": {
                "dagstudio_jupyter": True,
                "jupyterlab": False,
                "jupyter_lsp": False,
                "notebook_shim": False,
            },
        },
        "DagStudioApp": {"store_path": str(store_path)},
    }
    for section, values in extra.items():
        config.setdefault(section, {}).update(values)
    config_dir.mkdir(parents=True, exist_ok=True)
    path = config_dir / "jupyter_server_config.json"
    path.write_text(json.dumps(config, indent=2), encoding="utf-8")
