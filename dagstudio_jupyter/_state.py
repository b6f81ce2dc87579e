"""Execution state folded from events: one rule shared by store, runner and widget."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

from .errors import DagStudioError

PHASE_TERMINAL = frozenset({"completed", "failed", "skipped", "cancelled", "cached"})
PHASE_STATUSES = frozenset({"pending", "queued", "running"}) | PHASE_TERMINAL
EXECUTION_TERMINAL = frozenset({"completed", "failed", "cancelled"})
EXECUTION_STATUSES = (
    frozenset({"pending", "running", "interrupted"}) | EXECUTION_TERMINAL
)


class SeqGapError(DagStudioError):
    """An event arrived whose `seq` skips over events not yet applied."""


def utc_now() -> str:
    """Return the current time as ISO 8601 in UTC with a trailing `Z`."""
    now = datetime.now(UTC)
    return now.isoformat(timespec="microseconds").replace("+00:00", "Z")


def new_phase_state(phase_id: str) -> dict[str, Any]:
    """Return the state of a phase that has not started."""
    return {
        "id": phase_id,
        "status": "pending",
        "attempt": 0,
        "started_at": None,
        "finished_at": None,
        "error": None,
        # The earlier execution whose result a phase shows when it did not run
        # here (reused in a derived run, or cached).
        "from_execution": None,
    }


class ExecutionState:
    """The state of one execution, advanced one event at a time.

    Replaying an execution's events in `seq` order through `apply` gives the
    same state the runner had when it emitted them.
    """

    def __init__(
        self,
        execution_id: str,
        workflow: dict[str, Any],
        *,
        owner: str | None = None,
        created_at: str | None = None,
        derived_from: dict[str, Any] | None = None,
    ) -> None:
        self.id = execution_id
        self.workflow = workflow
        self.owner = owner
        self.status = "pending"
        self.created_at = created_at or utc_now()
        self.started_at: str | None = None
        self.finished_at: str | None = None
        self.error: str | None = None
        self.last_seq = 0
        #: `{"execution_id", "mode", "phase_id"}` of the execution this one
        #: re-runs part of, or None.
        self.derived_from = copy.deepcopy(derived_from)
        self.phases: dict[str, dict[str, Any]] = {
            p["id"]: new_phase_state(p["id"]) for p in workflow.get("phases", [])
        }

    @property
    def finished(self) -> bool:
        """True once the execution reached a terminal status."""
        return self.status in EXECUTION_TERMINAL

    def apply(self, event: dict[str, Any]) -> bool:
        """Fold one event in; return False for an event already applied.

        Raises `SeqGapError` when events between `last_seq` and this one are
        missing, so a caller that follows a stream knows to refetch.
        """
        seq = event["seq"]
        if seq <= self.last_seq:
            return False
        if seq != self.last_seq + 1:
            raise SeqGapError(
                f"execution {self.id!r}: expected seq {self.last_seq + 1}, got {seq}"
            )
        self.last_seq = seq
        phase_id = event.get("phase_id")
        if phase_id is None:
            self._apply_execution_event(event)
        else:
            self._apply_phase_event(phase_id, event)
        return True

    def _apply_execution_event(self, event: dict[str, Any]) -> None:
        status = event["status"]
        self.status = status
        if status == "running":
            self.started_at = self.started_at or event["at"]
            self.finished_at = None
            self.error = None
        elif status in EXECUTION_TERMINAL:
            self.finished_at = event["at"]
            self.error = event.get("error")

    def _apply_phase_event(self, phase_id: str, event: dict[str, Any]) -> None:
        phase = self.phases.get(phase_id)
        if phase is None:
            phase = self.phases[phase_id] = new_phase_state(phase_id)
        status = event["status"]
        phase["status"] = status
        phase["attempt"] = event.get("attempt", phase["attempt"])
        phase["from_execution"] = event.get("from_execution")
        if status == "running":
            phase["started_at"] = event["at"]
            phase["finished_at"] = None
            phase["error"] = None
        elif status in PHASE_TERMINAL:
            if "started_at" in event:  # reused: the times of the earlier run
                phase["started_at"] = event["started_at"]
            phase["finished_at"] = event.get("finished_at") or event["at"]
            phase["error"] = event.get("error")
        elif status in ("pending", "queued"):
            phase["finished_at"] = None
            phase["error"] = event.get("error")

    def to_dict(self) -> dict[str, Any]:
        """Return the execution document of DESIGN.md (a deep copy)."""
        return {
            "id": self.id,
            "workflow": copy.deepcopy(self.workflow),
            "owner": self.owner,
            "status": self.status,
            "created_at": self.created_at,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "error": self.error,
            "last_seq": self.last_seq,
            "derived_from": copy.deepcopy(self.derived_from),
            "phases": [dict(p) for p in self.phases.values()],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ExecutionState:
        """Rebuild a state from an execution document."""
        state = cls(
            data["id"],
            data["workflow"],
            owner=data.get("owner"),
            created_at=data.get("created_at"),
            derived_from=data.get("derived_from"),
        )
        state.status = data.get("status", "pending")
        state.started_at = data.get("started_at")
        state.finished_at = data.get("finished_at")
        state.error = data.get("error")
        state.last_seq = data.get("last_seq", 0)
        for phase in data.get("phases", []):
            state.phases[phase["id"]] = {**new_phase_state(phase["id"]), **phase}
        return state
