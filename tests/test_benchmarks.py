"""The render benchmark: its graphs, and a tiny end-to-end run in chromium."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "benchmarks" / "render.py"
BUNDLE = ROOT / "dagstudio_jupyter" / "static" / "widget.js"
SIZES = (50, 200)
RENDERERS = ("ours", "dagre")
METRICS = ("first paint (ms)", "status update to next frame (ms)")
CELL = re.compile(r"^(-?\d+(\.\d+)? \(n=\d+\)|did not finish.*)$")


def load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("render_benchmark", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    # Dataclasses look their module up in sys.modules while being built.
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def children_of(workflow: dict[str, Any]) -> dict[str, int]:
    counts = {phase["id"]: 0 for phase in workflow["phases"]}
    for phase in workflow["phases"]:
        for parent in phase["after"]:
            counts[parent] += 1
    return counts


def test_generate_dag_is_seeded_acyclic_and_about_1_3_edges_a_phase() -> None:
    bench = load_script()

    first = bench.generate_dag(1000, seed=3)
    again = bench.generate_dag(1000, seed=3)
    other = bench.generate_dag(1000, seed=4)

    assert first == again
    assert first != other
    ids = [phase["id"] for phase in first["phases"]]
    assert len(set(ids)) == 1000
    position = {phase_id: index for index, phase_id in enumerate(ids)}
    # Every input comes earlier in the list, so there is no cycle.
    assert all(
        position[parent] < position[phase["id"]]
        for phase in first["phases"]
        for parent in phase["after"]
    )
    assert 1.2 <= bench.edge_count(first) / 1000 <= 1.45
    assert max(children_of(first).values()) >= 8


def split_row(line: str) -> list[str]:
    return re.split(r"\s{2,}", line.strip())


@pytest.mark.browser
def test_render_benchmark_prints_every_row_and_a_ratio() -> None:
    if not BUNDLE.exists():
        pytest.fail(f"{BUNDLE} is missing: run `npm run build` first")
    command = [
        sys.executable,
        str(SCRIPT),
        "--sizes",
        ",".join(map(str, SIZES)),
        "--rounds",
        "2",
        "--paint-rounds",
        "1",
        "--peers",
        "dagre",
        "--no-real-graph",
        "--timeout",
        "30",
    ]

    done = subprocess.run(command, capture_output=True, text=True, timeout=120)

    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    header = next(split_row(line) for line in lines if line.startswith("graph "))
    assert header[-3:] == [*RENDERERS, "dagre/ours"]
    rows = [split_row(line) for line in lines if line.startswith("random-")]
    ratios = []
    for size in SIZES:
        for metric in METRICS:
            row = next(r for r in rows if r[0] == f"random-{size}" and r[3] == metric)
            assert len(row) == len(header), row
            ours, dagre, ratio = row[-3:]
            assert CELL.match(ours), row
            assert CELL.match(dagre), row
            assert re.match(r"^(\d+\.\d\d|-)$", ratio), row
            ratios.append(ratio)
    assert any(ratio != "-" for ratio in ratios), done.stdout
    assert "chromium" in done.stdout


# -- the benchmarks against peers: their quick mode, so they cannot rot ------

PEER_SCRIPTS = ("scheduler", "store", "live", "recovery", "kernel")
REPORT_LINE = re.compile(
    r"^(?P<case>.+?) \| ours (?P<ours>-?[\d,.e+]+|n/a) (?P<unit>.+?)"
    r" \| (?P<peer>.+?) (?P<theirs>-?[\d,.e+]+|n/a) (?P=unit)"
    r" \| ratio (?P<ratio>[\d.e+-]+|n/a) \((lower|higher) is better\)$"
)


def number(text: str) -> float:
    return float(text.replace(",", ""))


@pytest.mark.timeout(300)
@pytest.mark.parametrize("name", PEER_SCRIPTS)
def test_benchmark_quick_mode_prints_ours_a_peer_and_their_ratio(name: str) -> None:
    script = ROOT / "benchmarks" / f"{name}.py"

    done = subprocess.run(
        [sys.executable, str(script), "--quick"],
        capture_output=True,
        text=True,
        timeout=280,
        cwd=ROOT,
    )

    assert done.returncode == 0, done.stderr[-3000:]
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    results = [line for line in lines if not line.startswith("#")]
    assert results, done.stdout
    for line in results:
        match = REPORT_LINE.match(line)
        assert match, line
        ours, theirs = number(match["ours"]), number(match["theirs"])
        assert ours > 0 and theirs > 0, line
        # The ratio printed is the ratio of the two figures printed.
        assert number(match["ratio"]) == pytest.approx(ours / theirs, rel=0.03), line
