"""The Jupyter server extension: configuration, the store, routes and recovery."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

from jupyter_core.paths import jupyter_data_dir
from jupyter_server.extension.application import ExtensionApp
from traitlets import Bool, Enum, Float, Int, List, Type, Unicode, default, validate

from ..errors import StoreError
from ..executors import EXECUTORS
from ..store import DagStore, DuckDBStore
from .auth import TokenAuthority, load_or_create_secret
from .handlers import ROUTES, UnknownRouteHandler
from .manager import ExecutionManager
from .recovery import recover_executions
from .ws import AUDIT_LOGGER, DEFAULT_AUTH_TIMEOUT_S, LiveHandler

API = "dagstudio/api"


class DagStudioApp(ExtensionApp):
    """DAG Studio's server extension: REST and live endpoints over a DuckDB store."""

    name = "dagstudio_jupyter"
    load_other_extensions = True

    store_path = Unicode(
        config=True,
        help="DuckDB file of executions and events. Default: "
        "dagstudio/executions.duckdb under the Jupyter data directory.",
    )
    store_class = Type(
        default_value=DuckDBStore,
        klass=DagStore,
        config=True,
        help="The store class; it is given the store path.",
    )
    jwt_secret = Unicode(
        None,
        allow_none=True,
        config=True,
        help="HMAC secret of live-channel tokens (HS256). Default: the JWT_SECRET_KEY "
        "environment variable, else a random secret kept in dagstudio/jwt_secret under "
        "the Jupyter data directory, readable by its owner only.",
    )
    jwt_public_key = Unicode(
        None,
        allow_none=True,
        config=True,
        help="PEM public key (or a path to one) to accept tokens another service signs "
        "with RS256 or ES256.",
    )
    jwt_algorithms = List(
        Unicode(),
        default_value=["HS256"],
        config=True,
        help="Accepted JWT algorithms (pinned): HS256, and RS256/ES256 with a "
        "public key.",
    )
    jwt_issuer = Unicode("dagstudio", config=True, help="Required `iss` claim.")
    jwt_audience = Unicode("dagstudio-live", config=True, help="Required `aud` claim.")
    token_lifetime_s = Int(900, config=True, help="Seconds a live-channel token lives.")
    max_parallel = Int(4, config=True, help="Phases of one execution run at once.")
    executor = Enum(
        list(EXECUTORS),
        "thread",
        config=True,
        help="Where python phases run: 'thread' (a thread pool of the server), "
        "'process' (a pool of worker processes, for CPU-bound phases; functions "
        "must be importable) or 'dask' (a Dask cluster: see dask_address; needs "
        "the distributed package). Shell, script and notebook phases always run "
        "as processes of the server.",
    )
    dask_address = Unicode(
        "",
        config=True,
        help="With executor 'dask': the scheduler address, such as "
        "tcp://127.0.0.1:8786. Empty: a local cluster is started for the server "
        "on the first python phase and closed with the server.",
    )
    recover = Bool(True, config=True, help="Resume running executions at start-up.")
    max_body_bytes = Int(
        1024 * 1024, config=True, help="Largest POST body (413 above)."
    )
    ping_interval_s = Float(
        20.0, config=True, help="Seconds between live-channel pings."
    )
    auth_timeout_s = Float(
        DEFAULT_AUTH_TIMEOUT_S,
        config=True,
        help="Seconds a live-channel connection may take to send its token; "
        "closed with 4001 after.",
    )
    owner_mode = Enum(
        ["auto", "user", "server"],
        "auto",
        config=True,
        help="Who owns an execution. 'user': the Jupyter user name (servers with "
        "named users, such as JupyterHub's). 'server': the account running the "
        "server, for every request (a single-user server, where each browser is "
        "an anonymous user with a random name). 'auto': 'server' with Jupyter's "
        "built-in identity providers, 'user' otherwise.",
    )

    @default("store_path")
    def _default_store_path(self) -> str:
        return str(Path(jupyter_data_dir()) / "dagstudio" / "executions.duckdb")

    @default("jwt_secret")
    def _default_jwt_secret(self) -> str | None:
        return os.environ.get("JWT_SECRET_KEY") or None

    @validate("auth_timeout_s")
    def _validate_auth_timeout_s(self, proposal: Any) -> float:
        value = float(proposal["value"])
        if not value > 0:
            raise ValueError(
                f"DagStudioApp.auth_timeout_s must be more than 0, got {value}"
            )
        return value

    @validate("max_parallel")
    def _validate_max_parallel(self, proposal: Any) -> int:
        value = int(proposal["value"])
        if value < 1:
            raise ValueError(
                f"DagStudioApp.max_parallel must be 1 or more, got {value}"
            )
        return value

    def initialize_settings(self) -> None:
        """Open the store, build the manager and the token authority."""
        secret = self.jwt_secret
        if secret is None and "HS256" in self.jwt_algorithms:
            secret = load_or_create_secret(Path(jupyter_data_dir()) / "dagstudio")
        self.tokens = TokenAuthority(
            secret=secret,
            public_key=self.jwt_public_key,
            algorithms=list(self.jwt_algorithms),
            issuer=self.jwt_issuer,
            audience=self.jwt_audience,
            lifetime_s=self.token_lifetime_s,
        )
        store, error = self._open_store()
        root_dir = getattr(self.serverapp, "root_dir", os.getcwd())
        self.manager = ExecutionManager(
            store,
            root_dir=root_dir,
            max_parallel=self.max_parallel,
            executor=self.executor,
            dask_address=self.dask_address,
            store_error=error,
        )
        # Jupyter's request log hides query arguments named like credentials;
        # add the names a live-channel token could be sent under by mistake.
        assert self.serverapp is not None
        web_settings = self.serverapp.web_app.settings
        scrub = web_settings.setdefault("extra_log_scrub_param_keys", [])
        scrub.extend(key for key in ("jwt", "bearer") if key not in scrub)
        self._route_audit_log()
        self.settings.update(
            dagstudio_owner=self._owner_function(),
            dagstudio_manager=self.manager,
            dagstudio_tokens=self.tokens,
            dagstudio_max_body_bytes=self.max_body_bytes,
            dagstudio_ping_interval_s=self.ping_interval_s,
            dagstudio_auth_timeout_s=self.auth_timeout_s,
        )

    def _route_audit_log(self) -> None:
        """Send the audit and package lines to the server's log unless logging
        says otherwise.

        Jupyter's own logger does not propagate to the root logger, which has
        no handler in a server: left alone, INFO audit lines would be lost.
        A `dagstudio.audit` logger given handlers (for example through
        `ServerApp.logging_config`) or another parent is left as it is.
        """
        assert self.serverapp is not None
        # The package's own loggers (store, runner, manager) too: their
        # warnings and errors are what docs/operations.md says to watch.
        package = logging.getLogger("dagstudio_jupyter")
        if not package.handlers and package.parent is logging.root:
            package.parent = self.serverapp.log
        audit = logging.getLogger(AUDIT_LOGGER)
        if audit.handlers or audit.parent is not logging.root:
            return
        # The same hook-up Jupyter does for tornado's loggers.
        audit.parent = self.serverapp.log
        if audit.level == logging.NOTSET:
            audit.setLevel(logging.INFO)

    def _owner_function(self) -> Any:
        mode = self.owner_mode
        if mode == "auto":
            provider = getattr(self.serverapp, "identity_provider", None)
            builtin = type(provider).__module__.startswith("jupyter_server.auth")
            mode = "server" if builtin else "user"
        if mode == "server":
            server_owner = _account_name()
            self.log.info("DAG Studio: executions are owned by %s", server_owner)
            return lambda _user: server_owner
        return lambda user: str(user.username)

    def _open_store(self) -> tuple[DagStore | None, str | None]:
        path = Path(self.store_path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # Store classes take the path, as DuckDBStore does.
            open_store = cast("Callable[[str], DagStore]", self.store_class)
            store = open_store(str(path))
        except (StoreError, OSError) as exc:
            # Said once here; every endpoint then answers 503 with the same text.
            message = f"the execution store cannot be opened: {exc}"
            self.log.error("DAG Studio: %s", message)
            return None, message
        self.log.info("DAG Studio: executions are stored in %s", path)
        return store, None

    def initialize_handlers(self) -> None:
        """Register the REST routes and the live channel under the base URL."""
        self.handlers.extend((f"{API}/{route}", handler) for route, handler in ROUTES)
        self.handlers.append((f"{API}/live", LiveHandler))
        # Last: what no route above matches answers a JSON 404.
        self.handlers.append((f"{API}(?:/.*)?", UnknownRouteHandler))

    async def _start_jupyter_server_extension(self, serverapp: Any) -> None:
        if getattr(self, "manager", None) is None:
            return  # the extension failed to load; Jupyter logged why
        self.manager.start()
        if self.recover and self.manager.store is not None:
            await recover_executions(self.manager, self.log)

    async def stop_extension(self) -> None:
        """Stop runners (they resume at the next start) and close the store."""
        manager = getattr(self, "manager", None)
        if manager is None:
            # The extension failed to load (Jupyter logged why); nothing to stop,
            # and raising here would keep the server from exiting.
            return
        await manager.shutdown()


def _account_name() -> str:
    try:
        import getpass

        return getpass.getuser()
    except Exception:  # no name for this uid in a container: fall back to the id
        return f"uid-{os.getuid()}"
