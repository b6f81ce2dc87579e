"""Render speed of the DagWidget against a peer renderer, in headless chromium.

Lays out and draws layered random DAGs (and the largest real graph in
../shared/data/dags/, when present) with DAG Studio's built bundle and with
a peer (dagre + plain SVG; ELK too when elkjs is installed), timing in the
page: first paint, one frame of status updates, and memory after the first
paint. Prints a table; see benchmarks/README.md.

    npm run build
    .venv/bin/python benchmarks/render.py            # 1,000 / 5,000 / 10,000
    .venv/bin/python benchmarks/render.py --quick    # 200 / 1,000
"""

from __future__ import annotations

import argparse
import functools
import http.server
import itertools
import json
import math
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Page

ROOT = Path(__file__).resolve().parent.parent
HARNESS = Path(__file__).resolve().parent / "render"
BUNDLE = ROOT / "dagstudio_jupyter" / "static"
ESBUILD = ROOT / "node_modules" / ".bin" / "esbuild"
REAL_GRAPH = ROOT.parent / "shared/data/dags/kedro-viz/large-dataset.json"
DEFAULT_SIZES = (1000, 5000, 10000)
QUICK_SIZES = (200, 1000)
EDGES_PER_PHASE = 1.3
# How many layers ahead a fan-out phase's children lie.
FAN_OUT_LAYERS = 5
# Share of phases past the first layer that read no other phase.
NEW_SOURCES = 0.25
UPDATE_FRACTION = 0.05
RESULT_PREFIX = "[bench] "
# Precise heap figures, a `gc()` the harness may call before measuring, and
# a memory measurement that does not wait for the next natural collection.
BENCH_ARGS = [
    "--enable-precise-memory-info",
    "--js-flags=--expose-gc",
    "--enable-blink-features=ForceEagerMeasureMemory",
]
METRICS = (
    ("paint", "first paint (ms)"),
    ("update", "status update to next frame (ms)"),
    ("update_main", "status update main thread (ms)"),
    ("memory", "memory after first paint (MB)"),
)
VERBS = ("load", "clean", "join", "score", "train", "export", "check", "merge")
NOUNS = ("orders", "customers", "events", "features", "metrics", "invoices")


class HarnessError(RuntimeError):
    """The benchmark itself failed, as opposed to a slow or failing renderer."""


@dataclass
class Renderer:
    """A renderer under test: its name and how the harness page drives it."""

    name: str
    spec: dict[str, str]


@dataclass
class Outcome:
    """The rounds of one metric for one renderer on one graph."""

    values: list[float] = field(default_factory=list)
    failure: str | None = None

    def median(self) -> float | None:
        return statistics.median(self.values) if self.values else None

    def cell(self) -> str:
        value = self.median()
        if value is None:
            return self.failure or "not measured"
        text = f"{value:.1f}" if abs(value) < 100 else f"{value:.0f}"
        return f"{text} (n={len(self.values)})"


OURS = Renderer(
    "ours",
    {
        "module": "/static/widget.js",
        "canvas": ".dagstudio-canvas",
        # Fallback for a bundle that does not mark its canvas yet.
        "nodes": "g.dagstudio-node",
        "empty": ".dagstudio-empty",
    },
)
PEER_PACKAGES = {"dagre": "@dagrejs/dagre", "elk": "elkjs"}
PEER_LAYOUTS = {
    "dagre": "longest-path ranker",
    "elk": "layered algorithm",
}
PEERS = {
    "dagre": Renderer("dagre", {"module": "/peer-dagre.js", "canvas": ".peer-canvas"}),
    "elk": Renderer("elk", {"module": "/peer-elk.js", "canvas": ".peer-canvas"}),
}


def generate_dag(count: int, seed: int = 1) -> dict[str, Any]:
    """Return a layered random DAG of `count` phases as a workflow document.

    About 1.3 edges a phase: most phases past the first layer wait for one
    phase of an earlier layer (mostly the previous one), a few fan-out
    phases feed 8 to 24 phases of the next few layers, and random edges of
    one to three layers make up the rest. Like the branches of a real
    pipeline, a phase's inputs sit near its own place in their layer, and
    all but a few phases before the last layer have a dependent.
    """
    rng = random.Random(f"dagstudio-bench:{seed}:{count}")
    layer_count = max(2, min(count, round(math.sqrt(count) * 1.2)))
    bounds = [0, *sorted(rng.sample(range(1, count), layer_count - 1)), count]
    layer_of = [0] * count
    for layer, (low, high) in enumerate(itertools.pairwise(bounds)):
        layer_of[low:high] = [layer] * (high - low)
    parents: list[set[int]] = [set() for _ in range(count)]

    def place(node: int) -> float:
        """Where a phase sits in its layer, from 0 to 1."""
        low, high = bounds[layer_of[node]], bounds[layer_of[node] + 1]
        return (node - low + 0.5) / (high - low)

    def pick(layer: int, near: float, spread: float = 0.08) -> int:
        low, high = bounds[layer], bounds[layer + 1]
        at = low + math.floor((near + rng.gauss(0, spread)) * (high - low))
        return min(high - 1, max(low, at))

    for node in range(bounds[1], count):
        layer = layer_of[node]
        if rng.random() < NEW_SOURCES:
            continue
        back = 1 if rng.random() < 0.8 else rng.randint(1, min(4, layer))
        parents[node].add(pick(layer - back, place(node)))
    # Most outputs are read by a later phase; phases that nobody reads are
    # rare except in the last layer (and pull long edges in the layout).
    has_child = [False] * count
    for node in range(count):
        for parent in parents[node]:
            has_child[parent] = True
    for node in range(bounds[-2]):
        if not has_child[node] and rng.random() < 0.99:
            parents[pick(layer_of[node] + 1, place(node))].add(node)
    target = round(count * EDGES_PER_PHASE)
    edges = sum(len(p) for p in parents)
    for _ in range(max(1, count // 500)):
        hub = rng.randrange(0, bounds[-2])
        for _ in range(rng.randint(8, 24)):
            ahead = rng.randint(1, min(FAN_OUT_LAYERS, layer_count - 1 - layer_of[hub]))
            child = pick(layer_of[hub] + ahead, place(hub), spread=0.15)
            if edges < target and hub not in parents[child]:
                parents[child].add(hub)
                edges += 1
    for _ in range(count * 10):
        if edges >= target:
            break
        child = rng.randrange(bounds[1], count)
        layer = layer_of[child]
        parent = pick(layer - rng.randint(1, min(3, layer)), place(child))
        if parent not in parents[child]:
            parents[child].add(parent)
            edges += 1
    ids = [f"p{node:05d}" for node in range(count)]
    phases = []
    for node in range(count):
        label = f"{rng.choice(VERBS)}_{rng.choice(NOUNS)}_{node}"
        if rng.random() < 0.1:
            label += f"_by_{rng.choice(NOUNS)}_for_the_daily_report"
        after = [ids[p] for p in sorted(parents[node])]
        phases.append({"id": ids[node], "label": label, "kind": "noop", "after": after})
    return {
        "format": "dagstudio.workflow/1",
        "id": f"random-{count}",
        "name": f"Random DAG of {count} phases",
        "phases": phases,
    }


def edge_count(workflow: dict[str, Any]) -> int:
    return sum(len(phase.get("after", [])) for phase in workflow["phases"])


def load_real_graph() -> tuple[dict[str, Any] | None, str | None]:
    """Return the kedro-viz sample graph, or None and why it is missing."""
    if not REAL_GRAPH.exists():
        return None, f"real graph skipped: {REAL_GRAPH} is absent"
    sys.path.insert(0, str(ROOT))
    from dagstudio_jupyter.importers import load_graph

    workflow = load_graph(REAL_GRAPH).to_dict()
    workflow["id"] = "kedro-viz-large"
    return workflow, None


def bundle_peer(entry: Path, out: Path) -> None:
    """Bundle a peer renderer for the page with esbuild."""
    command = [
        str(ESBUILD),
        str(entry),
        "--bundle",
        "--format=esm",
        "--minify",
        "--target=es2022",
        f"--outfile={out}",
        "--log-level=warning",
    ]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        raise HarnessError(f"esbuild failed on {entry.name}:\n{done.stderr}")


def find_package(name: str) -> Path | None:
    """Where an npm package is installed: node_modules, or a NODE_PATH folder."""
    folders = [ROOT / "node_modules"]
    folders += [Path(p) for p in os.getenv("NODE_PATH", "").split(os.pathsep) if p]
    for folder in folders:
        if (folder / name / "package.json").exists():
            return folder / name
    return None


def prepare_site(
    site: Path, graphs: list[dict[str, Any]], peers: list[str]
) -> tuple[list[Renderer], list[str]]:
    """Lay out the served files: harness, bundle, peers, graphs."""
    notes = []
    for name in ("harness.html", "harness.js"):
        shutil.copy(HARNESS / name, site / name)
    shutil.copytree(BUNDLE, site / "static")
    (site / "graphs").mkdir()
    for workflow in graphs:
        (site / "graphs" / f"{workflow['id']}.json").write_text(json.dumps(workflow))
    renderers = [OURS]
    for name in peers:
        if find_package(PEER_PACKAGES[name]) is None:
            notes.append(
                f"{name} skipped: {PEER_PACKAGES[name]} is not installed "
                f"(npm install --no-save {PEER_PACKAGES[name]})"
            )
            continue
        bundle_peer(HARNESS / f"peer-{name}.js", site / f"peer-{name}.js")
        renderers.append(PEERS[name])
    return renderers, notes


class _Handler(http.server.SimpleHTTPRequestHandler):
    """Static files, cross-origin isolated so the page may measure its workers."""

    def end_headers(self) -> None:
        self.send_header("Cross-Origin-Opener-Policy", "same-origin")
        self.send_header("Cross-Origin-Embedder-Policy", "require-corp")
        self.send_header("Cache-Control", "no-store")
        super().end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def serve(directory: Path) -> Iterator[str]:
    """Serve `directory` on 127.0.0.1 at an ephemeral port; yield its URL."""
    handler = functools.partial(_Handler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@contextmanager
def open_browser() -> Iterator[tuple[BrowserContext, str]]:
    """Debian's chromium, allowed to reach 127.0.0.1 only."""
    sys.path.insert(0, str(ROOT))
    from playwright.sync_api import sync_playwright

    # The same flags and loopback rule as the browser tests.
    from tests._lab import CHROMIUM, CHROMIUM_ARGS, only_loopback_sync

    if shutil.which(CHROMIUM) is None:
        raise HarnessError(f"{CHROMIUM} is missing; `make install` installs it")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, *BENCH_ARGS]
        )
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            context.route("**/*", only_loopback_sync)
            yield context, browser.version
        finally:
            browser.close()


class DidNotFinish(Exception):
    """A renderer timed out or failed on a graph."""


def run_in_page(page: Page, kind: str, config: dict[str, Any], timeout: float) -> Any:
    """Start one harness measurement and return its result."""
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        with page.expect_event(
            "console",
            predicate=lambda message: message.text.startswith(RESULT_PREFIX),
            timeout=timeout * 1000,
        ) as event:
            page.evaluate(f"config => {{ window.bench.{kind}(config); }}", config)
    except PlaywrightTimeout:
        raise DidNotFinish(f"did not finish in {timeout:g} s") from None
    except PlaywrightError as exc:
        # A renderer can take the tab down (out of memory on a huge graph).
        if "crash" in str(exc).lower():
            raise DidNotFinish("did not finish: the page crashed") from None
        raise
    result = json.loads(event.value.text.removeprefix(RESULT_PREFIX))
    if result["ok"]:
        return result
    if result["stage"] == "render":
        first_line = result["error"].splitlines()[0][:60]
        raise DidNotFinish(f"did not finish: {first_line}")
    raise HarnessError(f"harness failed in {kind}: {result['error']}")


def open_harness(context: BrowserContext, base_url: str) -> Page:
    page = context.new_page()
    page.on("pageerror", lambda error: print(f"  page error: {error}", file=sys.stderr))
    page.goto(f"{base_url}/harness.html")
    try:
        page.wait_for_function("() => 'bench' in window", timeout=30_000)
    except Exception as exc:
        page.close()
        raise HarnessError("the harness page did not load") from exc
    return page


def measure(
    context: BrowserContext,
    base_url: str,
    workflow: dict[str, Any],
    renderer: Renderer,
    args: argparse.Namespace,
    seen: dict[str, set[str]],
) -> dict[str, Outcome]:
    """First paints on fresh pages, then status updates on the last one."""
    outcomes = {key: Outcome() for key, _ in METRICS}
    config = {
        "renderer": renderer.spec,
        "graph": f"/graphs/{workflow['id']}.json",
        "height": 600,
    }
    for paint_round in range(args.paint_rounds):
        print(
            f"  {workflow['id']}: {renderer.name}, paint {paint_round + 1}",
            file=sys.stderr,
        )
        page = open_harness(context, base_url)
        try:
            result = run_in_page(page, "paint", config, args.timeout)
            outcomes["paint"].values.append(result["firstPaint"])
            seen.setdefault(renderer.name, set()).add(f"drawn when: {result['via']}")
            if result["memory"] is not None:
                outcomes["memory"].values.append(result["memory"] / 1e6)
                seen[renderer.name].add(f"memory: {result['memoryVia']}")
            if paint_round == args.paint_rounds - 1 and args.rounds > 0:
                update = {
                    "rounds": args.rounds,
                    "fraction": UPDATE_FRACTION,
                    "seed": args.seed,
                }
                rounds = run_in_page(page, "updates", update, args.timeout)["rounds"]
                outcomes["update"].values = [r["toNextFrame"] for r in rounds]
                outcomes["update_main"].values = [r["mainThread"] for r in rounds]
                frames = statistics.median_low([r["frames"] for r in rounds])
                seen[renderer.name].add(
                    f"status update shown in frame {frames} after the change"
                )
        except DidNotFinish as exc:
            for outcome in outcomes.values():
                outcome.failure = outcome.failure or str(exc)
            break
        finally:
            page.close()
    return outcomes


def format_row(cells: Sequence[str], widths: Sequence[int]) -> str:
    return "  ".join(
        cell.ljust(width) for cell, width in zip(cells, widths, strict=True)
    ).rstrip()


def ratio(peer: Outcome, ours: Outcome) -> str:
    theirs, mine = peer.median(), ours.median()
    if theirs is None or mine is None or mine <= 0:
        return "-"
    return f"{theirs / mine:.2f}"


def machine_lines(browser_version: str, renderers: Sequence[Renderer]) -> list[str]:
    """Describe the machine, the browser and what is compared."""
    memory = ""
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        kib = int(meminfo.read_text().split("MemTotal:")[1].split()[0])
        memory = f", {kib / 2**20:.1f} GiB"
    widget = BUNDLE / "widget.js"
    built = datetime.fromtimestamp(widget.stat().st_mtime).isoformat(timespec="minutes")
    lines = [
        f"machine: {os.cpu_count()} cores{memory}, {platform.platform()}, "
        f"Python {platform.python_version()}",
        f"browser: chromium {browser_version}, headless, --disable-gpu",
        f"ours: {widget.relative_to(ROOT)} ({widget.stat().st_size // 1000} kB, "
        f"built {built})",
    ]
    for renderer in renderers[1:]:
        package = PEER_PACKAGES[renderer.name]
        folder = find_package(package)
        manifest = json.loads((folder / "package.json").read_text()) if folder else {}
        version = manifest.get("version", "")
        how = PEER_LAYOUTS[renderer.name]
        lines.append(f"{renderer.name}: {package} {version}, {how}, drawn as SVG")
    return lines


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="sizes 200 and 1,000")
    parser.add_argument(
        "--sizes", help="comma-separated phase counts (default 1000,5000,10000)"
    )
    parser.add_argument(
        "--rounds", type=int, default=20, help="status update rounds (default 20)"
    )
    parser.add_argument(
        "--paint-rounds",
        type=int,
        default=3,
        help="first paints, each on a fresh page (default 3)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=120,
        help="seconds allowed for each measurement (default 120)",
    )
    parser.add_argument(
        "--peers", default="dagre,elk", help="peers to run (default dagre,elk)"
    )
    parser.add_argument(
        "--no-real-graph", action="store_true", help="skip the kedro-viz graph"
    )
    parser.add_argument("--seed", type=int, default=1, help="random seed")
    args = parser.parse_args(argv)
    try:
        sizes = (
            [int(size) for size in args.sizes.split(",")]
            if args.sizes
            else list(QUICK_SIZES if args.quick else DEFAULT_SIZES)
        )
    except ValueError:
        parser.error(f"--sizes takes numbers separated by commas, not {args.sizes!r}")
    if any(size < 2 for size in sizes):
        parser.error("each size must be at least 2 phases")
    peers = [name for name in args.peers.split(",") if name]
    unknown = set(peers) - set(PEERS)
    if unknown:
        parser.error(f"unknown peers {sorted(unknown)}; known: {sorted(PEERS)}")
    if args.paint_rounds < 1 or args.rounds < 0 or args.timeout <= 0:
        parser.error("--paint-rounds must be at least 1, --rounds at least 0")
    args.sizes, args.peers = sizes, peers
    return args


def table_rows(
    workflow: dict[str, Any], results: Sequence[dict[str, Outcome]]
) -> Iterator[list[str]]:
    """One row a metric: the graph, each renderer's median, each peer/ours."""
    ours = results[0]
    for key, label in METRICS:
        cells = [
            workflow["id"],
            str(len(workflow["phases"])),
            str(edge_count(workflow)),
            label,
        ]
        cells += [result[key].cell() for result in results]
        cells += [ratio(result[key], ours[key]) for result in results[1:]]
        yield cells


def run(args: argparse.Namespace) -> None:
    """Measure every graph with every renderer and print the table."""
    if not (BUNDLE / "widget.js").exists():
        raise HarnessError(f"{BUNDLE / 'widget.js'} is missing: run `npm run build`")
    graphs = [generate_dag(size, args.seed) for size in args.sizes]
    notes: list[str] = []
    if not args.no_real_graph:
        real, why = load_real_graph()
        graphs += [real] if real is not None else []
        notes += [why] if why else []
    seen: dict[str, set[str]] = {}
    with tempfile.TemporaryDirectory(prefix="dagstudio-bench-") as tmp:
        renderers, skipped = prepare_site(Path(tmp), graphs, args.peers)
        notes += skipped
        headers = ["graph", "phases", "edges", "metric"]
        headers += [r.name for r in renderers]
        headers += [f"{r.name}/ours" for r in renderers[1:]]
        widths = [16, 6, 6, 34] + [24] * len(renderers) + [10] * len(renderers[1:])
        with serve(Path(tmp)) as base_url, open_browser() as (context, version):
            print("\n".join(machine_lines(version, renderers)))
            print(
                f"rounds: first paint on {args.paint_rounds} fresh page(s); status "
                f"update {args.rounds} rounds, {UPDATE_FRACTION:.0%} of the phases "
                f"each; timeout {args.timeout:g} s per measurement\n"
            )
            print(format_row(headers, widths))
            for workflow in graphs:
                results = [
                    measure(context, base_url, workflow, renderer, args, seen)
                    for renderer in renderers
                ]
                for cells in table_rows(workflow, results):
                    print(format_row(cells, widths), flush=True)
    print("\nratio: peer / ours; above 1 means ours is faster (or smaller)")
    for name, facts in seen.items():
        print(f"{name}: {'; '.join(sorted(facts))}")
    for note in notes:
        print(f"note: {note}")


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        run(args)
    except HarnessError as exc:
        print(f"render benchmark failed: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
