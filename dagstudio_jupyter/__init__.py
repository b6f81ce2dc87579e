"""DAG Studio for Jupyter: define, run and watch workflows of phases from notebooks."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import (
    ConflictError,
    DagStudioError,
    InvalidWorkflowError,
    NotFoundError,
    PhaseTimeoutError,
    StoreError,
)
from .workflow import Phase, Workflow

if TYPE_CHECKING:
    from .client import Client, ServerRun
    from .dask_executor import DaskExecutor
    from .executors import Executor, ProcessExecutor, ThreadExecutor
    from .kernel import Run
    from .runner import Runner
    from .store import DagStore, DuckDBStore
    from .widget import DagWidget

__version__ = "0.1.0"

__all__ = [
    "Client",
    "ConflictError",
    "DagStore",
    "DagStudioError",
    "DagWidget",
    "DaskExecutor",
    "DuckDBStore",
    "Executor",
    "InvalidWorkflowError",
    "NotFoundError",
    "Phase",
    "PhaseTimeoutError",
    "ProcessExecutor",
    "Run",
    "Runner",
    "ServerRun",
    "StoreError",
    "ThreadExecutor",
    "Workflow",
    "__version__",
]

_LAZY = {
    "Client": "client",
    "ServerRun": "client",
    "DaskExecutor": "dask_executor",
    "Executor": "executors",
    "ProcessExecutor": "executors",
    "ThreadExecutor": "executors",
    "DagWidget": "widget",
    "DagStore": "store",
    "DuckDBStore": "store",
    "Run": "kernel",
    "Runner": "runner",
}


def __getattr__(name: str) -> Any:
    # The widget pulls in ipywidgets, the store DuckDB and the Dask executor
    # distributed; load them on first use
    # so `import dagstudio_jupyter` stays light for the server and the CLI.
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    from .server.app import DagStudioApp

    return [{"module": "dagstudio_jupyter.server.app", "app": DagStudioApp}]


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    """Where the prebuilt JupyterLab extension lives (`labextension develop`)."""
    return [{"src": "labextension", "dest": "dagstudio-jupyter"}]
