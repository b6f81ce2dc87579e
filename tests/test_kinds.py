"""Tests of the phase kinds: notebooks, scripts, shell lists and python refs."""

from __future__ import annotations

import ast
import asyncio
import contextlib
import itertools
import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Any

import nbformat
import pytest

from dagstudio_jupyter import Workflow
from dagstudio_jupyter._kinds import (
    KERNEL_STOP_WAIT_S,
    NOTEBOOK_RUNS_DIR,
    _python_literal,
)
from dagstudio_jupyter.runner import Runner


def _notebook(path: Path, *cells: str | tuple[str, list[str]]) -> Path:
    """Write a python3 notebook of code cells; a (source, tags) pair tags one."""
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    for cell in cells:
        source, tags = cell if isinstance(cell, tuple) else (cell, [])
        code = nbformat.v4.new_code_cell(source)
        if tags:
            code.metadata["tags"] = tags
        notebook.cells.append(code)
    nbformat.write(notebook, path)
    return path


def _run(wf: Workflow, **options: Any) -> tuple[Runner, list[dict[str, Any]]]:
    events: list[dict[str, Any]] = []
    runner = Runner(wf, emit=events.append, retry_backoff_s=0.01, **options)
    asyncio.run(runner.run())
    return runner, events


def _last(events: list[dict[str, Any]], phase_id: str, status: str) -> dict[str, Any]:
    found = [e for e in events if e["phase_id"] == phase_id and e["status"] == status]
    assert found, f"no {status!r} event for {phase_id!r} in {events}"
    return found[-1]


def _stream_text(cell: Any) -> str:
    return "".join(
        out.get("text", "") for out in cell.outputs if out["output_type"] == "stream"
    )


def _kernel_children() -> set[int]:
    """Pids of this process's children that run an IPython kernel."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        state, ppid = fields[0], int(fields[1])
        if ppid == os.getpid() and state != "Z" and b"ipykernel" in cmdline:
            found.add(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


TRICKY_PARAMS: dict[str, Any] = {
    "count": 3,
    "ratio": 0.25,
    "label": "it's \"quoted\"\nand 'multi' line \\ with ünïcode ✓",
    "nested": {"a": [1, None, True, False, {"b": []}], "": "empty key"},
    "big": 2**70,
    "nothing": None,
    "missing": float("nan"),
    "huge": float("inf"),
}


@pytest.mark.parametrize(
    "value",
    [
        *TRICKY_PARAMS.values(),
        "'''\"\"\"",
        "\x00\u2028",
        [],
        {},
        -0.0,
        1e308,
        [float("-inf"), {"x": [float("nan")]}],
    ],
)
def test_python_literal_reads_back_as_the_json_value(value: Any) -> None:
    expected = json.loads(json.dumps(value))
    literal = _python_literal(value)

    result = eval(literal, {"__builtins__": __builtins__})

    assert json.dumps(result) == json.dumps(expected)
    if "__import__" not in literal:
        assert ast.literal_eval(literal) == expected


def test_notebook_phase_gets_params_and_idempotency_values(tmp_path: Path) -> None:
    source = _notebook(
        tmp_path / "report.ipynb",
        "import json, os\n"
        "print(json.dumps({'count': count, 'ratio': ratio, 'label': label,"
        " 'nested': nested, 'big': big, 'nothing': nothing, 'missing': missing,"
        " 'huge': huge, 'key': idempotency_key, 'attempt': attempt,"
        " 'env_key': os.environ['DAGSTUDIO_IDEMPOTENCY_KEY'],"
        " 'env_attempt': os.environ['DAGSTUDIO_ATTEMPT'], 'cwd': os.getcwd()}))",
    )
    wf = Workflow("w")
    wf.add("nb", kind="notebook", path=str(source), params=TRICKY_PARAMS)
    ticks: list[float] = []

    async def main() -> Runner:
        runner = Runner(wf, emit=events.append)
        task = asyncio.ensure_future(runner.run())
        while not task.done():  # the loop must stay free while the kernel works
            ticks.append(time.monotonic())
            await asyncio.sleep(0.02)
        await task
        return runner

    events: list[dict[str, Any]] = []
    runner = asyncio.run(main())

    assert runner.state.phases["nb"]["status"] == "completed", runner.state.phases
    runs = tmp_path / NOTEBOOK_RUNS_DIR
    expected = runs / f"report.{runner.execution_id}.nb.1.ipynb"
    assert runner.results["nb"] == {"executed_path": str(expected)}
    executed = nbformat.read(expected, as_version=4)
    assert executed.cells[0].metadata["tags"] == ["injected-parameters"]
    seen = json.loads(_stream_text(executed.cells[1]))
    assert math.isnan(seen.pop("missing"))
    assert seen == {
        **{k: v for k, v in TRICKY_PARAMS.items() if k != "missing"},
        "key": f"{runner.execution_id}:nb",
        "attempt": 1,
        "env_key": f"{runner.execution_id}:nb",
        "env_attempt": "1",
        "cwd": str(tmp_path),
    }
    output = _last(events, "nb", "completed")["output"]
    assert '"attempt": 1' in output and output.endswith(f"{expected}\n")
    assert max(b - a for a, b in itertools.pairwise(ticks)) < 0.5
    assert nbformat.read(source, as_version=4).cells[0].outputs == []


def test_notebook_phase_puts_params_after_the_tagged_parameters_cell(
    tmp_path: Path,
) -> None:
    source = _notebook(
        tmp_path / "tagged.ipynb",
        "print('first cell runs before the parameters')",
        ("count = 1\nlabel = 'default'", ["parameters"]),
        "print(count, label, attempt)",
    )
    wf = Workflow("w")
    wf.add("nb", kind="notebook", path=str(source), params={"count": 5})

    runner, _ = _run(wf)

    executed = nbformat.read(runner.results["nb"]["executed_path"], as_version=4)
    assert [c.metadata.get("tags", []) for c in executed.cells] == [
        [],
        ["parameters"],
        ["injected-parameters"],
        [],
    ]
    assert _stream_text(executed.cells[3]) == "5 default 1\n"


def test_notebook_phase_fails_on_a_cell_error_and_keeps_the_copy(
    tmp_path: Path,
) -> None:
    source = _notebook(
        tmp_path / "broken.ipynb",
        "print('before the error')",
        "raise ValueError('bad value 42')",
        "print('never printed')",
    )
    wf = Workflow("w")
    wf.add("nb", kind="notebook", path=str(source))
    wf.add("after", kind="noop", after=["nb"])

    runner, events = _run(wf)

    phase = runner.state.phases["nb"]
    copy = tmp_path / NOTEBOOK_RUNS_DIR / f"broken.{runner.execution_id}.nb.1.ipynb"
    assert phase["status"] == "failed"
    assert "'broken.ipynb': cell #2 raised ValueError: bad value 42" in phase["error"]
    assert str(copy) in phase["error"]
    assert runner.state.phases["after"]["status"] == "skipped"
    failed = _last(events, "nb", "failed")
    assert "before the error" in failed["output"]
    executed = nbformat.read(copy, as_version=4)
    assert executed.cells[2].outputs[0]["ename"] == "ValueError"
    assert executed.cells[3].outputs == []


def test_notebook_phase_fails_clearly_when_the_kernel_dies(tmp_path: Path) -> None:
    source = _notebook(tmp_path / "dies.ipynb", "import os\nos._exit(3)")
    wf = Workflow("w")
    wf.add("nb", kind="notebook", path=str(source), timeout_s=60)

    runner, _ = _run(wf)

    error = runner.state.phases["nb"]["error"]
    assert error.startswith("notebook 'dies.ipynb': the kernel died"), error


@pytest.mark.parametrize(
    ("kernel", "expected"),
    [
        (None, "notebook '{path}' not found"),
        ("no-such-kernel", "'there.ipynb': NoSuchKernel: No such kernel named"),
    ],
)
def test_notebook_phase_names_a_missing_notebook_or_kernel(
    tmp_path: Path, kernel: str | None, expected: str
) -> None:
    path = tmp_path / "there.ipynb"
    if kernel is not None:
        _notebook(path, "pass")
        notebook = nbformat.read(path, as_version=4)
        notebook.metadata["kernelspec"]["name"] = kernel
        nbformat.write(notebook, path)
    wf = Workflow("w")
    wf.add("nb", kind="notebook", path=str(path))

    runner, _ = _run(wf)

    error = runner.state.phases["nb"]["error"]
    assert expected.format(path=path) in error, error


def test_notebook_phase_refuses_a_param_that_is_no_python_name(tmp_path: Path) -> None:
    source = _notebook(tmp_path / "n.ipynb", "pass")
    wf = Workflow("w")
    wf.add("nb", kind="notebook", path=str(source), params={"not-a-name": 1})

    runner, _ = _run(wf)

    error = runner.state.phases["nb"]["error"]
    assert "parameter 'not-a-name'" in error and "identifier" in error


def test_notebook_phase_timeout_shuts_the_kernel_down(tmp_path: Path) -> None:
    before = _kernel_children()
    pid_file = tmp_path / "kernel.pid"
    source = _notebook(
        tmp_path / "slow.ipynb",
        "import os, pathlib, time\n"
        "pathlib.Path(pid_file).write_text(str(os.getpid()))\n"
        "time.sleep(120)",
    )
    wf = Workflow("w")
    wf.add(
        "nb",
        kind="notebook",
        path=str(source),
        params={"pid_file": str(pid_file)},
        timeout_s=6,
    )
    started = time.monotonic()

    runner, _ = _run(wf)

    elapsed = time.monotonic() - started
    assert runner.state.phases["nb"]["status"] == "failed"
    assert runner.state.phases["nb"]["error"] == "timed out after 6 s"
    assert elapsed < 6 + KERNEL_STOP_WAIT_S
    kernel_pid = int(pid_file.read_text())
    assert not _alive(kernel_pid), f"kernel {kernel_pid} still runs"
    assert _kernel_children() <= before
    copy = tmp_path / NOTEBOOK_RUNS_DIR / f"slow.{runner.execution_id}.nb.1.ipynb"
    assert copy.exists()


def test_script_and_shell_list_phases_get_the_idempotency_env(tmp_path: Path) -> None:
    script = tmp_path / "probe.py"
    show = (
        "print(*(os.environ[f'DAGSTUDIO_{n}'] for n in ('IDEMPOTENCY_KEY', 'ATTEMPT')))"
    )
    script.write_text(f"import os\n{show}\n")
    flaky = (
        f"import os, sys\n{show}\n"
        "sys.exit(0 if os.environ['DAGSTUDIO_ATTEMPT'] == '2' else 3)"
    )
    wf = Workflow("w")
    wf.add("script", kind="script", path=str(script))
    wf.add("listed", kind="shell", command=[sys.executable, "-c", flaky], retries=1)

    runner, events = _run(wf)

    key = runner.execution_id
    assert _last(events, "script", "completed")["output"] == f"{key}:script 1\n"
    retry = _last(events, "listed", "queued")
    assert retry["reason"] == "retry" and retry["output"] == f"{key}:listed 1\n"
    assert _last(events, "listed", "completed")["output"] == f"{key}:listed 2\n"
    assert runner.state.phases["listed"]["attempt"] == 2


@pytest.fixture
def dagstudio_probe_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """An importable `kindprobe.tasks` module under tmp_path; returns its ref."""
    package = tmp_path / "modules" / "kindprobe"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "tasks.py").write_text(
        "def record(idempotency_key, attempt, count):\n"
        "    return {'key': idempotency_key, 'attempt': attempt, 'count': count}\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path / "modules"))
    for name in ("kindprobe", "kindprobe.tasks"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    return "kindprobe.tasks:record"


def test_python_ref_phase_gets_idempotency_kwargs(dagstudio_probe_module: str) -> None:
    wf = Workflow("w")
    wf.add("ref", ref=dagstudio_probe_module, params={"count": 7})

    runner, _ = _run(wf)

    assert runner.results["ref"] == {
        "key": f"{runner.execution_id}:ref",
        "attempt": 1,
        "count": 7,
    }


def test_shell_timeout_ends_the_phase_though_an_escaped_child_holds_its_output(
    tmp_path: Path,
) -> None:
    # The child leaves the phase's process group (setsid) and keeps the
    # output pipe open; the timeout must still end the phase.
    pid_file = tmp_path / "escaped.pid"
    escaped = f"setsid sh -c 'echo $$ > \"{pid_file}\"; exec sleep 60' &"
    wf = Workflow("escape")
    wf.add("a", command=f"{escaped} sleep 600", timeout_s=1)
    run = wf.start()
    try:
        run.wait(30)
        assert run.done, "the phase did not end after its timeout"
        assert run.phases["a"]["status"] == "failed"
        assert run.phases["a"]["error"] == "timed out after 1 s"
    finally:
        run.cancel()
        run.wait(30)
        if pid_file.exists():
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(pid_file.read_text()), 9)
