"""How each phase kind runs: python callables, notebooks, shell commands, scripts."""

from __future__ import annotations

import ast
import asyncio
import atexit
import contextlib
import functools
import hashlib
import importlib
import inspect
import json
import keyword
import os
import re
import resource
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from .errors import DagStudioError

if TYPE_CHECKING:
    from .executors import Executor
    from .workflow import Phase

OUTPUT_TAIL_BYTES = 4096
# Executed copies of notebook phases go in this folder beside the notebook.
NOTEBOOK_RUNS_DIR = ".dagstudio-runs"
DEFAULT_KERNEL = "python3"
# How long a cancelled or timed-out notebook phase waits for its kernel to stop.
KERNEL_STOP_WAIT_S = 15.0
# How long a killed phase process may take to be reaped before its pipes close.
REAP_WAIT_S = 2.0


class PhaseFailed(DagStudioError):
    """A phase's own code or command reported failure.

    `extra` holds keys meant for the phase's `failed` event, such as the
    `executed_path` of a notebook phase.
    """

    def __init__(
        self,
        message: str,
        output: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.output = output
        self.extra = dict(extra or {})


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
        output = await _run_process(
            argv,
            shell=shell,
            env=env,
            cwd=phase.cwd,
            memory_limit_mb=phase.memory_limit_mb,
        )
        return None, output
    if phase.kind == "notebook":
        return await run_notebook(phase, idempotency_key, attempt)
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
    argv: list[str] | str,
    *,
    shell: bool,
    env: dict[str, str],
    cwd: str | None,
    memory_limit_mb: int | None = None,
) -> str:
    """Run a command to its end; return the tail of its output.

    With `memory_limit_mb`, the process and each child it starts may use that
    much address space (RLIMIT_AS): past it, allocations fail and the command
    usually exits with an out-of-memory error. Known limitation: it limits
    virtual memory, not resident memory, so programs that reserve much more
    than they use (a JVM, Go programs) need a limit well above their real
    use; and it counts per process, not for the process group as a whole.
    """
    options: dict[str, Any] = {
        "stdout": asyncio.subprocess.PIPE,
        "stderr": asyncio.subprocess.STDOUT,
        "env": env,
        "cwd": cwd,
        # Own process group, so a timeout or cancel stops the children too.
        "start_new_session": True,
        "preexec_fn": functools.partial(_prepare_child, memory_limit_mb),
    }
    if shell:
        assert isinstance(argv, str)
        starting = asyncio.ensure_future(
            asyncio.create_subprocess_shell(argv, **options)
        )
    else:
        starting = asyncio.ensure_future(
            asyncio.create_subprocess_exec(*argv, **options)
        )
    try:
        # Shielded: a cancel or timeout that lands while the process starts must
        # still find the process, to stop it.
        process = await asyncio.shield(starting)
    except asyncio.CancelledError:
        with contextlib.suppress(Exception):
            started = await starting
            _kill_group(started.pid)
            await started.wait()
        raise
    except OSError as exc:
        note = _memory_note(memory_limit_mb, str(exc))
        raise PhaseFailed(f"cannot start {argv!r}: {exc}{note}") from exc
    tail = bytearray()
    try:
        assert process.stdout is not None
        while chunk := await process.stdout.read(65536):
            tail += chunk
            del tail[:-OUTPUT_TAIL_BYTES]
        code = await process.wait()
    except BaseException:
        _kill_group(process.pid)
        await _reap(process)
        raise
    output = _decode_tail(tail)
    if code != 0:
        last = output.strip().splitlines()[-1:]
        detail = f": {last[0][:500]}" if last else ""
        note = _memory_note(memory_limit_mb, output)
        raise PhaseFailed(f"command exited with status {code}{detail}{note}", output)
    return output


async def _reap(process: asyncio.subprocess.Process) -> None:
    """Wait for a killed process, without waiting on what escaped its group.

    A child that left the group (`setsid`) and still holds the output pipe
    would keep `wait()` from returning until it exits, so a timed-out phase
    would not end on time. Past a short wait the pipes are closed here.
    """
    try:
        await asyncio.wait_for(asyncio.shield(process.wait()), REAP_WAIT_S)
    except TimeoutError:
        # No public way to drop the pipes of an asyncio process; closing its
        # transport does, and reaps the process when it exits.
        transport = getattr(process, "_transport", None)
        if transport is not None:
            transport.close()


# Words of a process that could not get memory: Python, glibc, shells.
_OUT_OF_MEMORY = ("MemoryError", "Cannot allocate memory", "out of memory")


def _memory_note(limit_mb: int | None, output: str) -> str:
    """What a failed phase's error says of its memory limit, if it has one."""
    if limit_mb is None:
        return ""
    if any(words in output for words in _OUT_OF_MEMORY):
        return f" (out of memory: the phase's memory limit is {limit_mb} MiB)"
    return f" (the phase ran under a memory limit of {limit_mb} MiB)"


def _prepare_child(memory_limit_mb: int | None) -> None:
    """In the child, before the command starts: parent death, memory limit."""
    _die_with_parent()
    if memory_limit_mb is not None:
        limit = memory_limit_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def _decode_tail(tail: bytes | bytearray) -> str:
    """The output tail as text, without a character cut in half at its start."""
    text = tail.decode("utf-8", errors="replace")
    return text[1:] if len(tail) >= OUTPUT_TAIL_BYTES and text[:1] == "\ufffd" else text


def _die_with_parent() -> None:
    """In the child: end when the process that started it ends.

    A server killed with SIGKILL cannot stop its phases; without this they
    would run on beside the attempt that recovery starts. Linux only.
    """
    if sys.platform.startswith("linux"):
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)


async def run_notebook(
    phase: Phase, idempotency_key: str, attempt: int
) -> tuple[dict[str, Any], str]:
    """Execute a notebook phase in a fresh kernel; return its result and output tail.

    The result is `{"executed_path": ...}`, the executed copy kept in
    `.dagstudio-runs/` beside the notebook. nbclient runs on a thread of its
    own with its own event loop: its calls block, and on the main thread it
    would take over the server's SIGINT and SIGTERM handlers. When the phase
    is cancelled or times out, the kernel is shut down before this returns.
    """
    job = _NotebookJob(phase, idempotency_key, attempt)
    loop = asyncio.get_running_loop()
    done: asyncio.Future[tuple[dict[str, Any], str]] = loop.create_future()

    def work() -> None:
        try:
            outcome = job.execute()
        except BaseException as exc:  # handed to the awaiting coroutine
            _settle_threadsafe(loop, done, None, exc)
        else:
            _settle_threadsafe(loop, done, outcome, None)

    thread = threading.Thread(
        target=work, name=f"dagstudio-notebook-{phase.id}", daemon=True
    )
    thread.start()
    try:
        return await asyncio.shield(done)
    except asyncio.CancelledError:
        job.stop()
        await asyncio.wait({done}, timeout=KERNEL_STOP_WAIT_S)
        if done.done() and not done.cancelled():
            done.exception()  # retrieved: the cancellation is what counts now
        raise


def _settle_threadsafe(
    loop: asyncio.AbstractEventLoop,
    future: asyncio.Future[Any],
    result: Any,
    exc: BaseException | None,
) -> None:
    def settle() -> None:
        if future.done():
            return
        if exc is None:
            future.set_result(result)
        elif isinstance(exc, asyncio.CancelledError):
            future.set_exception(PhaseFailed("the notebook run was stopped"))
        else:
            future.set_exception(exc)

    with contextlib.suppress(RuntimeError):  # the loop has closed meanwhile
        loop.call_soon_threadsafe(settle)


class _NotebookJob:
    """One attempt of a notebook phase, run on a worker thread."""

    def __init__(self, phase: Phase, idempotency_key: str, attempt: int) -> None:
        base = Path(phase.cwd) if phase.cwd else Path.cwd()
        self.source = (base / (phase.path or "")).resolve()
        self.cwd = Path(phase.cwd) if phase.cwd else self.source.parent
        execution_id = idempotency_key.partition(":")[0]
        name = f"{self.source.stem}.{execution_id}.{_file_part(phase.id)}.{attempt}"
        self.target = self.source.parent / NOTEBOOK_RUNS_DIR / f"{name}.ipynb"
        self.values = {
            **phase.params,
            "idempotency_key": idempotency_key,
            "attempt": attempt,
        }
        self.env = _phase_env(phase, idempotency_key, attempt)
        self.phase_id = phase.id
        self._lock = threading.Lock()
        self._stopping = False
        self._client: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[Any] | None = None

    def stop(self) -> None:
        """Cancel the run from any thread; the kernel is killed, not asked."""
        with self._lock:
            self._stopping = True
            if self._client is not None:
                self._client.shutdown_kernel = "immediate"
            loop, task = self._loop, self._task
        if loop is not None and task is not None:
            with contextlib.suppress(RuntimeError):  # its loop has closed
                loop.call_soon_threadsafe(task.cancel)

    def execute(self) -> tuple[dict[str, Any], str]:
        """Run the notebook to its end, keep the executed copy, map failures."""
        nbclient, nbformat = _import_nbclient()
        notebook = self._read(nbformat)
        offset = _inject_parameters(notebook, self.values, nbformat)
        kernel_name = (notebook.metadata.get("kernelspec") or {}).get("name")
        client = nbclient.NotebookClient(
            notebook,
            kernel_name=kernel_name or DEFAULT_KERNEL,
            timeout=None,  # the phase's timeout_s applies to the whole notebook
            shutdown_kernel="graceful",
            resources={"metadata": {"path": str(self.cwd)}},
        )
        with self._lock:
            if self._stopping:
                raise asyncio.CancelledError
            self._client = client
        try:
            asyncio.run(self._run(client))
        except nbclient.exceptions.CellExecutionError as exc:
            raise self._failed(
                f"cell {_failing_cell(notebook, offset)} raised"
                f" {exc.ename}: {exc.evalue}",
                notebook,
            ) from exc
        except nbclient.exceptions.DeadKernelError as exc:
            raise self._failed(f"the kernel died: {exc}", notebook) from exc
        except Exception as exc:
            raise self._failed(f"{type(exc).__name__}: {exc}", notebook) from exc
        finally:
            self._save(notebook, nbformat)
        return {"executed_path": str(self.target)}, self._tail(notebook)

    async def _run(self, client: Any) -> None:
        with self._lock:
            if self._stopping:
                raise asyncio.CancelledError
            self._loop, self._task = asyncio.get_running_loop(), asyncio.current_task()
        try:
            await client.async_execute(env=self.env)
        finally:
            await _stop_kernel(client)

    def _read(self, nbformat: Any) -> Any:
        try:
            return nbformat.read(self.source, as_version=4)
        except FileNotFoundError as exc:
            raise PhaseFailed(f"notebook {str(self.source)!r} not found") from exc
        except Exception as exc:
            raise PhaseFailed(
                f"cannot read notebook {str(self.source)!r}:"
                f" {type(exc).__name__}: {exc}"
            ) from exc

    def _save(self, notebook: Any, nbformat: Any) -> None:
        self.target.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(notebook, self.target)

    def _tail(self, notebook: Any) -> str:
        streams = (
            output.get("text", "")
            for cell in notebook.cells
            for output in cell.get("outputs", ())
            if output.get("output_type") == "stream"
        )
        raw = "".join(streams).encode("utf-8")[-OUTPUT_TAIL_BYTES:]
        text = raw.decode("utf-8", errors="replace")
        if text and not text.endswith("\n"):
            text += "\n"
        return f"{text}executed notebook: {self.target}\n"

    def _failed(self, message: str, notebook: Any) -> PhaseFailed:
        return PhaseFailed(
            f"notebook {self.source.name!r}: {message} (executed copy: {self.target})",
            self._tail(notebook),
            {"executed_path": str(self.target)},
        )


async def _stop_kernel(client: Any) -> None:
    """Make sure the kernel of `client` is gone, whatever nbclient did before."""
    atexit.unregister(client._cleanup_kernel)
    km, kc = client.km, client.kc
    if kc is not None:
        with contextlib.suppress(Exception):
            await _maybe_await(kc.stop_channels())
    if km is not None and km.has_kernel:
        with contextlib.suppress(Exception):
            await _maybe_await(km.shutdown_kernel(now=True))
    if km is not None:
        with contextlib.suppress(Exception):
            await _maybe_await(km.cleanup_resources())
    client.km = client.kc = None


async def _maybe_await(value: Any) -> Any:
    # jupyter_client has blocking and asyncio managers behind one interface.
    return await value if inspect.isawaitable(value) else value


def _import_nbclient() -> tuple[Any, Any]:
    try:
        import nbclient
        import nbclient.exceptions
        import nbformat
    except ImportError as exc:
        raise PhaseFailed(
            "notebook phases need nbclient, nbformat and ipykernel:"
            " pip install nbclient nbformat ipykernel"
        ) from exc
    return nbclient, nbformat


def _inject_parameters(notebook: Any, values: dict[str, Any], nbformat: Any) -> int:
    """Add a cell assigning `values`; return its index.

    It goes right after the first cell tagged `parameters` (the papermill
    convention), so it overrides that cell's defaults, else at the top.
    """
    lines = ["# Parameters injected by DAG Studio"]
    for name, value in values.items():
        if (
            not isinstance(name, str)
            or not name.isidentifier()
            or keyword.iskeyword(name)
        ):
            raise PhaseFailed(
                f"parameter {name!r} cannot be a notebook variable: it is not"
                " a Python identifier"
            )
        lines.append(f"{name} = {_python_literal(value)}")
    cell = nbformat.v4.new_code_cell("\n".join(lines))
    cell.metadata["tags"] = ["injected-parameters"]
    index = 0
    for position, existing in enumerate(notebook.cells):
        if "parameters" in existing.get("metadata", {}).get("tags", ()):
            index = position + 1
            break
    notebook.cells.insert(index, cell)
    return index


def _python_literal(value: Any) -> str:
    """Python source that evaluates to the JSON form of `value`.

    A plain literal where one reads back equal; otherwise (NaN, infinities)
    a `json.loads` of the JSON text, which holds any JSON value.
    """
    try:
        text = json.dumps(value, default=str)
    except (TypeError, ValueError, RecursionError) as exc:
        raise PhaseFailed(f"parameter value {value!r:.80} is not JSON: {exc}") from exc
    plain = json.loads(text)
    literal = repr(plain)
    try:
        if ast.literal_eval(literal) == plain:
            return literal
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        pass
    return f"__import__('json').loads({text!r})"


def _failing_cell(notebook: Any, injected_at: int) -> str:
    for index, cell in enumerate(notebook.cells):
        if any(o.get("output_type") == "error" for o in cell.get("outputs", ())):
            if index == injected_at:
                return "of injected parameters"
            return f"#{index + (index < injected_at)}"
    return "(unknown)"


def _file_part(phase_id: str) -> str:
    """A phase id made safe for a file name; a short hash keeps altered ids apart."""
    safe = re.sub(r"[^A-Za-z0-9_-]", "_", phase_id)[:80]
    if safe == phase_id:
        return safe
    return f"{safe}-{hashlib.sha256(phase_id.encode()).hexdigest()[:8]}"
