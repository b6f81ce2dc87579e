"""How each phase kind runs: python callables, shell commands, scripts, no-ops."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import inspect
import json
import os
import signal
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from .errors import DagStudioError

if TYPE_CHECKING:
    from .executors import Executor
    from .workflow import Phase

OUTPUT_TAIL_BYTES = 4096


class PhaseFailed(DagStudioError):
    """A phase's own code or command reported failure."""

    def __init__(self, message: str, output: str | None = None) -> None:
        super().__init__(message)
        self.output = output


def resolve_ref(ref: str) -> Callable[..., Any]:
    """Import `package.module:function` and return the callable."""
    module_name, _, attr_path = ref.partition(":")
    try:
        target: Any = importlib.import_module(module_name)
        for attr in attr_path.split("."):
            target = getattr(target, attr)
    except (ImportError, AttributeError) as exc:
        raise PhaseFailed(
            f"cannot import {ref!r}: {type(exc).__name__}: {exc}"
        ) from exc
    if not callable(target):
        raise PhaseFailed(f"{ref!r} is not callable")
    return cast("Callable[..., Any]", target)


def python_kwargs(
    func: Callable[..., Any],
    phase: Phase,
    upstream: dict[str, Any],
    context: dict[str, Any],
) -> dict[str, Any]:
    """Pick the keyword arguments `func` declares out of what a phase offers.

    Offered: each direct upstream phase's result under its id, then the
    phase's params (which win over a result of the same name), then the
    context (`idempotency_key`, `attempt`, `upstream`, `params`).
    """
    offered = {**upstream, **phase.params, **context}
    try:
        parameters = inspect.signature(func).parameters.values()
    except (TypeError, ValueError):
        return {}
    if any(p.kind is p.VAR_KEYWORD for p in parameters):
        return offered
    return {p.name: offered[p.name] for p in parameters if p.name in offered}


async def run_phase_code(
    phase: Phase,
    executor: Executor,
    upstream: dict[str, Any],
    idempotency_key: str,
    attempt: int,
) -> tuple[Any, str | None]:
    """Run one attempt of a phase; return its result and the tail of its output."""
    context = {
        "idempotency_key": idempotency_key,
        "attempt": attempt,
        "upstream": dict(upstream),
        "params": dict(phase.params),
    }
    if phase.kind == "noop":
        return None, None
    if phase.kind == "python":
        func = phase.func or resolve_ref(phase.ref or "")
        result = await executor.call(
            func, python_kwargs(func, phase, upstream, context)
        )
        return result, None
    if phase.kind in ("shell", "script"):
        argv, shell = _command_line(phase)
        env = _phase_env(phase, idempotency_key, attempt)
        output = await _run_process(argv, shell=shell, env=env, cwd=phase.cwd)
        return None, output
    raise PhaseFailed(
        f"phase {phase.id!r}: kind {phase.kind!r} cannot run in this process"
    )


def _command_line(phase: Phase) -> tuple[list[str] | str, bool]:
    if phase.kind == "script":
        path = phase.path or ""
        if path.endswith(".py"):
            return [sys.executable, path], False
        return [path], False
    if isinstance(phase.command, list):
        return list(phase.command), False
    return phase.command or "", True


def _phase_env(phase: Phase, idempotency_key: str, attempt: int) -> dict[str, str]:
    env = dict(os.environ)
    env.update(phase.env)
    env["DAGSTUDIO_IDEMPOTENCY_KEY"] = idempotency_key
    env["DAGSTUDIO_ATTEMPT"] = str(attempt)
    env["DAGSTUDIO_PHASE_ID"] = phase.id
    env["DAGSTUDIO_PARAMS"] = json.dumps(phase.params, default=str)
    return env


async def _run_process(
    argv: list[str] | str, *, shell: bool, env: dict[str, str], cwd: str | None
) -> str:
    options: dict[str, Any] = {
        "stdout": asyncio.subprocess.PIPE,
        "stderr": asyncio.subprocess.STDOUT,
        "env": env,
        "cwd": cwd,
        # Own process group, so a timeout or cancel stops the children too.
        "start_new_session": True,
    }
    try:
        if shell:
            assert isinstance(argv, str)
            process = await asyncio.create_subprocess_shell(argv, **options)
        else:
            process = await asyncio.create_subprocess_exec(*argv, **options)
    except OSError as exc:
        raise PhaseFailed(f"cannot start {argv!r}: {exc}") from exc
    tail = bytearray()
    try:
        assert process.stdout is not None
        while chunk := await process.stdout.read(65536):
            tail += chunk
            del tail[:-OUTPUT_TAIL_BYTES]
        code = await process.wait()
    except BaseException:
        _kill_group(process.pid)
        await process.wait()
        raise
    output = tail.decode("utf-8", errors="replace")
    if code != 0:
        last = output.strip().splitlines()[-1:] or [""]
        raise PhaseFailed(f"command exited with status {code}: {last[0][:500]}", output)
    return output


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)
