"""A real `jupyter server` process with DAG Studio, and a registry of test secrets.

Every server log this module writes and every secret it makes or sees (the
Jupyter token, the JWT secret, live-channel tokens minted through `api()`)
is recorded in a registry file, so that `test_zz_log_scan.py` can check at
the end of the session that no secret reached any log. Other tests record
their own with `record_secret` and `record_log`.
"""

from __future__ import annotations

import http.cookiejar
import json
import logging
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._lab import free_port, isolated_env

# Where the registry lives; a session that spans processes sets it for all.
REGISTRY_ENV = "DAGSTUDIO_TEST_REGISTRY"
API = "dagstudio/api"
# Loggers of an in-process server (pytest-jupyter) worth keeping in a file:
# the root, and the apps' own loggers, which traitlets makes non-propagating.
SERVER_LOGGERS = ("", "ServerApp", "DagStudioApp")


def registry_path() -> Path:
    """The registry file of this test session, created on first use."""
    path = os.environ.get(REGISTRY_ENV)
    if not path:
        folder = Path(tempfile.mkdtemp(prefix="dagstudio-test-registry-"))
        path = os.environ[REGISTRY_ENV] = str(folder / "registry.jsonl")
    registry = Path(path)
    if not registry.exists():
        registry.parent.mkdir(parents=True, exist_ok=True)
        registry.touch(mode=0o600)
    return registry


def _record(entry: dict[str, str]) -> None:
    with registry_path().open("a", encoding="utf-8") as file:
        file.write(json.dumps(entry) + "\n")


def record_secret(value: str, label: str = "secret") -> None:
    """Remember a secret that must never appear in a log; `label` names its kind."""
    if value:
        _record({"kind": "secret", "value": value, "label": label})


def record_log(path: str | os.PathLike[str]) -> None:
    """Remember a log file to be scanned at the end of the session."""
    _record({"kind": "log", "value": str(Path(path).resolve())})


def recorded() -> tuple[dict[str, str], set[Path]]:
    """The secrets (value: label) and log files recorded so far in this session."""
    found: dict[str, str] = {}
    logs: set[Path] = set()
    path = os.environ.get(REGISTRY_ENV)
    if not path or not Path(path).exists():
        return found, logs
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        entry = json.loads(line)
        if entry["kind"] == "secret":
            found[entry["value"]] = entry.get("label", "secret")
        else:
            logs.add(Path(entry["value"]))
    return found, logs


def forget_recorded() -> None:
    """Delete the registry file; the next record starts a new one."""
    path = os.environ.pop(REGISTRY_ENV, None)
    if path:
        Path(path).unlink(missing_ok=True)
        with suppress(OSError):  # only the folder made for it, when empty
            Path(path).parent.rmdir()


@contextmanager
def process_logs_to(path: Path, level: int = logging.DEBUG) -> Iterator[Path]:
    """Copy the log records of this process (an in-process server) into `path`.

    The file is recorded for the scan. The `ServerApp` and `DagStudioApp`
    loggers do not propagate, so each gets the handler of its own.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
    handler.setLevel(level)
    loggers = [logging.getLogger(name) for name in SERVER_LOGGERS]
    for logger in loggers:
        logger.addHandler(handler)
    record_log(path)
    try:
        yield path
    finally:
        for logger in loggers:
            logger.removeHandler(handler)
        handler.close()


@dataclass
class DagServer:
    """A `jupyter server` subprocess on 127.0.0.1 with DAG Studio enabled."""

    url: str
    token: str
    jwt_secret: str
    root_dir: Path
    store_path: Path
    log_path: Path
    process: subprocess.Popen[bytes]
    minted: list[str] = field(default_factory=list)
    # Jupyter gives each token-only request a new anonymous user; its login
    # cookie keeps one identity, as in a browser. The cookie's name holds the
    # port, so a restarted server keeps the identity on the same port only.
    cookies: http.cookiejar.CookieJar = field(default_factory=http.cookiejar.CookieJar)

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1].strip("/"))

    @property
    def live_url(self) -> str:
        """The live channel's WebSocket URL, without any credential."""
        return f"ws://127.0.0.1:{self.port}/{API}/live"

    def api(
        self, method: str, path: str, body: Any = None, timeout: float = 10
    ) -> tuple[int, Any]:
        """Call `<base>/<path>` with the Jupyter token; return (status, JSON).

        The body is None when empty and the text when it is not JSON.

        A live-channel token minted through `POST dagstudio/api/token` is
        recorded as a secret.
        """
        data = None if body is None else json.dumps(body).encode()
        if data is None and method in ("POST", "PUT", "PATCH"):
            data = b""
        request = urllib.request.Request(
            self.url + path.lstrip("/"),
            data=data,
            method=method,
            headers={
                "Authorization": f"token {self.token}",
                "Content-Type": "application/json",
            },
        )
        opener = urllib.request.build_opener(
            urllib.request.ProxyHandler({}),  # 127.0.0.1 only, whatever the env says
            urllib.request.HTTPCookieProcessor(self.cookies),
        )
        try:
            with opener.open(request, timeout=timeout) as response:
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as exc:
            status, raw = exc.code, exc.read()
        try:
            payload = json.loads(raw) if raw.strip() else None
        except ValueError:  # not every answer is JSON, such as a 400 from tornado
            payload = raw.decode("utf-8", errors="replace")
        if (
            method == "POST"
            and path.strip("/") == f"{API}/token"
            and isinstance(payload, dict)
            and isinstance(payload.get("token"), str)
        ):
            record_secret(payload["token"], "live-channel token")
            self.minted.append(payload["token"])
        return status, payload

    def kill(self) -> None:
        """SIGKILL the server, as a crash would, and reap it."""
        if self.process.poll() is None:
            os.kill(self.pid, signal.SIGKILL)
        self.process.wait()

    def stop(self, timeout: float = 30) -> int:
        """SIGTERM the server and wait for it to exit; SIGKILL it past `timeout`."""
        if self.process.poll() is None:
            os.kill(self.pid, signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise

    def log_text(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")


def server_command(port: int, root_dir: Path, *options: str) -> list[str]:
    """The command line of a `jupyter server` on 127.0.0.1:`port` alone."""
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
        *options,
    ]
    if os.geteuid() == 0:
        command.append("--allow-root")
    return command


def start_server(
    home: Path,
    *,
    root_dir: Path,
    store_path: Path,
    log_path: Path | None = None,
    token: str | None = None,
    jwt_secret: str | None = None,
    port: int | None = None,
    cookies: http.cookiejar.CookieJar | None = None,
    config: dict[str, dict[str, Any]] | None = None,
    debug: bool = False,
    timeout: float = 60,
) -> DagServer:
    """Start `python -m jupyter server` with its Jupyter dirs under `home`.

    `config` is merged into the server's config file (for example
    `{"DagStudioApp": {"max_parallel": 8}}`). The output is appended to
    `log_path` (default `home/server.log`), so a restarted server keeps one
    log. To restart a server as the same Jupyter user, pass its `token`,
    `jwt_secret`, `port` and `cookies`. Returns once `api/status` and
    `dagstudio/api/executions` answer.
    """
    token = token or secrets.token_urlsafe(48)
    jwt_secret = jwt_secret or secrets.token_urlsafe(48)
    record_secret(token, "Jupyter token")
    record_secret(jwt_secret, "JWT secret")
    log_path = log_path or home / "server.log"
    record_log(log_path)
    env = isolated_env(home, token)
    env["JWT_SECRET_KEY"] = jwt_secret
    _write_config(Path(env["JUPYTER_CONFIG_DIR"]), store_path, config or {})
    root_dir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    command = server_command(port, root_dir)
    if debug:
        command.append("--debug")
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            command,
            env=env,
            cwd=home,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    server = DagServer(
        f"http://127.0.0.1:{port}/",
        token,
        jwt_secret,
        root_dir,
        store_path,
        log_path,
        process,
    )
    if cookies is not None:
        server.cookies = cookies
    try:
        _wait_until_ready(server, timeout)
    except BaseException:
        server.kill()
        raise
    return server


@contextmanager
def running_server(home: Path, **options: Any) -> Iterator[DagServer]:
    """`start_server`, stopped (SIGTERM, then SIGKILL) when the block ends."""
    server = start_server(home, **options)
    try:
        yield server
    finally:
        if server.process.poll() is None:
            with suppress(subprocess.TimeoutExpired):
                server.stop(timeout=20)


def _write_config(
    config_dir: Path, store_path: Path, extra: dict[str, dict[str, Any]]
) -> None:
    config: dict[str, dict[str, Any]] = {
        "ServerApp": {
            # Only what the tests need: no lab assets, no language servers.
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


def _wait_until_ready(server: DagServer, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(
                f"jupyter server exited with {server.process.returncode}:\n"
                f"{server.log_text()[-4000:]}"
            )
        try:
            status, _ = server.api("GET", "api/status", timeout=2)
            if status == 200:
                status, body = server.api("GET", f"{API}/executions", timeout=5)
                if status == 200:
                    return
                last = f"{API}/executions answered {status}: {body}"
        except OSError as exc:
            last = f"{type(exc).__name__}: {exc}"
        time.sleep(0.1)
    raise RuntimeError(
        f"jupyter server not ready after {timeout} s ({last}):\n"
        f"{server.log_text()[-4000:]}"
    )
