"""Resuming, at server start-up, the executions a stop or crash left running."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .manager import ExecutionManager


async def recover_executions(
    manager: ExecutionManager, log: logging.Logger
) -> list[str]:
    """Resume every stored execution that had not finished; return their ids.

    Completed phases are kept; phases that were queued or running run again
    with `attempt` raised and the same idempotency key, so their code can tell
    a resumption from a first run. The execution's `running` event carries
    `"reason": "recovered"`.
    """
    resumed = []
    for execution_id in await manager.active_ids():
        if manager.closing:
            break
        if execution_id in manager.runners:
            continue
        try:
            execution = await manager.load(execution_id)
            await manager.resume(execution, reason="recovered")
        except Exception:
            if manager.closing:
                break
            log.exception("DAG Studio: execution %s could not be resumed", execution_id)
            continue
        resumed.append(execution_id)
    if resumed:
        log.info("DAG Studio: resumed %d execution(s) after a restart", len(resumed))
    return resumed
