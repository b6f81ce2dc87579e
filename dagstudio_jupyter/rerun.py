"""Derived runs: one phase, a phase and its downstream, or the rest of a failed run.

A derived run is a new execution of an earlier execution's workflow. Its
selected phases run; every other phase that completed in the earlier run
keeps that status and result (`from_execution` names the run it comes
from), and the rest are `skipped` as not part of this run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ._cache import phase_fingerprint
from ._json import short_repr
from .errors import ConflictError, DagStudioError
from .workflow import Workflow

MODES = ("phase", "downstream", "resume")
DONE = frozenset({"completed", "cached"})
NOT_SELECTED = "not part of this run"


class RerunError(DagStudioError, ValueError):
    """A re-run that cannot be made from this execution (a 400 on the server)."""


@dataclass
class RerunPlan:
    """What a derived run does with each phase."""

    source_id: str
    mode: str
    phase_id: str | None
    selected: frozenset[str]
    #: Phases taken from the source: their status, attempt and times there.
    reused: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: Results of reused phases, where the source has them.
    results: dict[str, Any] = field(default_factory=dict)

    def derived_from(self) -> dict[str, Any]:
        """The `derived_from` field of the new execution."""
        return {
            "execution_id": self.source_id,
            "mode": self.mode,
            "phase_id": self.phase_id,
        }


def plan_rerun(
    workflow: Workflow,
    source: dict[str, Any],
    results: dict[str, Any],
    mode: str,
    phase_id: str | None = None,
    before: Workflow | None = None,
) -> RerunPlan:
    """Plan a derived run of `source` (an execution document) or say why not.

    `results` are the source's results by phase id, as far as they are known
    (a server keeps JSON results up to 64 KiB). `before`, the workflow the
    source ran when it is at hand (a kernel run's), lets a resume see changed
    code too. Raises `RerunError` for a request that cannot work and
    `ConflictError` while the source runs or when there is nothing to resume.
    """
    source_id = source["id"]
    if mode not in MODES:
        raise RerunError(
            f"mode must be one of {', '.join(MODES)}, got {short_repr(mode)}"
        )
    status = source.get("status")
    if status not in ("completed", "failed", "cancelled"):
        raise ConflictError(
            f"execution {source_id!r} is {status}; wait for it to finish or cancel"
            " it before running part of it again"
        )
    states = {phase["id"]: phase for phase in source.get("phases", [])}
    if set(states) != set(workflow.phases):
        differ = sorted(set(states) ^ set(workflow.phases))
        raise RerunError(
            f"the workflow's phases differ from those of execution {source_id!r}:"
            f" {differ}; start a new run instead"
        )
    if mode == "resume":
        if phase_id is not None:
            raise RerunError("resume takes no phase_id: it runs what did not complete")
        if status == "completed":
            raise ConflictError(
                f"execution {source_id!r} completed; there is nothing to resume"
            )
        selected = {pid for pid, p in states.items() if p["status"] not in DONE}
        # An edited workflow: a phase whose definition changed runs again,
        # with all below it, though it completed.
        for pid in _changed(workflow, source, before):
            selected |= {pid} | workflow.downstream(pid)
    else:
        if not isinstance(phase_id, str) or phase_id not in workflow.phases:
            raise RerunError(
                "phase_id must name a phase of the workflow, got"
                f" {short_repr(phase_id)}"
            )
        selected = {phase_id}
        if mode == "downstream":
            selected |= workflow.downstream(phase_id)
    _check_upstream(workflow, states, results, selected, source_id)
    reused = {
        pid: {
            **{
                key: states[pid].get(key)
                for key in ("status", "attempt", "started_at", "finished_at")
            },
            # The run that computed the result: the source, or the one the
            # source itself took it from (cached there, or reused).
            "from_execution": states[pid].get("from_execution") or source_id,
        }
        for pid in workflow.phases
        if pid not in selected and states[pid]["status"] in DONE
    }
    return RerunPlan(
        source_id,
        mode,
        phase_id,
        frozenset(selected),
        reused,
        {pid: results[pid] for pid in reused if pid in results},
    )


def _changed(
    workflow: Workflow, source: dict[str, Any], before: Workflow | None
) -> list[str]:
    """Phases defined otherwise than in the run of the source execution.

    With the source's own workflow at hand, their content fingerprints are
    compared (code and bound values included, as the cache does); else the
    stored documents, which hold no code of callables.
    """
    if before is not None:
        return [
            pid
            for pid, phase in workflow.phases.items()
            if pid in before.phases
            and phase is not before.phases[pid]
            and phase_fingerprint(phase) != phase_fingerprint(before.phases[pid])
        ]
    stored = {
        phase.get("id"): phase
        for phase in source.get("workflow", {}).get("phases", [])
        if isinstance(phase, dict)
    }
    return [
        pid
        for pid, phase in workflow.phases.items()
        if pid in stored and phase.to_dict() != stored[pid]
    ]


def _check_upstream(
    workflow: Workflow,
    states: dict[str, dict[str, Any]],
    results: dict[str, Any],
    selected: set[str],
    source_id: str,
) -> None:
    """Each selected phase's upstream outside the selection must have its result."""
    for pid in workflow.topological_order():
        if pid not in selected:
            continue
        phase = workflow.phases[pid]
        for dep in phase.after:
            if dep in selected:
                continue
            if states[dep]["status"] not in DONE:
                raise RerunError(
                    f"phase {pid!r} needs upstream phase {dep!r}, which did not"
                    f" complete in execution {source_id!r} (it is"
                    f" {states[dep]['status']}); run {dep!r} and downstream, or"
                    " resume from the failure"
                )
            if phase.kind == "python" and dep not in results:
                raise RerunError(
                    f"phase {pid!r} needs the result of upstream phase {dep!r},"
                    f" which execution {source_id!r} did not keep (a server keeps"
                    " JSON results up to 64 KiB; a kernel run, what it still holds);"
                    f" run {dep!r} and downstream instead"
                )
