"""Exceptions raised by dagstudio_jupyter."""

from __future__ import annotations


class DagStudioError(Exception):
    """Base class of every error this package raises on purpose."""


class InvalidWorkflowError(DagStudioError, ValueError):
    """A workflow document or graph is not a valid DAG of phases."""


class NotFoundError(DagStudioError, KeyError):
    """An execution, phase or other named item does not exist."""

    def __str__(self) -> str:
        # KeyError quotes its argument; the message should read as a sentence.
        return str(self.args[0]) if self.args else ""


class ConflictError(DagStudioError):
    """The request does not fit the current state (e.g. deleting a running run)."""


class StoreError(DagStudioError):
    """The execution store cannot be opened or written."""


class PhaseTimeoutError(DagStudioError, TimeoutError):
    """A phase ran longer than its `timeout_s`."""
